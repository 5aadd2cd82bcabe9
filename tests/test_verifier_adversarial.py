"""The answer verifier against real exam-data noise and adversarial distractors: one group of tests per failure
class, then the whole adversarial file (benchmarks/data/verifier_adversarial.jsonl) with zero false accepts."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from schemas.matching import vocab
from schemas.matching.binding import binding_conflict
from schemas.matching.context import strip_context
from schemas.matching.fuzzy import repair, sides
from schemas.matching.lexical import compare, tokens
from schemas.matching.verdict import verify_answer_lexical

ROOT = Path(__file__).resolve().parent.parent
ADVERSARIAL = ROOT / "benchmarks" / "data" / "verifier_adversarial.jsonl"


def _v(candidate: str, reference: str, aliases: list[str] | None = None) -> str:
    return verify_answer_lexical(candidate, reference, aliases).verdict


# --- 1. direction reversal: a qualifier binds to its own word ----------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("increased calcium and decreased phosphate", "decreased calcium and increased phosphate"),
        ("raised ferritin, low transferrin", "low ferritin with high transferrin"),
        ("TSH high and free T4 low", "low TSH, high free T4"),
        ("hyperkalaemia and hyponatraemia", "hypokalemia and hypernatremia"),
        ("left ptosis with right hemiparesis", "right ptosis and left hemiparesis"),
        ("positive ANA, negative anti-dsDNA", "negative ANA and positive anti-dsDNA"),
    ],
)
def test_reversed_directions_are_rejected(candidate, reference):
    assert _v(candidate, reference) == "false"
    assert compare(candidate, reference).outcome != "match"  # the diagnosis matcher too


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("increased calcium and decreased phosphate", "decreased phosphate, increased calcium"),
        ("calcium raised, phosphate reduced", "elevated calcium with decreased phosphate"),
        ("high TSH and low free T4", "increased TSH, decreased free T4"),
    ],
)
def test_same_directions_in_another_order_match(candidate, reference):
    assert _v(candidate, reference) == "true"


def test_a_positional_reading_is_only_unsure():
    conflict = binding_conflict(
        "increased renin decreased aldosterone", "decreased renin and increased aldosterone", tokens
    )
    assert conflict is not None and conflict[1] is False  # no conjunction: read by position, not definite


# --- negation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference", "verdict"),
    [
        ("no pleural effusion", "pleural effusion", "false"),
        ("pleural effusion", "no pleural effusion", "false"),
        ("splenomegaly absent", "splenomegaly", "false"),
        ("not iron deficiency anaemia", "iron deficiency anaemia", "false"),
        ("pleural effusion absent", "no pleural effusion", "true"),
        ("fever, no rash", "fever without rash", "true"),
        ("Acute appendicitis, not gastroenteritis", "acute appendicitis", "true"),
        ("Non-contrast CT head", "CT head without contrast", "true"),
        ("NSTEMI", "STEMI", "false"),
    ],
)
def test_negation(candidate, reference, verdict):
    assert _v(candidate, reference) == verdict


def test_negation_scope_left_open_is_unsure():
    assert _v("no fever and rash", "fever and no rash") == "unsure"


# --- 2. single-edit misspellings vs one-edit minimal pairs -------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [("Laprotomy", "Laparotomy"), ("pnuemonia", "pneumonia"), ("Cholecystits", "acute cholecystitis")],
)
def test_misspellings_are_repaired(candidate, reference):
    assert _v(candidate, reference) == "true"
    assert _v(reference, candidate) == "true"  # a misspelt reference too


MINIMAL = [
    ("nephrotic syndrome", "nephritic syndrome"),
    ("ectropion", "entropion"),
    ("exotropia", "esotropia"),
    ("abduction", "adduction"),
    ("dysphagia", "dysphasia"),
    ("peroneal nerve palsy", "perineal nerve palsy"),
    ("ethanol", "methanol"),
    ("rubella", "rubeola"),
    ("nitrate", "nitrite"),
    ("sulfate", "sulfite"),
    ("cysteine", "cystine"),
    ("retinol", "retinal"),
    ("radial", "radical"),
    ("ileum", "ilium"),
    ("humeral", "humoral"),
    ("hyperthyroidism", "hypothyroidism"),
    ("prednisone", "prednisolone"),
    ("Berger disease", "Buerger disease"),
]


@pytest.mark.parametrize(("a", "b"), MINIMAL)
def test_minimal_pairs_never_merge(a, b):
    assert _v(a, b) != "true" and _v(b, a) != "true"


def test_a_misspelling_near_two_real_words_is_unsure():
    # "perneal" is one edit from both perineal and peroneal: nothing says which
    v = verify_answer_lexical("perneal tear", "perineal tear")
    assert v.verdict == "unsure" and "peroneal" in v.reason


def test_an_unrepaired_word_keeps_a_containment_unsure():
    # the typo hides "CT pulmonary angiography", a different test from plain CT: not a match by containment
    v = verify_answer_lexical("CT pulmonary angiogrphy", "computed tomography")
    assert v.verdict == "unsure" and "'angiogrphy' is no known word" in v.reason
    assert _v("congestie heart failure", "heart failure") == "unsure"


def test_unknown_words_on_both_sides_stay_unsure():
    fix = repair("zyxoquinolone", "zyxoquinalone")
    assert fix.tentative  # neither is a known word: no proof of a misspelling
    assert _v("zyxoquinolone", "zyxoquinalone") == "unsure"


def test_without_a_vocabulary_a_fuzzy_match_is_unsure(monkeypatch):
    monkeypatch.setattr(vocab, "available", lambda: False)
    v = verify_answer_lexical("Laprotomy", "Laparotomy")
    assert v.verdict == "unsure" and "no vocabulary" in v.reason
    assert _v("hea failure", "heart failure") == "true"  # the dropped "rt" needs no vocabulary


def test_vocabulary():
    assert vocab.available() and {"wordfreq", "icd10cm", "tables"} <= set(vocab.sources())
    assert vocab.known("nephritic") and vocab.known("esotropia") and vocab.known("buerger")
    assert not vocab.known("laprotomy")


def test_diacritics_are_folded():
    assert _v("Henoch-Schönlein purpura", "Henoch Schonlein purpura") == "true"
    assert compare("Guillain-Barré syndrome", "guillain barre syndrome").outcome == "match"


# --- 3. the dropped "rt" ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("hea failure", "heart failure"),
        ("pancreaticoduodenal aery", "pancreaticoduodenal artery"),
        ("Hypeension", "hypertension"),
        ("Inse two cannulas and sta IV fluids", "insert two cannulas and start IV fluids"),
        ("aoic stenosis", "aortic stenosis"),
    ],
)
def test_dropped_rt(candidate, reference):
    assert _v(candidate, reference) == "true"
    assert _v(reference, candidate) == "true"


def test_dropped_rt_does_not_rescue_a_wrong_answer():
    assert _v("aoic stenosis", "mitral stenosis") != "true"
    assert _v("pulmonary aery", "pulmonary vein") != "true"
    assert _v("hea failure", "liver failure") != "true"


# --- 4. side abbreviations ----------------------------------------------------------------------------------


def test_side_abbreviations():
    assert sides("Rt accessory nerve") == "right accessory nerve"
    assert sides("B/L pleural effusions") == "bilateral pleural effusions"
    assert sides("RT to the breast") == "RT to the breast"  # radiotherapy, not a side
    assert _v("Rt femoral hernia", "right femoral hernia") == "true"
    assert _v("Lt. femoral hernia", "right femoral hernia") == "false"
    assert _v("bilat hydronephrosis", "bilateral hydronephrosis") == "true"
    assert _v("RT", "radiotherapy") == "true"
    assert _v("RT", "right femoral hernia") != "true"


# --- 5. ages and durations are context, unless the answer is a time -----------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference", "verdict"),
    [
        ("Type 2 diabetes mellitus in a 45-year-old", "type 2 diabetes mellitus", "true"),
        ("60 yo woman with stage 3 CKD", "stage 3 chronic kidney disease", "true"),
        ("Pneumonia, 2-week history", "pneumonia", "true"),
        ("Amoxicillin for 5 days", "amoxicillin", "true"),
        ("Type 1 diabetes mellitus in a 12-year-old", "type 2 diabetes mellitus", "false"),
        ("9 months", "6 months", "false"),
        ("at 2 years of age", "24 months", "true"),
        ("warfarin for 3 months", "warfarin for 6 months", "false"),
        ("within 24 hours", "within 48 hours", "false"),
    ],
)
def test_ages_and_durations(candidate, reference, verdict):
    assert _v(candidate, reference) == verdict


def test_context_is_removed_on_one_side_only():
    assert strip_context("appendicitis in a 9-year-old", "appendicitis")[0].strip() == "appendicitis in"
    cand, ref, note = strip_context("6 months", "at 6 months of age")
    assert (cand, ref, note) == ("6 months", "at 6 months of age", None)


# --- 6. eponyms, renamed diseases, and the importer --------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("Henoch-Schonlein vasculitis", "IgA vasculitis"),
        ("Henoch-Schönlien purpura", "IgA vasculitis"),  # a misspelt eponym
        ("HSP", "IgA vasculitis"),
        ("Wegener's granulomatosis", "GPA"),
        ("Churg-Strauss syndrome", "EGPA"),
        ("Reiter's syndrome", "reactive arthritis"),
        ("Lou Gehrig's disease", "ALS"),
    ],
)
def test_eponyms(candidate, reference):
    assert _v(candidate, reference) == "true"


def test_eponyms_do_not_merge_different_diseases():
    assert _v("Wegener granulomatosis", "eosinophilic granulomatosis with polyangiitis") != "true"
    assert _v("Buerger disease", "IgA nephropathy") != "true"
    assert compare("Berger disease", "IgA nephropathy").outcome == "match"


def test_importer_uses_the_matcher():
    from synth.cases.importers import SkipRecord, _mcq_answer

    options = {"A": "IgA vasculitis", "B": "Kawasaki disease", "C": "Immune thrombocytopenia"}
    answer = _mcq_answer(options, "A", "Henoch-Schonlein vasculitis")
    assert answer.diagnosis == "IgA vasculitis" and answer.aliases == ["Henoch-Schonlein vasculitis"]
    with pytest.raises(SkipRecord, match=r"^answer_mismatch: .*Kawasaki"):
        _mcq_answer(options, "B", "Henoch-Schonlein vasculitis")


# --- hedges, relations, plurals, abbreviations, drugs, numbers ----------------------------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        "possibly acute pancreatitis",
        "?acute pancreatitis",
        "acute pancreatitis ruled out",
        "acute pancreatitis unlikely",
        "acute pancreatitis or acute cholecystitis",
        "family history of acute pancreatitis",
    ],
)
def test_hedged_or_related_answers_do_not_verify(candidate):
    assert _v(candidate, "acute pancreatitis") != "true"


def test_relation_words():
    assert _v("hepatitis B vaccine", "hepatitis B") != "true"
    assert _v("HIV negative", "HIV") != "true"
    assert _v("sickle cell trait", "sickle cell") != "true"


@pytest.mark.parametrize(
    ("candidate", "reference", "verdict"),
    [
        ("renal calculi", "renal calculus", "true"),
        ("bone metastases", "bone metastasis", "true"),
        ("colonic diverticula", "colonic diverticulum", "true"),
        ("renal cysts", "renal calculi", "false"),
        ("hydroxyzine", "hydralazine", "false"),
        ("chlorpromazine", "chlorpropamide", "false"),
        ("Metoprolol succinate", "metoprolol", "true"),
        ("> 5.5 mmol/L", "< 5.5 mmol/L", "false"),
        ("1-2 mg", "2-3 mg", "false"),
    ],
)
def test_other_classes(candidate, reference, verdict):
    assert _v(candidate, reference) == verdict


# --- the whole adversarial file -------------------------------------------------------------------------

# accuracy floors per class (measured 99-100%; the floors leave room only for deliberate trade-offs)
FLOORS = collections.defaultdict(lambda: 0.95, {"misspelling": 0.93, "eponym_renamed": 0.95})


def test_adversarial_file_has_zero_false_accepts_and_meets_the_floors():
    rows = [json.loads(line) for line in ADVERSARIAL.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 3000
    by_class: dict[str, list[bool]] = collections.defaultdict(list)
    false_accepts = []
    for row in rows:
        verdict = _v(row["candidate"], row["reference"], row["aliases"])
        if verdict == "true" and not row["label"]:
            false_accepts.append((row["candidate"], row["reference"]))
        by_class[row["class"]].append(verdict == "true" if row["label"] else verdict != "true")
    assert false_accepts == []
    assert len(by_class) >= 15
    for cls, oks in by_class.items():
        assert sum(oks) / len(oks) >= FLOORS[cls], cls
    labels = collections.Counter((r["class"], r["label"]) for r in rows)
    assert all(labels[(cls, True)] and labels[(cls, False)] for cls in by_class)  # both kinds in every class
