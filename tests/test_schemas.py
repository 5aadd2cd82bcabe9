"""The record contract: stable content ids, validation errors that name the field, JSON Schema export."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import RECORD_TYPES, CaseCard, Consultation, Turn


def card(**over):
    data = {
        "demographics": {"age_years": 40, "sex": "female"},
        "opening_statement": "My head hurts.",
        "facts": [{"id": "f1", "text": "Headache for 2 days", "lay_text": "my head hurts since Monday"}],
        "answer": {"diagnosis": "migraine", "aliases": ["migraine headache"]},
        "source": {"dataset": "seed", "source_id": "x1"},
    }
    data.update(over)
    return CaseCard.model_validate(data)


def test_ids_are_content_derived_and_stable():
    a, b = card(), card()
    assert a.id == b.id and a.id.startswith("case-")
    assert card(opening_statement="Other words.").id != a.id


def test_unknown_field_named():
    with pytest.raises(ValidationError) as e:
        card(colour="blue")
    assert "colour" in str(e.value)


def test_nested_error_names_the_field():
    with pytest.raises(ValidationError) as e:
        card(facts=[{"id": "f1", "text": ""}])
    assert e.value.errors()[0]["loc"] == ("facts", 0, "text")
    assert "facts.0.text" in str(e.value)


def test_duplicate_fact_ids_rejected():
    with pytest.raises(ValidationError, match="duplicate fact id"):
        card(facts=[{"id": "f1", "text": "a"}, {"id": "f1", "text": "b"}])


def test_correct_option_must_be_an_option():
    with pytest.raises(ValidationError, match="correct_option"):
        card(answer={"diagnosis": "x", "options": {"A": "x"}, "correct_option": "B"})


def test_only_doctor_turns_carry_reasoning():
    with pytest.raises(ValidationError, match="only doctor turns"):
        Turn(index=0, speaker="patient", act="answer", text="hi", reasoning="secret")
    c = Consultation(
        case_id="case-1",
        turns=[
            Turn(
                index=0,
                speaker="doctor",
                act="ask",
                text="What brings you in?",
                reasoning="start broad",
                ddx=[{"diagnosis": "migraine", "probability": 0.4}],
            )
        ],
        termination={"reason": "turn_limit", "turn": 0},
    )
    assert c.id.startswith("consult-")


def test_every_record_exports_a_json_schema():
    for name, model in RECORD_TYPES.items():
        s = model.model_json_schema()
        assert s["type"] == "object", name
        assert "schema_version" in s["properties"], name
