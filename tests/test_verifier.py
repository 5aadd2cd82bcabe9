"""The diagnosis verifier: lexical normalisation and matching, its negatives, and when the judge is asked."""

from __future__ import annotations

import json

import pytest

from synth.teachers.teacher import Teacher
from synth.verify import compare, normalise, verify_diagnosis, verify_lexical
from tests.fakes import ScriptedBackend, raw


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("Kidney stones", "kidney stone"),  # plural
        ("the appendicitis", "Appendicitis"),  # article, case
        ("MI", "Myocardial infarction"),  # abbreviation
        ("heart attack", "acute myocardial infarction"),  # lay alias + generic qualifier
        ("COPD exacerbation", "exacerbation of chronic obstructive pulmonary disease"),
        ("Pneumonia, community-acquired", "community acquired pneumonia"),  # word order, hyphen
        ("Graves disease", "Graves' disease"),  # possessive
        ("Subarachnoid haemorrhage", "SAH"),  # British spelling + abbreviation
        ("Type II diabetes mellitus", "type 2 diabetes"),  # roman numeral, containment
        ("appendicitis", "acute appendicitis"),  # containment through a generic qualifier
        ("Acute renal failure", "AKI"),
        ("DVT of the left leg", "left deep venous thrombosis"),
    ],
)
def test_lexical_matches(predicted, gold):
    assert compare(predicted, gold).outcome == "match", compare(predicted, gold)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("type 1 diabetes", "type 2 diabetes"),
        ("acute pancreatitis", "chronic pancreatitis"),
        ("NSTEMI", "STEMI"),
        ("hepatitis B", "hepatitis C"),
        ("left pneumothorax", "right pneumothorax"),
        ("viral meningitis", "bacterial meningitis"),
        ("migraine", "tension-type headache"),
        ("hypothyroidism", "hyperthyroidism"),
    ],
)
def test_lexical_negatives(predicted, gold):
    assert compare(predicted, gold).outcome == "no_match", compare(predicted, gold)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("pulmonary embolism", "pulmonary edema"),  # shares a word only
        ("infarction", "myocardial infarction"),  # one word inside a longer name
        ("diabetes", "type 1 diabetes"),
    ],
)
def test_lexical_unsure(predicted, gold):
    assert compare(predicted, gold).outcome == "unsure"


def test_normalise():
    assert normalise("The Crohn's diseases") == "crohn disease"
    assert normalise("Oesophageal varices") == normalise("esophageal varices")
    assert normalise("Haemolytic anaemia") == normalise("hemolytic anemia")


def test_aliases_are_matched():
    v = verify_lexical("Lou Gehrig's disease", "Amyotrophic lateral sclerosis", ["Lou Gehrig disease"])
    assert v.correct is True and v.stage == "lexical"
    assert verify_lexical("ALS", "Amyotrophic lateral sclerosis").correct is True


def _judge(verdict: str) -> tuple[Teacher, ScriptedBackend]:
    backend = ScriptedBackend(lambda req: raw(json.dumps({"verdict": verdict, "reason": "checked"})))
    return Teacher("judge", backend), backend


async def test_judge_only_when_lexical_is_not_a_match():
    judge, backend = _judge("true")
    v = await verify_diagnosis("MI", "myocardial infarction", judge=judge)
    assert v.correct is True and v.stage == "lexical" and backend.calls == []

    v = await verify_diagnosis("Addison disease", "primary adrenal insufficiency", judge=judge)
    assert v.correct is True and v.stage == "judge" and len(backend.calls) == 1
    assert "primary adrenal insufficiency" in backend.calls[0].messages[-1]["content"]
    assert v.calls[0].role == "diagnosis_judge" and v.calls[0].template.id == "diagnosis_judge"

    v = await verify_diagnosis("pulmonary embolism", "pulmonary edema", judge=_judge("false")[0])
    assert v.correct is False and v.stage == "judge"
    v = await verify_diagnosis("infarction", "myocardial infarction", judge=_judge("unsure")[0])
    assert v.correct is None and v.stage == "judge"


async def test_without_judge_the_lexical_stage_decides():
    v = await verify_diagnosis("Addison disease", "primary adrenal insufficiency")
    assert v.correct is False and v.stage == "lexical"
    v = await verify_diagnosis("infarction", "myocardial infarction")
    assert v.correct is None and v.stage == "lexical"
    v = await verify_diagnosis("  ", "myocardial infarction")
    assert v.correct is False and v.stage == "none"
