"""Importers of public case formats: the sample files, malformed lines, strict mode and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas.case import CaseCard
from synth.cases.cases_cli import cases_app, read_cards
from synth.cases.gates import gate_card
from synth.cases.importers import (
    CaseImportError,
    import_cases,
    opening_from_symptom,
    parse_age,
    parse_sex,
    split_sentences,
)
from tests.conftest import SAMPLES

AGENTCLINIC = SAMPLES / "agentclinic_osce_sample.jsonl"
IMEDQA = SAMPLES / "mediq_imedqa_sample.jsonl"
CRAFTMD = SAMPLES / "mediq_craftmd_sample.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _medqa_from_mediq(rec: dict) -> dict:
    """The MedQA shape inside a MediQ record: the vignette and the question as one text."""
    vignette = " ".join(s if s.rstrip().endswith((".", "?", "!")) else s + "." for s in rec["context"])
    return {
        "question": f"{vignette} {rec['question']}",
        "options": rec["options"],
        "answer_idx": rec["answer_idx"],
        "answer": rec["answer"],
        "meta_info": "step1",
    }


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def medqa_file(tmp_path: Path) -> Path:
    rows = [_medqa_from_mediq(r) for r in _lines(IMEDQA) + _lines(CRAFTMD)]
    return _write_jsonl(tmp_path / "medqa.jsonl", rows)


def test_agentclinic_sample_imports_three_cards() -> None:
    res = import_cases(AGENTCLINIC, "agentclinic")
    assert (res.read, res.written, res.skipped) == (3, 3, 0)
    mg = res.cards[0]
    assert mg.demographics.age_years == 35 and mg.demographics.sex == "female"
    assert mg.demographics.description == "35-year-old female"
    assert mg.opening_statement == "I've been having double vision."
    assert mg.answer.diagnosis == "Myasthenia gravis"
    assert mg.source.dataset == "agentclinic" and mg.source.source_id == "1" and mg.source.licence == "MIT"
    by_cat = {f.text: f.category for f in mg.facts}
    assert by_cat["Double vision."] == "chief_complaint"
    assert by_cat["Weakness in upper limbs."] == "history_present_illness"
    assert by_cat["No significant past medical history."] == "past_medical_history"
    assert sum(c == "history_present_illness" for c in by_cat.values()) == 3 + 2  # secondaries + sentences
    bp = next(f for f in mg.exam if f.name == "Blood Pressure")
    assert (bp.system, bp.result) == ("Vital Signs", "125/80 mmHg")
    assert any(t.name == "Imaging / Chest CT / Findings" for t in mg.tests)
    # Second case: a nested exam path, and a placeholder section is not a fact.
    pml = res.cards[1]
    assert any(f.name == "Limb Examination / Right Upper Limb Strength" for f in pml.exam)
    assert not any("not provided" in f.text for f in pml.facts)
    assert res.cards[2].demographics.age_years == pytest.approx(8 / 12, abs=0.01)
    assert res.cards[2].demographics.sex == "male"
    for card in res.cards:
        assert gate_card(card) == []


def test_ids_are_stable() -> None:
    a = [c.id for c in import_cases(AGENTCLINIC, "agentclinic").cards]
    b = [c.id for c in import_cases(AGENTCLINIC, "agentclinic").cards]
    assert a == b and len(set(a)) == 3


def test_mediq_imedqa_keeps_only_diagnostic_questions() -> None:
    res = import_cases(IMEDQA, "mediq")
    assert (res.read, res.written) == (3, 1)
    assert [(s.line, s.reason) for s in res.skips] == [
        (1, "not_a_diagnosis_question"),
        (3, "not_a_diagnosis_question"),
    ]
    assert res.bad_lines == 0
    card = res.cards[0]
    assert card.answer.diagnosis == "Cyclic vomiting syndrome"
    assert card.answer.correct_option == "A" and card.answer.options is not None
    assert card.facts[0].text == "A 5-year-old girl is brought to the emergency department by her mother."
    assert card.demographics.sex == "female" and card.demographics.age_years == 5
    assert card.specialty == "Pediatrics"
    assert card.source.source_id == "1" and card.source.licence == "CC-BY-4.0"
    everything = import_cases(IMEDQA, "mediq", allow_non_diagnostic=True)
    assert everything.written == 3


def test_mediq_craftmd_all_diagnostic() -> None:
    res = import_cases(CRAFTMD, "mediq")
    assert (res.read, res.written, res.skipped) == (3, 3, 0)
    assert res.cards[0].opening_statement.endswith("started 10 days ago.")
    assert [len(c.facts) for c in res.cards] == [19, 17, 10]


def test_medqa_shape_built_from_mediq(medqa_file: Path) -> None:
    res = import_cases(medqa_file, "medqa")
    assert (res.read, res.written) == (6, 4)
    assert {s.reason for s in res.skips} == {"not_a_diagnosis_question"}
    card = res.cards[0]
    assert card.source.dataset == "medqa" and card.source.licence is None and card.source.source_id == "2"
    assert len(card.facts) == 14  # one fact per vignette sentence, the question sentence left out
    assert card.answer.diagnosis == "Cyclic vomiting syndrome"
    assert card.demographics.age_years == 5 and card.demographics.sex == "female"
    assert import_cases(medqa_file, "medqa", allow_non_diagnostic=True).written == 6


def test_medqa_reads_json_list_and_parquet(tmp_path: Path, medqa_file: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _lines(medqa_file)
    (tmp_path / "medqa.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "medqa.parquet")
    expected = [c.id for c in import_cases(medqa_file, "medqa").cards]
    assert [c.id for c in import_cases(tmp_path / "medqa.json", "medqa").cards] == expected
    assert [c.id for c in import_cases(tmp_path / "medqa.parquet", "medqa").cards] == expected


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    good = _lines(CRAFTMD)[0]
    extra = {**good, "id": 7, "brand_new_field": {"x": 1}}
    no_question = {k: v for k, v in good.items() if k != "question"}
    wrong_type = {**good, "facts": "1. not a list"}
    bad_idx = {**good, "answer_idx": "F"}
    mismatch = {**good, "answer": "Syphilis"}
    leak = {**good, "facts": [*good["facts"], "20. Biopsy confirmed lymphogranuloma venereum."]}
    path = _write_jsonl(
        tmp_path / "mixed.jsonl",
        [good, "{not json", "", extra, no_question, wrong_type, "   ", bad_idx, mismatch, "[1, 2]", leak],
    )
    res = import_cases(path, "mediq")
    assert res.read == 9 and res.written == 2  # two blank lines ignored
    assert res.cards[1].source.source_id == "7"  # the unknown field is tolerated
    reasons = {s.line: s.reason for s in res.skips}
    assert reasons[2].startswith("invalid_json")
    assert reasons[5] == "missing_field: question"
    assert reasons[6].startswith("wrong_type: facts")
    assert reasons[8].startswith("bad_answer: answer_idx 'F'")
    assert reasons[9].startswith("answer_mismatch")
    assert reasons[10].startswith("wrong_type: record")
    assert reasons[11].startswith(
        "names_diagnosis: fact f20 names the diagnosis ('lymphogranuloma venereum')"
    )
    assert res.bad_lines == 6  # a gate's skip is a policy skip, not a bad line


def test_agentclinic_missing_sections(tmp_path: Path) -> None:
    minimal = {
        "OSCE_Examination": {
            "Patient_Actor": {"Symptoms": {"Primary_Symptom": "Cough"}},
            "Correct_Diagnosis": "Asthma",
            "Extra": 1,
        }
    }
    no_dx = {"OSCE_Examination": {"Patient_Actor": {}}}
    path = _write_jsonl(tmp_path / "ac.jsonl", [minimal, no_dx])
    res = import_cases(path, "agentclinic")
    assert res.written == 1 and res.cards[0].exam == [] and res.cards[0].tests == []
    assert res.cards[0].opening_statement == "I've been having cough."
    assert res.skips[0].line == 2 and res.skips[0].reason.startswith("missing_field: OSCE_Examination")


def test_strict_raises_naming_the_line(tmp_path: Path) -> None:
    good = _lines(CRAFTMD)[0]
    path = _write_jsonl(tmp_path / "bad.jsonl", [good, "", {**good, "options": ["A", "B"]}])
    with pytest.raises(CaseImportError) as e:
        import_cases(path, "mediq", strict=True)
    assert e.value.line == 3 and f"{path}:3: wrong_type: options" in str(e.value)
    # Policy skips are not errors, even in strict mode.
    assert import_cases(IMEDQA, "mediq", strict=True).written == 1


def test_text_helpers() -> None:
    assert parse_age("21 years old") == 21 and parse_age("2-week-old infant") == pytest.approx(0.04, abs=0.01)
    assert parse_age("for the past 6 weeks", need_old=True) is None
    assert parse_sex("A 5-year-old girl brought by her mother") == "female"
    assert parse_sex("M", single_letter=True) == "male" and parse_sex("a man") == "male"
    assert split_sentences("Seen by Dr. Smith. Temp 36.8°C. Which?") == [
        "Seen by Dr. Smith.",
        "Temp 36.8°C.",
        "Which?",
    ]
    assert opening_from_symptom("PML symptoms") == "I've been having PML symptoms."


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_cli_import_writes_cards(tmp_path: Path, output_format: str) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cases_app,
        ["import", str(IMEDQA), "--format", "mediq", "--out", str(out), "--output-format", output_format],
    )
    assert result.exit_code == 0, result.output
    assert "read 3, written 1, skipped 2" in result.output
    assert f"{IMEDQA}:3: skipped: not_a_diagnosis_question" in result.output
    cards = read_cards(out / f"cases.{output_format}")
    assert len(cards) == 1 and isinstance(cards[0], CaseCard)
    assert cards[0] == import_cases(IMEDQA, "mediq").cards[0]
    assert [p.name for p in out.iterdir()] == [f"cases.{output_format}"]  # no temp file left


def test_cli_strict_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", [_lines(AGENTCLINIC)[0], "{oops"])
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(
        cases_app, ["import", str(path), "--format", "agentclinic", "--out", str(out), "--strict"]
    )
    assert result.exit_code == 2
    assert f"{path}:2: invalid_json" in result.output
    assert not (out / "cases.jsonl").exists()
    lax = runner.invoke(
        cases_app,
        [
            "import",
            str(AGENTCLINIC),
            "--format",
            "agentclinic",
            "--out",
            str(out),
            "--strict",
            "--allow-non-diagnostic",
        ],
    )
    assert lax.exit_code == 0 and len(read_cards(out / "cases.jsonl")) == 3


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_casecard_format_reads_the_engines_own_cards_back(tmp_path: Path, output_format: str) -> None:
    """`synth cases import` output (and a published `cases` config's rows) is a case source as it is."""
    from synth.cases.cases_cli import write_cards

    cards = import_cases(AGENTCLINIC, "agentclinic").cards
    path = write_cards(cards, tmp_path / "cards", output_format)
    again = import_cases(path, "casecard")
    assert [c.id for c in again.cards] == [c.id for c in cards] and not again.skips
    bad = tmp_path / "bad.jsonl"
    bad.write_text(cards[0].model_dump_json() + "\n" + json.dumps({"id": "x", "nonsense": 1}) + "\n")
    result = import_cases(bad, "casecard")
    assert len(result.cards) == 1 and [s.line for s in result.skips] == [2]


def test_a_line_that_is_not_utf8_is_a_bad_line_and_the_rest_is_read(tmp_path):
    good = json.loads((SAMPLES / "mediq_imedqa_sample.jsonl").read_text().splitlines()[0])
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        json.dumps(good).encode() + b'\n{"question": "caf\xe9"}\n' + json.dumps(good).encode() + b"\n"
    )
    res = import_cases(path, "mediq")
    [skip] = [s for s in res.skips if s.line == 2]
    assert skip.line == 2 and skip.bad and skip.reason.startswith("invalid_utf8: byte 0xe9"), skip
    assert res.read == 3 and res.written + res.skipped == 3
    with pytest.raises(CaseImportError, match=r"mixed\.jsonl:2.*invalid_utf8"):
        import_cases(path, "mediq", strict=True)
