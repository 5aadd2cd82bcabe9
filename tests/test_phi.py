"""PHI scrubbing: each identifier kind and its hard negatives, the stage over records, and accuracy floors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from schemas.common import Provenance
from schemas.consultation import Consultation, FinalDiagnosis, Termination, Turn
from schemas.problem import ReasoningTrace, SearchStep, VerifiableProblem
from synth.quality.base import StageContext, make_doc, record_text
from synth.quality.config import PhiConfig
from synth.quality.phi import PhiScrubber, find_phi, scrub_text

ROOT = Path(__file__).resolve().parent.parent


def kinds_in(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_phi(text)]


# ------------------------------------------------------------------------------------------------ positives

POSITIVES = [
    ("Dr. House thinks it is lupus.", "name", "Dr. House"),
    ("I was referred by Mrs Anne-Marie Okoro last week.", "name", "Mrs Anne-Marie Okoro"),
    ("Patient: my name is Gregory Hale and my knee is swollen.", "name", "Gregory Hale"),
    ("A man named Tobias Wren presents with jaundice.", "name", "Tobias Wren"),
    ("Patient Nadia Petrova, aged 41, has a headache.", "name", "Nadia Petrova"),
    ("My brother Kevin brought me in.", "name", "Kevin"),
    ("Hello, I'm Megan, I called earlier.", "name", "Megan"),
    ("Ring me on (415) 555-0100 please.", "phone", "(415) 555-0100"),
    ("My mobile is 07700 900456.", "phone", "07700 900456"),
    ("Work line +44 161 496 0123 ext. 12", "phone", "+44 161 496 0123 ext. 12"),
    ("Call 1-888-555-0111 for the results line.", "phone", "1-888-555-0111"),
    ("My number is 555-0188.", "phone", "555-0188"),
    ("Write to g.hale@example.org if needed.", "email", "g.hale@example.org"),
    ("I live at 14 Cedar Road, Bristol BS8 1TH.", "address", "14 Cedar Road, Bristol BS8 1TH"),
    (
        "The clinic is at 900 Lakeshore Blvd, Chicago, IL 60611.",
        "address",
        "900 Lakeshore Blvd, Chicago, IL 60611",
    ),
    ("MRN: 12009345, admitted overnight.", "id", "12009345"),
    ("SSN 321-54-9876 on the form.", "id", "321-54-9876"),
    ("NHS number 401 023 2137.", "id", "401 023 2137"),
    ("My member ID is ZX-449102.", "id", "ZX-449102"),
    ("DOB: 03/11/1958, lives alone.", "dob", "03/11/1958"),
    ("I was born on 5 August 1947.", "dob", "5 August 1947"),
    ("Date of birth: 1990-02-28.", "dob", "1990-02-28"),
]


@pytest.mark.parametrize(("text", "kind", "span"), POSITIVES)
def test_finds_identifier(text: str, kind: str, span: str) -> None:
    assert (kind, span) in kinds_in(text)


# -------------------------------------------------------------------------------------------- hard negatives

NEGATIVES = [
    # eponyms and signs
    "Graves' disease with exophthalmos; Parkinson's is unlikely.",
    "Crohn's disease affects the terminal ileum; tenderness at McBurney's point.",
    "Babinski sign upgoing; Murphy's sign negative; Bell's palsy excluded.",
    "Cushing syndrome and Addison disease are opposite ends of the axis.",
    # numbers that are not identifiers
    "BP 120/80, HR 96 bpm, SpO2 97%, RR 18, temperature 38.2 °C.",
    "Potassium 5.9 mmol/L, creatinine 180 µmol/L, Hb 101 g/L, INR 2.8.",
    "Metformin 500 mg twice daily; insulin 12 units; 1000 mL saline over 8 hours.",
    "Platelets 150,000-400,000/µL; WCC 11.2 x 10^9/L.",
    "ICD-10 I21.4 and E11.9 were coded.",
    "Symptoms started in 2023 and recurred in 2021.",  # a year alone is not an identifier
    "A 54-year-old man, symptoms for 3 days; born at 32 weeks; born in 1961.",
    "QTc 480 ms, PR 200 ms, ST elevation in V1-V4; GCS 14/15.",
    # names of drugs, a title with no name, states that follow "I'm"
    "She takes Eliquis, Keppra and Zoloft.",
    "The Dr. said to rest; the dr. on call agreed.",
    "I'm Jewish and I'm Diabetic, Type 2.",
    "An antiviral named Paxlovid was given.",
    "He walked 200 yards down the road; they live in a 3 bedroom house on a busy road.",
    "St John's wort interacts with the pill; O2 @ 2 L/min.",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_leaves_clinical_text_alone(text: str) -> None:
    assert kinds_in(text) == []


def test_scrub_text_uses_typed_placeholders() -> None:
    text, counts = scrub_text("Dr. House, DOB 01/02/1960, MRN 5550123, call (212) 555-0134, x@y.com")
    assert text == "[NAME_1], DOB [DOB_1], MRN [ID_1], call [PHONE_1], [EMAIL_1]"
    assert counts == {"name": 1, "dob": 1, "id": 1, "phone": 1, "email": 1}


def test_kinds_restrict_what_is_scrubbed() -> None:
    text, counts = scrub_text("Dr. House, call (212) 555-0134", {"phone"})
    assert text == "Dr. House, call [PHONE_1]" and counts == {"phone": 1}
    with pytest.raises(ValueError, match="unknown identifier kinds"):
        PhiScrubber(PhiConfig(stage="phi", kinds=["name", "fax"]))


# ------------------------------------------------------------------------------------------------- the stage


def _consultation() -> Consultation:
    return Consultation(
        case_id="case-abc",
        turns=[
            Turn(
                index=0,
                speaker="doctor",
                act="ask",
                text="Hello, I'm Dr. Patel. What brings you in?",
                reasoning="Mr. Jones looks pale; BP 120/80.",
                ddx=[{"diagnosis": "anaemia", "probability": 0.4}],
            ),
            Turn(
                index=1,
                speaker="patient",
                act="answer",
                text="My name is Alan Jones, born on 3 May 1960. Call me on 07700 900111.",
                revealed_fact_ids=["f-1", "f-2"],
            ),
        ],
        termination=Termination(reason="final_diagnosis", turn=1),
        final=FinalDiagnosis(
            diagnosis="iron deficiency anaemia", confidence=0.7, plan="Review with Dr. Lee."
        ),
        persona="anxious",
        provenance=Provenance(engine_version="0", run_id="run-1", job="consultations"),
    )


async def test_stage_scrubs_nested_turns_and_keeps_id_and_type() -> None:
    record = _consultation()
    doc = make_doc("consultations", record)
    stage = PhiScrubber(PhiConfig(stage="phi"))
    [out] = await stage.run([doc], StageContext())
    new = out.record
    assert isinstance(new, Consultation)
    assert new.id == record.id == out.id
    # one numbering for the whole record: four different names, four placeholders
    assert new.turns[0].text == "Hello, I'm [NAME_1]. What brings you in?"
    assert new.turns[0].reasoning == "[NAME_2] looks pale; BP 120/80."
    assert new.turns[1].text == "My name is [NAME_3], born on [DOB_1]. Call me on [PHONE_1]."
    assert new.final is not None and new.final.plan == "Review with [NAME_4]."
    assert out.text == record_text(new) and "Alan" not in out.text
    assert out.scores["phi_replacements"] == 6
    assert out.scores["phi_name"] == 4 and out.scores["phi_dob"] == 1 and out.scores["phi_phone"] == 1
    assert stage.last_counts == {"name": 4, "dob": 1, "phone": 1}
    assert stage.summary["docs"] == 1 and stage.summary["docs_changed"] == 1
    assert stage.summary["replacements"]["name"] == 4


async def test_stage_leaves_non_text_fields_alone() -> None:
    record = _consultation()
    [out] = await PhiScrubber(PhiConfig(stage="phi")).run([make_doc("consultations", record)], StageContext())
    before = record.model_dump()
    after = out.record.model_dump()
    for key in ("id", "case_id", "termination", "evaluation", "provenance", "persona", "doctor_turns"):
        assert after[key] == before[key], key
    for t0, t1 in zip(before["turns"], after["turns"], strict=True):
        for key in ("index", "speaker", "act", "revealed_fact_ids", "ddx", "tests_requested", "leakage"):
            assert t1[key] == t0[key], key


async def test_stage_scrubs_problems_and_traces() -> None:
    problem = VerifiableProblem(
        question="Mrs. Alvarez (MRN 4410982) has a TSH of 0.01 mU/L. Diagnosis?",
        ground_truth="Graves' disease",
    )
    trace = ReasoningTrace(
        problem_id=problem.id,
        question=problem.question,
        ground_truth=problem.ground_truth,
        steps=[
            SearchStep(
                iteration=0,
                strategy="init",
                thinking=["Mrs. Alvarez has a low TSH."],
                conclusion="Graves' disease",
                verdict="true",
            )
        ],
        success=True,
        natural_thinking="Mrs. Alvarez has a suppressed TSH, so Graves' disease fits.",
        final_response="Graves' disease.",
    )
    stage = PhiScrubber(PhiConfig(stage="phi"))
    p_doc, t_doc = await stage.run(
        [make_doc("problems", problem), make_doc("reasoning", trace)], StageContext()
    )
    assert isinstance(p_doc.record, VerifiableProblem) and isinstance(t_doc.record, ReasoningTrace)
    assert p_doc.record.id == problem.id and t_doc.record.id == trace.id
    assert p_doc.record.question == "[NAME_1] (MRN [ID_1]) has a TSH of 0.01 mU/L. Diagnosis?"
    assert p_doc.record.ground_truth == "Graves' disease"
    assert t_doc.record.problem_id == problem.id
    # the same name is the same placeholder everywhere in a record
    assert t_doc.record.steps[0].thinking == ["[NAME_1] has a low TSH."]
    assert t_doc.record.natural_thinking == "[NAME_1] has a suppressed TSH, so Graves' disease fits."
    # the trace carries its own copy of the question
    replaced = stage.summary["replacements"]
    assert replaced["name"] == 4 and replaced["id"] == 2
    assert sum(replaced.values()) == 6


async def test_clean_record_is_returned_unchanged() -> None:
    problem = VerifiableProblem(
        question="Potassium 6.1 mmol/L and peaked T waves: first drug?", ground_truth="calcium"
    )
    doc = make_doc("problems", problem)
    [out] = await PhiScrubber(PhiConfig(stage="phi")).run([doc], StageContext())
    assert out.record is problem
    assert out.scores == {"phi_replacements": 0.0}


# ----------------------------------------------------------------------------------- accuracy on the labelled set


def _benchmark():
    spec = importlib.util.spec_from_file_location("phi_accuracy", ROOT / "benchmarks" / "phi_accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["phi_labelled.jsonl", "phi_gen_dev.jsonl"])
def test_rules_accuracy_stays_above_floors(name: str) -> None:
    """The rules engine (fast) over whole development sets; the model engines are sampled below."""
    bench = _benchmark()
    rows, _ = bench.load(ROOT / "benchmarks" / "data" / name)
    result = bench.measure(rows, "rules")
    # measured on the dev sets: recall 100%, precision >= 99.3% (docs/benchmarks.md); a little room, no more
    assert result["overall_recall"] >= 0.97, result["errors"][:20]
    assert result["precision"] >= 0.97, result["errors"][:20]
    assert result["leak_rate"] <= 0.02, result["errors"][:20]
    for cls in ("eponym", "drug", "dose", "vitals", "score", "duration", "seed"):
        assert result["damage"].get(cls, 0.0) <= (0.01 if cls == "seed" else 0.0), (
            cls,
            result["errors"][:20],
        )


def test_combined_engine_on_a_sample_of_the_dev_set() -> None:
    bench = _benchmark()
    rows, _ = bench.load(ROOT / "benchmarks" / "data" / "phi_gen_dev.jsonl")
    sample = rows[::12]  # every class of identifier and of clean sentence is in the stride
    result = bench.measure(sample, "combined")
    assert result["overall_recall"] >= 0.97, result["errors"][:20]
    assert result["overall_damage"] <= 0.01, result["errors"][:20]
    assert result["precision"] >= 0.95, result["errors"][:20]


def test_no_false_positives_on_shipped_seeds() -> None:
    hits = _benchmark().audit_seeds("rules")
    assert hits == []
