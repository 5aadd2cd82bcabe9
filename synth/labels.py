"""Specialty and sub-specialty labels for every published row, with where each label came from.

- A consultation (and its case) takes its specialty from the case card (`label_source: case_card`); its
  sub-specialty from the keyword rules below over the card's diagnosis, within that specialty.
- A problem (question, its traces, its rl row) has no card: both labels come from the keyword rules over the
  question and the ground truth (`label_source: keywords`); a question no rule matches is labelled
  `general` with `label_source: none`, never guessed.
- An external row mixed in keeps its own labels when it has them (`label_source: external`).

The rules are whole-word, case-insensitive matches; the specialty with the most matching keywords wins, ties
broken by the order below (so a label never depends on dict or set order). They are deliberately a short,
readable list — a coarse curriculum signal, not a coding system: a misplaced question lands in the
wrong stage of a curriculum, which costs little; the labels never decide a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

GENERAL = "general"

#: specialty -> sub-specialty -> keywords (the specialty's own keywords are the union of its sub-specialties')
RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "cardiology": {
        "electrophysiology": (
            "atrial fibrillation",
            "arrhythmia",
            "palpitations",
            "qt",
            "bradycardia",
            "tachycardia",
            "heart block",
            "wolff-parkinson-white",
            "flutter",
        ),
        "coronary disease": ("myocardial infarction", "angina", "troponin", "st elevation", "coronary"),
        "heart failure and valves": (
            "heart failure",
            "ejection fraction",
            "aortic stenosis",
            "murmur",
            "cardiomyopathy",
            "valve",
            "mitral",
            "pericarditis",
            "endocarditis",
        ),
    },
    "pulmonology": {
        "airways": ("asthma", "copd", "wheeze", "bronchiectasis", "spirometry"),
        "pulmonary vascular and infection": (
            "pulmonary embolism",
            "pneumonia",
            "tuberculosis",
            "pleural effusion",
            "pneumothorax",
            "sarcoidosis",
        ),
    },
    "gastroenterology": {
        "hepatology": ("hepatitis", "cirrhosis", "jaundice", "liver", "bilirubin", "ascites"),
        "luminal": (
            "crohn",
            "ulcerative colitis",
            "peptic ulcer",
            "celiac",
            "coeliac",
            "dysphagia",
            "gastroesophageal reflux",
            "appendicitis",
            "pancreatitis",
            "diarrhoea",
            "diarrhea",
        ),
    },
    "nephrology": {
        "kidney disease": (
            "nephrotic",
            "nephritic",
            "glomerulonephritis",
            "creatinine",
            "dialysis",
            "acute kidney injury",
            "renal failure",
            "proteinuria",
        ),
        "electrolytes": ("hyponatremia", "hyponatraemia", "hyperkalemia", "hyperkalaemia", "acidosis"),
    },
    "endocrinology": {
        "diabetes": ("diabetes", "insulin", "metformin", "hba1c", "ketoacidosis", "hypoglycemia"),
        "thyroid and adrenal": (
            "thyroid",
            "hyperthyroidism",
            "hypothyroidism",
            "graves",
            "cushing",
            "addison",
            "cortisol",
            "pheochromocytoma",
            "adrenal",
        ),
        "pituitary and bone": ("prolactin", "pituitary", "acromegaly", "osteoporosis", "calcium"),
    },
    "hematology": {
        "anaemia": (
            "anemia",
            "anaemia",
            "iron deficiency",
            "b12",
            "sickle cell",
            "thalassemia",
            "haemolysis",
            "hemolysis",
        ),
        "haemato-oncology and clotting": (
            "leukemia",
            "leukaemia",
            "lymphoma",
            "myeloma",
            "thrombocytopenia",
            "hemophilia",
            "haemophilia",
            "warfarin",
            "heparin",
            "dvt",
        ),
    },
    "infectious disease": {
        "infection": (
            "hiv",
            "malaria",
            "sepsis",
            "meningitis",
            "antibiotic",
            "syphilis",
            "lyme",
            "cellulitis",
            "influenza",
            "covid",
        ),
    },
    "neurology": {
        "cerebrovascular": ("stroke", "transient ischemic attack", "subarachnoid", "hemiparesis"),
        "epilepsy and headache": ("seizure", "epilepsy", "migraine", "headache"),
        "neuromuscular and degenerative": (
            "parkinson",
            "multiple sclerosis",
            "myasthenia",
            "guillain-barre",
            "dementia",
            "alzheimer",
            "neuropathy",
        ),
    },
    "psychiatry": {
        "mood and psychosis": ("depression", "bipolar", "schizophrenia", "psychosis", "lithium", "suicide"),
        "anxiety and substance use": ("anxiety", "panic", "alcohol withdrawal", "opioid", "ocd"),
    },
    "obstetrics and gynecology": {
        "obstetrics": (
            "pregnant",
            "pregnancy",
            "preeclampsia",
            "pre-eclampsia",
            "gestation",
            "ectopic",
            "postpartum",
            "labour",
            "labor",
        ),
        "gynecology": ("menstrual", "amenorrhea", "endometriosis", "ovarian", "polycystic ovary", "cervical"),
    },
    "pediatrics": {
        "pediatrics": ("infant", "newborn", "neonate", "toddler", "child", "kawasaki", "croup"),
    },
    "rheumatology": {
        "rheumatology": (
            "rheumatoid",
            "lupus",
            "gout",
            "vasculitis",
            "ankylosing",
            "arthritis",
            "polymyalgia",
            "scleroderma",
        ),
    },
    "dermatology": {
        "dermatology": ("rash", "psoriasis", "eczema", "melanoma", "urticaria", "acne", "pemphigus"),
    },
    "urology": {
        "urology": (
            "prostate",
            "kidney stone",
            "renal colic",
            "hematuria",
            "haematuria",
            "testicular",
            "urinary retention",
        ),
    },
    "ophthalmology": {
        "ophthalmology": ("glaucoma", "retina", "retinal", "cataract", "visual loss", "uveitis"),
    },
    "emergency medicine": {
        "toxicology and trauma": ("overdose", "poisoning", "trauma", "anaphylaxis", "burn", "fracture"),
    },
}


@dataclass(frozen=True)
class Labels:
    specialty: str
    subspecialty: str | None
    source: str  # case_card | keywords | none | external

    def columns(self) -> dict[str, Any]:
        return {"specialty": self.specialty, "subspecialty": self.subspecialty, "label_source": self.source}


@cache
def _patterns() -> dict[tuple[str, str], re.Pattern[str]]:
    return {
        (spec, sub): re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keys) + r")\b", re.IGNORECASE)
        for spec, subs in RULES.items()
        for sub, keys in subs.items()
    }


def _hits(text: str) -> dict[tuple[str, str], int]:
    return {key: n for key, p in _patterns().items() if (n := len(p.findall(text)))}


def _norm_specialty(name: str) -> str:
    return " ".join(name.lower().split())


def subspecialty_of(specialty: str, text: str) -> str | None:
    """The sub-specialty of `specialty` whose keywords `text` matches most (None without a match)."""
    hits = {sub: n for (spec, sub), n in _hits(text).items() if spec == _norm_specialty(specialty)}
    return (
        max(hits, key=lambda s: (hits[s], -list(RULES[_norm_specialty(specialty)]).index(s)))
        if hits
        else None
    )


def label_text(text: str) -> Labels:
    """Keyword rules over free text (a question and its answer)."""
    by_spec: dict[str, int] = {}
    for (spec, _), n in _hits(text).items():
        by_spec[spec] = by_spec.get(spec, 0) + n
    if not by_spec:
        return Labels(GENERAL, None, "none")
    order = list(RULES)
    spec = max(by_spec, key=lambda s: (by_spec[s], -order.index(s)))
    return Labels(spec, subspecialty_of(spec, text), "keywords")


def label_card(card: Any) -> Labels:
    """A case card's own specialty; keyword rules when the card has none."""
    text = f"{card.answer.diagnosis}\n{card.opening_statement}"
    if not card.specialty:
        return label_text(text)
    spec = _norm_specialty(card.specialty)
    return Labels(spec, subspecialty_of(spec, card.answer.diagnosis) if spec in RULES else None, "case_card")


def group_labels(tables: dict[str, dict[str, Any]]) -> dict[str, Labels]:
    """Labels of every group (case id, problem id) of the merged records."""
    out: dict[str, Labels] = {}
    for card in tables.get("cases", {}).values():
        out[card.id] = label_card(card)
    for p in tables.get("problems", {}).values():
        out[p.id] = label_text(f"{p.question}\n{p.ground_truth}")
    for t in tables.get("reasoning", {}).values():
        out.setdefault(t.problem_id, label_text(f"{t.question}\n{t.ground_truth}"))
    return out


def add_label_columns(rows: dict[str, list[dict[str, Any]]], tables: dict[str, dict[str, Any]],
                      views: tuple[str, ...] = ("sft", "dpo", "rl", "rm")) -> None:  # fmt: skip
    """Every view row gets `specialty`, `subspecialty`, `label_source` from its group (in place)."""
    labels = group_labels(tables)
    unknown = Labels(GENERAL, None, "none")
    for view in views:
        for row in rows.get(view, []):
            if "label_source" not in row:  # an external row that brought its own labels keeps them
                row.update(labels.get(row["group"], unknown).columns())


def label_fields() -> list[tuple[str, Any]]:
    """The label columns every view ends with (publish/layout.py)."""
    import pyarrow as pa

    return [("specialty", pa.string()), ("subspecialty", pa.string()), ("label_source", pa.string())]
