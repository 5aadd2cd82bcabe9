"""Run shards in the typed-column layout: one schema per table, polars filters on nested fields with predicate
pushdown, validated reads, refused unknown versions, and runs of the older JSON-column layout still read.

`write_legacy_shard` is the writer of the JSON-column layout as the engine had it (kept here, never in the
product) so the reader and `synth migrate` are tested on files exactly like an older run's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import CaseCard, Consultation
from schemas.arrow import LAYOUT_KEY, VersionError
from schemas.consultation import Evaluation
from synth.store.shards import (
    LegacyLayoutError,
    ShardWriter,
    iter_records,
    scan_table,
    shard_layout,
    shard_paths,
)
from tests.test_publish import card, consultation


def write_legacy_shard(root: Path, table: str, records: list[Any], seq: int = 0, tag: str = "old") -> Path:
    """A shard as the JSON-column layout wrote it: id, item_id, schema_version and the record as JSON."""
    schema = pa.schema([("id", pa.string()), ("item_id", pa.string()), ("schema_version", pa.string()),
                        ("record", pa.large_string())])  # fmt: skip
    rows = [(r.id, r.id, r.schema_version, r.model_dump_json()) for r in records]
    cols = list(zip(*rows, strict=True))
    table_ = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)],
                                  schema=schema)  # fmt: skip
    d = root / "data" / table
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"part-{seq:05d}-{tag}.parquet"
    pq.write_table(table_, path, compression="zstd")
    return path


def corpus_consultations(n: int = 6) -> list[Consultation]:
    out = []
    for i in range(n):
        c = consultation(card(i), correct=i % 2 == 0, k=i)
        if i == 5:  # one with no evaluation verdict and one fewer test request
            c = c.model_copy(update={"evaluation": Evaluation(), "turns": c.turns[:3]})
        out.append(c)
    return out


def write_typed(root: Path, table: str, records: list[Any], per_shard: int = 2) -> list[str]:
    w = ShardWriter(root, table, "run", 0, max_records=per_shard, max_bytes=2**30)
    names = []
    for r in records:
        w.add("job", r.id, [r])
        if w.full():
            names.append(w.write(w.take()[0])[0])
    if w.pending_items:
        names.append(w.write(w.take()[0])[0])
    return names


def test_shards_have_typed_columns_and_one_schema(tmp_path):
    recs = corpus_consultations()
    names = write_typed(tmp_path, "consultations", recs)
    assert len(names) == 3
    schemas = {pq.read_schema(p).to_string() for p in shard_paths(tmp_path, "consultations")}
    assert len(schemas) == 1  # the shard with an unset verdict and short turns has the same schema
    schema = pq.read_schema(shard_paths(tmp_path, "consultations")[0])
    assert schema.names[:3] == ["id", "item_id", "schema_version"] and "record" not in schema.names
    assert pa.types.is_list(schema.field("turns").type)
    assert all(shard_layout(p) == "2.0" for p in shard_paths(tmp_path, "consultations"))
    assert list(iter_records(tmp_path, "consultations", Consultation)) == recs


def test_polars_filters_nested_fields_with_predicate_pushdown(tmp_path):
    recs = corpus_consultations()
    write_typed(tmp_path, "consultations", recs)
    lf = pl.scan_parquet(str(tmp_path / "data" / "consultations" / "*.parquet"))
    asked_test = pl.col("turns").list.eval(pl.element().struct.field("act") == "request_test").list.any()
    q = lf.filter(pl.col("evaluation").struct.field("correct") & asked_test).select("id")
    plan = q.explain()
    scan = plan[plan.index("Parquet SCAN") :]
    assert "SELECTION" in scan and "correct" in scan  # the predicate is evaluated in the scan
    want = sorted(
        c.id for c in recs if c.evaluation.correct and any(t.act == "request_test" for t in c.turns)
    )
    assert sorted(q.collect()["id"].to_list()) == want and want
    # a turn's DDx snapshot: consultations whose doctor listed tb above 0.5 at some turn
    tb = (
        pl.col("turns")
        .list.eval(
            pl.element()
            .struct.field("ddx")
            .list.eval(
                (pl.element().struct.field("diagnosis") == "tb")
                & (pl.element().struct.field("probability") > 0.5)
            )
            .list.any()
        )
        .list.any()
    )
    assert lf.filter(tb).select(pl.len()).collect().item() == len(recs)


def test_the_writer_refuses_a_record_of_another_type(tmp_path):
    w = ShardWriter(tmp_path, "consultations", "run", 0, max_records=10, max_bytes=2**30)
    with pytest.raises(TypeError, match="CaseCard record in a table of Consultation"):
        w.add("job", "x", [card(0)])


def test_rows_given_as_json_text_are_validated_on_the_way_in(tmp_path):
    c = consultation(card(0), True)
    w = ShardWriter(tmp_path, "consultations", "run", 0, max_records=10, max_bytes=2**30)
    w.write([(c.id, c.id, c.schema_version, c.model_dump_json())])
    assert list(iter_records(tmp_path, "consultations", Consultation)) == [c]
    bad = c.model_dump(mode="json")
    bad["turns"] = []
    import json

    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        w.write([(c.id, c.id, c.schema_version, json.dumps(bad))])


def test_legacy_json_shards_still_read_and_mix_with_typed_ones(tmp_path):
    recs = corpus_consultations()
    write_legacy_shard(tmp_path, "consultations", recs[:3], seq=0)
    w = ShardWriter(tmp_path, "consultations", "new", 1, max_records=10, max_bytes=2**30)
    w.add("job", "i", recs[3:])
    w.write(w.take()[0])
    layouts = [shard_layout(p) for p in shard_paths(tmp_path, "consultations")]
    assert layouts == ["1.0", "2.0"]
    assert list(iter_records(tmp_path, "consultations", Consultation)) == recs
    with pytest.raises(LegacyLayoutError, match="synth migrate"):
        scan_table(tmp_path, "consultations")


def _rewrite_metadata(path: Path, **meta: str) -> None:
    t = pq.read_table(path)
    t = t.replace_schema_metadata({**(t.schema.metadata or {}), **{k.encode(): v for k, v in meta.items()}})
    pq.write_table(t, path)


def test_an_unknown_major_layout_or_schema_version_is_refused(tmp_path):
    cards = [card(0), card(1)]
    write_typed(tmp_path, "cases", cards, per_shard=10)
    (path,) = shard_paths(tmp_path, "cases")
    _rewrite_metadata(path, **{LAYOUT_KEY.decode(): "3.0"})
    with pytest.raises(VersionError, match=r"shard layout version 3\.0 .* reads shard layout 2\.0"):
        list(iter_records(tmp_path, "cases", CaseCard))
    _rewrite_metadata(path, **{LAYOUT_KEY.decode(): "2.4"})  # a newer minor layout reads
    assert list(iter_records(tmp_path, "cases", CaseCard)) == cards
    t = pq.read_table(path)
    i = t.schema.get_field_index("schema_version")
    pq.write_table(t.set_column(i, "schema_version", pa.array(["1.1", "2.0"])), path)
    with pytest.raises(VersionError, match=r"record schema version 2\.0 .* reads record schema 1\.1"):
        list(iter_records(tmp_path, "cases", CaseCard))
    os.remove(path)
    write_legacy_shard(tmp_path, "cases", [c.model_copy(update={"schema_version": "2.0"}) for c in cards])
    with pytest.raises(VersionError):  # the legacy layout is checked the same way
        list(iter_records(tmp_path, "cases", CaseCard))
