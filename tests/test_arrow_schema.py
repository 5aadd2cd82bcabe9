"""The Arrow schema and `datasets.Features` derived from the pydantic record models, and the row codec.

Round trips (record -> Arrow row -> Parquet -> record) are checked on hand-built records of every table and on
hypothesis-generated consultations and problems; the schema of a table never depends on what its records fill.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import CaseCard, Consultation, ReasoningTrace, VerifiableProblem
from schemas.arrow import (
    LAYOUT_KEY,
    LAYOUT_VERSION,
    VersionError,
    arrow_schema,
    check_schema_version,
    check_version,
    decode_row,
    encode_record,
    features,
)
from schemas.common import Provenance, TeacherCall
from schemas.consultation import DDxItem, Evaluation, FinalDiagnosis, Termination, Turn
from schemas.problem import ScreenVerdict, SourceMCQ
from tests.test_publish import card, consultation, problem, trace

MODELS = (CaseCard, Consultation, VerifiableProblem, ReasoningTrace)


def roundtrip(records: list[Any], tmp_path: Any = None) -> list[Any]:
    model = type(records[0])
    schema = arrow_schema(model)
    table = pa.Table.from_pylist([encode_record(r) for r in records], schema=schema)
    if tmp_path is not None:
        pq.write_table(table, tmp_path / "t.parquet")
        table = pq.read_table(tmp_path / "t.parquet")
    assert table.schema.equals(schema, check_metadata=False)
    return [decode_row(model, row) for row in table.to_pylist()]


def test_nested_models_lists_and_optionals_map_to_structs_lists_and_nullables():
    schema = arrow_schema(Consultation)
    turn = schema.field("turns").type.value_type
    assert pa.types.is_struct(turn)
    assert {turn.field(n).name for n in range(turn.num_fields)} >= {
        "speaker",
        "act",
        "text",
        "reasoning",
        "ddx",
    }
    ddx = turn.field("ddx")
    item = pa.struct([pa.field("diagnosis", pa.string(), nullable=False),
                      pa.field("probability", pa.float64(), nullable=False)])  # fmt: skip
    assert ddx.nullable and ddx.type == pa.list_(item)
    assert turn.field("speaker").type == pa.string()  # a Literal is a string
    ev = schema.field("evaluation").type
    assert ev.field("correct").type == pa.bool_() and ev.field("correct").nullable
    assert not schema.field("case_id").nullable  # required, never null
    # dict[str, float] scores: key/value structs; a teacher call's free-form params: JSON text
    assert schema.field("scores").type == pa.list_(
        pa.struct([pa.field("key", pa.string(), nullable=False), ("value", pa.float64())])
    )
    call = schema.field("provenance").type.field("calls").type.value_type
    assert call.field("params").type == pa.string()
    assert schema.field("provenance").type.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.metadata[LAYOUT_KEY] == LAYOUT_VERSION.encode()


def test_one_schema_per_table_whatever_the_records_fill(tmp_path):
    full = consultation(card(0), True)
    bare = Consultation(case_id="c", turns=[Turn(index=0, speaker="patient", act="answer", text="hi")],
                        termination=Termination(reason="turn_limit", turn=0))  # fmt: skip
    schemas = set()
    for recs in ([full], [bare], [full, bare]):
        t = pa.Table.from_pylist([encode_record(r) for r in recs], schema=arrow_schema(Consultation))
        schemas.add(t.schema.to_string())
    assert len(schemas) == 1
    assert roundtrip([full, bare], tmp_path) == [full, bare]


@pytest.mark.parametrize("model", MODELS)
def test_every_record_type_has_features_that_match_its_schema(model):
    schema = arrow_schema(model)
    feats = features(schema)
    assert list(feats) == schema.names
    # `datasets` has no not-null flag: the same types, every field nullable
    assert [_nullable(f.type) for f in feats.arrow_schema] == [_nullable(f.type) for f in schema]


def _nullable(t: Any) -> Any:
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _nullable(f.type)) for f in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_nullable(t.value_type))
    return t


def test_every_table_round_trips_through_parquet(tmp_path):
    cd = card(3)
    p = problem(1)
    p = p.model_copy(update={
        "source": SourceMCQ(dataset="medqa", question="Q?", options={"A": "x", "B": "y"}, answer_idx="A", answer="x"),
        "screens": [ScreenVerdict(screen="rule", passed=True, details={"why": "ok"})],
        "scores": {"difficulty": 0.5},
    })  # fmt: skip
    c = consultation(cd, False, 2)
    c = c.model_copy(update={"evaluation": Evaluation(correct=False, snapshot_flags={"no_ddx": 2})})
    for recs in ([cd, card(4)], [c], [p], [trace(p)]):
        assert roundtrip(recs, tmp_path) == recs


def test_free_form_params_and_timestamps_round_trip():
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    call = TeacherCall(role="doctor", teacher="t", backend="openai", model="m",
                       params={"temperature": 0.7, "stop": ["\n"], "extra": {"n": 1, "x": None}})  # fmt: skip
    c = consultation(card(0), True).model_copy(
        update={
            "provenance": Provenance(engine_version="1", run_id="r", job="j", calls=[call], created_at=when)
        }
    )
    (back,) = roundtrip([c])
    assert back == c and back.provenance is not None
    assert back.provenance.created_at == when and back.provenance.calls[0].params == call.params


def test_a_type_with_no_mapping_is_refused():
    class Odd(BaseModel):
        x: complex

    with pytest.raises(TypeError, match="no Arrow mapping"):
        arrow_schema(Odd)


def test_unions_and_literals():
    class M(BaseModel):
        a: int | str
        b: Literal[1, 2]
        c: Literal["x", "y"] | None = None
        d: tuple[int, ...] = ()
        e: set[str] = set()

    schema = arrow_schema(M)
    assert schema.field("a").type == pa.string()  # several types: JSON text
    assert schema.field("b").type == pa.int64()
    m = M(a=3, b=2, c="y", d=(1, 2), e={"p"})
    table = pa.Table.from_pylist([encode_record(m)], schema=schema)
    assert decode_row(M, table.to_pylist()[0]) == m


def test_an_int_beyond_int64_is_refused_never_truncated():
    p = problem(0).model_copy(update={"source": SourceMCQ(dataset="d", question="q", options={}, answer_idx="A",
                                                          answer="a", line=2**63)})  # fmt: skip
    with pytest.raises(OverflowError):
        roundtrip([p])


def test_major_versions_are_refused_naming_both():
    check_schema_version("1.0")
    check_schema_version("1.9")  # a newer minor: fields added with defaults, still readable
    with pytest.raises(VersionError) as e:
        check_schema_version("2.0", "part-00000.parquet")
    assert "2.0" in str(e.value) and "1.1" in str(e.value) and "part-00000.parquet" in str(e.value)
    assert (e.value.found, e.value.supported) == ("2.0", "1.1")
    with pytest.raises(VersionError):
        check_version("shard layout", "garbage", LAYOUT_VERSION)


# -- hypothesis: generated records round-trip exactly ---------------------------------------------------

text = st.text(min_size=1, max_size=12)
prob = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
doctor_turn = st.builds(
    Turn,
    index=st.integers(0, 50),
    speaker=st.just("doctor"),
    act=st.sampled_from(["ask", "request_test", "final_diagnosis"]),
    text=st.text(max_size=20),
    reasoning=st.none() | st.text(max_size=20),
    ddx=st.none() | st.lists(st.builds(DDxItem, diagnosis=text, probability=prob), max_size=3),
    tests_requested=st.lists(text, max_size=2),
)
other_turn = st.builds(
    Turn,
    index=st.integers(0, 50),
    speaker=st.sampled_from(["patient", "examiner", "system"]),
    act=st.sampled_from(["result", "answer", "note"]),
    text=st.text(max_size=20),
    revealed_fact_ids=st.lists(text, max_size=2),
)
turns = st.lists(doctor_turn | other_turn, min_size=1, max_size=4)
consultations = st.builds(
    Consultation,
    case_id=text,
    turns=turns,
    termination=st.builds(Termination, reason=st.sampled_from(["final_diagnosis", "turn_limit"]),
                          turn=st.integers(0, 9)),
    final=st.none() | st.builds(FinalDiagnosis, diagnosis=text, confidence=prob, plan=st.none() | text),
    evaluation=st.builds(Evaluation, correct=st.none() | st.booleans(), key_fact_recall=st.none() | prob,
                         facts_elicited=st.dictionaries(text, st.integers(0, 9), max_size=3)),
    scores=st.dictionaries(text, st.floats(allow_nan=False, allow_infinity=False), max_size=3),
    persona=st.none() | text,
    provenance=st.none() | st.builds(
        Provenance, engine_version=text, run_id=text, job=text, seed=st.none() | st.integers(-(2**31), 2**31),
        created_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                timezones=st.just(UTC)).map(lambda d: d + timedelta(0)),
    ),
)  # fmt: skip
problems = st.builds(
    VerifiableProblem,
    question=text,
    ground_truth=text,
    aliases=st.lists(text, max_size=3),
    source=st.none() | st.builds(SourceMCQ, dataset=text, question=text, answer_idx=text, answer=text,
                                 options=st.dictionaries(text, text, max_size=4), line=st.none() | st.integers(0, 2**63 - 1)),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(consultations, min_size=1, max_size=3))
def test_generated_consultations_round_trip(recs):
    assert roundtrip(recs) == recs


@settings(max_examples=60, deadline=None)
@given(st.lists(problems, min_size=1, max_size=3))
def test_generated_problems_round_trip(recs):
    assert roundtrip(recs) == recs
