"""The shipped seed cases: enough of them, varied, internally consistent, anonymous; and the loader's errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from synth.cases.checks import normalise
from synth.cases.gates import GateProfile, gate_card
from synth.cases.seeds import load_seed_cases, seeds_dir

PHONE = re.compile(r"\+?\d[\d ()-]{7,}\d")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}")
TITLED_NAME = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+[A-Z][a-z]+")


@pytest.fixture(scope="module")
def cards():
    return load_seed_cases()


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_enough_varied_cases(cards):
    assert len(cards) >= 60, f"only {len(cards)} seed cases"
    specialties = {c.specialty for c in cards}
    assert len(specialties) >= 12, sorted(specialties)
    assert {c.prevalence for c in cards} >= {"common", "rare"}
    assert all(c.source.dataset == "seed" for c in cards)


def test_ids_and_diagnoses_unique(cards):
    ids = [c.id for c in cards]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    seen: dict[str, str] = {}
    for c in cards:
        dx = normalise(c.answer.diagnosis)
        assert dx not in seen, (
            f"{c.source.source_id} repeats the diagnosis of {seen[dx]}: {c.answer.diagnosis}"
        )
        seen[dx] = c.source.source_id or c.id


def test_every_card_is_consistent_and_complete(cards):
    for c in cards:
        where = c.source.source_id
        # Every gate, the synthesis prompt comparison included: a seed must pass what a synthesized card must.
        assert [str(p) for p in gate_card(c, GateProfile(min_facts=5, prompt_echo=True))] == [], where
        answer = normalise(c.answer.diagnosis)
        others = [d for d in c.answer.differential if normalise(d.diagnosis) != answer]
        assert len(others) >= 3, f"{where}: differential too short"
        assert sum(f.key for f in c.facts) >= 2, f"{where}: fewer than 2 key facts"
        assert c.exam and c.tests, f"{where}: needs exam findings and test results"
        assert c.demographics.age_years is not None and c.demographics.sex in ("female", "male"), where


def test_no_personal_identifiers(cards):
    for c in cards:
        # The content-derived id is left out: its hex digits can look like a phone number.
        for s in _strings(c.model_dump(mode="json", exclude={"id"})):
            for rx in (PHONE, EMAIL, TITLED_NAME):
                hit = rx.search(s)
                assert hit is None, f"{c.source.source_id}: {hit.group()!r} looks like a personal identifier"


def test_specialty_filter(cards):
    cardio = load_seed_cases(["cardiology"])
    assert cardio and all(c.specialty == "cardiology" for c in cardio)
    assert len(cardio) < len(cards)


def test_bad_line_names_file_line_and_field(tmp_path: Path):
    good = next(seeds_dir().glob("*.jsonl")).read_text().splitlines()[0]
    bad = json.loads(good)
    bad["facts"][2]["text"] = ""
    (tmp_path / "a.jsonl").write_text(good + "\n")
    (tmp_path / "b.jsonl").write_text(good + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(
        ValueError, match=r"b\.jsonl:3: facts\.2\.text: String should have at least 1 character"
    ):
        load_seed_cases(root=tmp_path)


def test_invalid_json_names_file_and_line(tmp_path: Path):
    (tmp_path / "x.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match=r"x\.jsonl:1: "):
        load_seed_cases(root=tmp_path)
