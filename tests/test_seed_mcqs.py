"""The shipped seed MCQs: well-formed MedQA-shaped lines, enough of them, varied, and each with a short answer."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

SEED_MCQS = Path(__file__).resolve().parents[1] / "datasets/seeds/mcqs/medqa_style.jsonl"
KEYS = {"id", "question", "options", "answer_idx", "answer", "specialty", "answer_type"}
ANSWER_TYPES = {"diagnosis", "drug", "test", "mechanism", "organism", "management", "number"}
# An odd-one-out stem has no verifiable answer: the problems generator would drop it anyway.
NEGATIVE_STEM = re.compile(r"\b(?:EXCEPT|NOT)\b|\bexcept\b")


@pytest.fixture(scope="module")
def mcqs() -> list[dict[str, Any]]:
    assert SEED_MCQS.is_file(), f"{SEED_MCQS} is missing"
    out = []
    for n, line in enumerate(SEED_MCQS.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"line {n} is blank"
        rec = json.loads(line)
        assert isinstance(rec, dict), f"line {n} is not a JSON object"
        assert set(rec) == KEYS, f"line {n}: keys {sorted(rec)}"
        out.append(rec)
    return out


def test_enough_questions_and_specialties(mcqs):
    assert len(mcqs) >= 40, f"only {len(mcqs)} seed questions"
    specialties = Counter(m["specialty"] for m in mcqs)
    assert len(specialties) >= 12, sorted(specialties)
    assert {m["answer_type"] for m in mcqs} <= ANSWER_TYPES


def test_ids_unique(mcqs):
    ids = Counter(m["id"] for m in mcqs)
    assert [i for i, n in ids.items() if n > 1] == []


def test_answer_is_its_option(mcqs):
    for m in mcqs:
        assert m["answer_idx"] in m["options"], m["id"]
        assert m["answer"] == m["options"][m["answer_idx"]], m["id"]


def test_answers_short(mcqs):
    for m in mcqs:
        assert 1 <= len(m["answer"].split()) <= 8, f"{m['id']}: answer {m['answer']!r} is not short"


def test_options_distinct(mcqs):
    for m in mcqs:
        opts = [o.strip().lower() for o in m["options"].values()]
        assert all(opts), f"{m['id']}: an option is empty"
        assert len(set(opts)) == len(opts), f"{m['id']}: an option is repeated"


def test_no_negative_stems(mcqs):
    for m in mcqs:
        hit = NEGATIVE_STEM.search(m["question"])
        assert hit is None, f"{m['id']}: stem asks for the odd one out ({hit.group()!r})"


def test_answer_letters_vary(mcqs):
    letters = Counter(m["answer_idx"] for m in mcqs)
    assert len(letters) > 1, f"every answer is {next(iter(letters))}"
