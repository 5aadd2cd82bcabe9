"""The verifier: lexical matching of diagnoses and of general short answers, its negatives, and when the judge is asked."""

from __future__ import annotations

import json

import pytest

from synth.teachers.teacher import Teacher
from synth.verify import (
    compare,
    normalise,
    verify_answer,
    verify_answer_lexical,
    verify_diagnosis,
    verify_lexical,
)
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

    v = await verify_diagnosis("Barlow syndrome", "mitral valve prolapse", judge=judge)
    assert v.correct is True and v.stage == "judge" and len(backend.calls) == 1
    assert "mitral valve prolapse" in backend.calls[0].messages[-1]["content"]
    template = v.calls[0].template
    assert v.calls[0].role == "diagnosis_judge" and template is not None and template.id == "diagnosis_judge"

    v = await verify_diagnosis("pulmonary embolism", "pulmonary edema", judge=_judge("false")[0])
    assert v.correct is False and v.stage == "judge"
    v = await verify_diagnosis("infarction", "myocardial infarction", judge=_judge("unsure")[0])
    assert v.correct is None and v.stage == "judge"


async def test_without_judge_the_lexical_stage_decides():
    v = await verify_diagnosis("Barlow syndrome", "mitral valve prolapse")
    assert v.correct is False and v.stage == "lexical"
    v = await verify_diagnosis("infarction", "myocardial infarction")
    assert v.correct is None and v.stage == "lexical"
    v = await verify_diagnosis("  ", "myocardial infarction")
    assert v.correct is False and v.stage == "none"


# --- general short answers (verify_answer) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("0.5 g", "500 mg"),  # unit conversion
        ("40 %", "40 percent"),
        ("forty per cent", "40%"),  # number words
        ("2.5 mg/kg", "2500 micrograms/kg"),
        ("1-2 mg", "1 to 2 mg"),  # ranges
        ("≤ 40%", "40% or less"),  # comparators, before or after the value
        ("100.4 °F", "38 °C"),  # temperature conversion
        ("150 × 10⁹/L", "150,000 per microlitre"),
        ("4.5 hours", "270 minutes"),
        ("100 beats per minute", "100 bpm"),
        ("paracetamol", "acetaminophen"),  # British / international drug names
        ("salbutamol", "albuterol"),
        ("S. aureus", "Staphylococcus aureus"),  # genus initial
        ("pneumococcus", "Streptococcus pneumoniae"),
        ("MRSA", "methicillin-resistant Staph aureus"),
        ("CTPA", "CT pulmonary angiography"),  # test abbreviations
        ("DEXA scan", "DXA"),
        ("Facial nerve", "CN VII"),  # cranial nerves, roman numerals
        ("Inhibits cyclooxygenase", "COX inhibitor"),  # mechanism word families
        ("Irreversible COX inhibition", "irreversibly inhibits cyclooxygenase"),
        ("Intramuscular adrenaline", "IM epinephrine"),  # routes
        ("Pre-eclampsia", "preeclampsia"),  # prefixes
        ("Guillain-Barré syndrome", "GBS"),  # accents
        ("Phaeochromocytoma", "pheochromocytoma"),
        ("Metformin", "metformin hydrochloride"),  # salts
        ("Naloxone", "naloxone (Narcan)"),  # a parenthetical is an alternative
        ("Ectopic pregnancy", "tubal ectopic pregnancy"),  # broader, but keeps most of the reference
        ("median nerve", "median n."),
        ("ALL", "acute lymphoblastic leukaemia"),  # whole-answer abbreviation
    ],
)
def test_answer_matches(candidate, reference):
    v = verify_answer_lexical(candidate, reference)
    assert v.verdict == "true" and v.stage == "lexical", v


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("0.05 mg", "0.5 mg"),  # neighbouring numbers
        ("< 5 mm", "5 mm"),
        ("once daily", "twice daily"),
        ("type 1 diabetes", "T2DM"),
        ("MSSA", "MRSA"),
        ("Oral vancomycin", "IV vancomycin"),
        ("Right coronary artery", "LAD"),
        ("Trigeminal nerve", "cranial nerve VII"),
        ("Type I hypersensitivity", "type IV hypersensitivity"),
        ("metoprolol", "propranolol"),
        ("Either appendicitis or mesenteric adenitis", "appendicitis"),  # hedging between answers
        ("appendicitis vs. Meckel diverticulitis", "appendicitis"),
    ],
)
def test_answer_rejects(candidate, reference):
    v = verify_answer_lexical(candidate, reference)
    assert v.verdict == "false", v


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("Diabetes mellitus", "type 2 diabetes mellitus"),  # broader, drops the decisive number
        ("Staphylococcus aureus", "methicillin-resistant Staphylococcus aureus"),
        ("14 units", "14 units per week"),  # same number, different unit
        ("2.5 mg", "2.5 mg/kg"),
        ("Calcium gluconate", "calcium gluconate 10%"),  # names it, gives no value
        ("Psoriasis", "plaque psoriasis"),
    ],
)
def test_answer_unsure(candidate, reference):
    assert verify_answer_lexical(candidate, reference).verdict == "unsure"


@pytest.mark.parametrize(
    ("conclusion", "verdict"),
    [
        ("The most likely diagnosis is acute appendicitis because of migratory RLQ pain.", "true"),
        ("Final answer: **appendicitis**", "true"),
        ("Given the findings, the diagnosis is mesenteric adenitis rather than appendicitis.", "false"),
        ("The answer is either appendicitis or ovarian torsion.", "false"),
        ("The pain migrated to the right iliac fossa, so I conclude appendicitis.", "true"),
        ("This is not appendicitis; the pain is musculoskeletal.", "unsure"),
    ],
)
def test_long_conclusions(conclusion, verdict):
    v = verify_answer_lexical(conclusion, "acute appendicitis")
    assert v.verdict == verdict, v


def test_answer_verdict_fields():
    v = verify_answer_lexical("500 mg", "0.5 g")
    assert v.as_dict() == {
        "verdict": "true",
        "stage": "lexical",
        "reason": "same value (0.5 g)",
        "candidate_normalised": "[0.5 g]",
        "reference_normalised": "[0.5 g]",
    }
    assert v.correct is True
    assert verify_answer_lexical("", "x").stage == "none"
    assert verify_answer_lexical("Lou Gehrig disease", "ALS", ["Lou Gehrig's disease"]).verdict == "true"


async def test_answer_judge_only_when_undecided():
    judge, backend = _judge("true")
    v = await verify_answer("500 mg", "0.5 g", judge=judge)
    assert v.verdict == "true" and v.stage == "lexical" and backend.calls == []
    v = await verify_answer("0.05 mg", "0.5 mg", judge=judge)  # a definite no: no judge
    assert v.verdict == "false" and v.stage == "lexical" and backend.calls == []
    v = await verify_answer("Barlow syndrome", "mitral valve prolapse", judge=judge, question="Q?")
    assert v.verdict == "true" and v.stage == "judge" and len(backend.calls) == 1
    prompt = backend.calls[0].messages[-1]["content"]
    assert "mitral valve prolapse" in prompt and "Question: Q?" in prompt
    template = v.calls[0].template
    assert v.calls[0].role == "answer_judge" and template is not None and template.id == "answer_judge"
    v = await verify_answer("Psoriasis", "plaque psoriasis", judge=_judge("unsure")[0])
    assert v.verdict == "unsure" and v.stage == "judge"
