"""Clinically plausible case drafts for the stub server, built from small vocabulary tables.

The stub answers a case-synthesis request (a json_schema with opening_statement, facts, exam, tests,
differential) with a card a careful model could have written: distinct facts with clinical content in several
categories, lay wording a patient would use, distinct exam and test entries, and a differential of real
diagnosis names. Everything is drawn deterministically from the request's hash, so two requests give two
different cards and the same request always gives the same card.

The tables name no target diagnosis: facts describe symptoms, habits, medicines and family history, never a
disease the sampler could draw. As a second guard, any entry that shares a word with the drawn diagnosis (read
from the prompt) is skipped, so the differential never repeats the answer and no fact names it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

# (category, clinical text, lay text); "{n}" is a small number drawn per card.
_FACTS: dict[str, list[tuple[str, str]]] = {
    "history_present_illness": [
        ("Symptoms began {n} days ago and are worsening", "It started {n} days ago and it's getting worse"),
        ("Onset {n} days ago, worse in the evenings", "It began {n} days ago and evenings are the worst"),
        ("Gradual onset over {n} weeks", "It crept up on me over {n} weeks"),
        ("Sudden onset {n} hours before arrival", "It came on all at once {n} hours ago"),
        ("Poor sleep and reduced appetite for {n} days", "I've hardly slept or eaten for {n} days"),
    ],
    "past_medical_history": [
        ("Hypertension on treatment for {n} years", "My blood pressure has been high for {n} years"),
        ("Appendix removed in childhood", "They took my appendix out when I was a kid"),
        ("Knee arthroscopy {n} years ago", "I had keyhole surgery on my knee {n} years ago"),
        ("Raised cholesterol diagnosed {n} years ago", "I was told my cholesterol was up {n} years ago"),
        ("Fractured left wrist {n} years ago", "I broke my left wrist {n} years back"),
    ],
    "medications": [
        ("Takes ramipril 5 mg daily", "I take a small blood pressure tablet every morning"),
        ("Uses ibuprofen as needed, about {n} times a week", "I take ibuprofen maybe {n} times a week"),
        ("Takes atorvastatin 20 mg at night", "I take a cholesterol pill at bedtime"),
        ("No regular medication", "I don't take any tablets"),
        ("Combined oral contraceptive for {n} years", "I've been on the pill for {n} years"),
    ],
    "allergies": [
        ("Penicillin allergy: rash", "Penicillin gives me a rash"),
        ("No known drug allergies", "I'm not allergic to any medicines that I know of"),
        ("Allergic to sticking plasters", "Plasters make my skin itch"),
    ],
    "family_history": [
        ("Father had coronary bypass surgery at {n}0", "My dad had a heart bypass when he was about {n}0"),
        ("Mother has type 2 diabetes", "My mum has sugar diabetes"),
        ("Sister treated for breast cancer", "My sister had breast cancer"),
        ("No significant family history", "Nobody in my family has anything serious"),
    ],
    "social_history": [
        ("Smokes {n}0 cigarettes a day", "I smoke about {n}0 a day"),
        ("Drinks about {n}0 units of alcohol a week", "I have a few drinks most nights"),
        ("Never smoked, rarely drinks", "I've never smoked and hardly drink"),
        ("Works night shifts as a warehouse packer", "I work nights packing boxes in a warehouse"),
        ("Lives alone, retired teacher", "I live on my own since I retired from teaching"),
        ("Recently returned from a trip abroad", "I just got back from a holiday overseas"),
    ],
    "review_of_systems": [
        ("Lost {n} kg in two months unintentionally", "I've lost {n} kilos without trying"),
        ("Night sweats for {n} weeks", "I've been soaking the sheets at night for {n} weeks"),
        ("No change in bowel habit", "My bowels are the same as always"),
        ("Feels more tired than usual", "I'm worn out all the time"),
    ],
}

_OPENINGS = [
    "I've had {complaint} for {n} days and it keeps getting worse.",
    "Doctor, the {complaint} started {n} days ago and I can't shake it.",
    "I'm here because of {complaint}; it's been going on for {n} days.",
    "My {complaint} has been bothering me for {n} days now and I'm worried.",
]
# When the complaint shares a word with the diagnosis, the opening leaves it out.
_OPENINGS_PLAIN = [
    "I haven't felt right for {n} days and it's getting worse.",
    "Something is wrong, doctor: I've felt awful for {n} days.",
]

_EXAM: list[tuple[str, str]] = [
    ("Vital signs", "Temperature 37.{d} C, pulse {p}/min, BP 1{d}8/8{e} mmHg"),
    ("General appearance", "Alert, uncomfortable, speaking in full sentences"),
    ("Chest", "Clear breath sounds throughout, no added sounds"),
    ("Heart", "Regular rhythm, normal heart sounds, no murmur"),
    ("Abdomen", "Soft, no masses, bowel sounds present"),
    ("Skin", "Warm and well perfused, capillary refill 2 s"),
]

_TESTS: list[tuple[str, str]] = [
    ("Full blood count", "White cells 1{d}.{e} x10^9/L, haemoglobin 13{e} g/L"),
    ("C-reactive protein", "{p} mg/L"),
    ("Urea and electrolytes", "Sodium 13{e} mmol/L, creatinine 8{d} umol/L"),
    ("ECG", "Sinus rhythm at {p}/min"),
    ("Chest X-ray", "No consolidation or effusion"),
    ("Urinalysis", "Trace protein, no nitrites"),
]

# Real diagnosis names, none of them a target of the shipped sampler table, grouped loosely by complaint.
_DIFFERENTIAL: dict[str, list[str]] = {
    "chest": ["pericarditis", "costochondritis", "pulmonary embolism", "gastro-oesophageal reflux"],
    "palpitation": ["panic disorder", "sinus tachycardia", "supraventricular tachycardia"],
    "breath": ["pulmonary embolism", "heart failure", "bronchiectasis", "pleural effusion"],
    "cough": ["post-nasal drip", "bronchiectasis", "gastro-oesophageal reflux", "whooping cough"],
    "abdominal": ["mesenteric adenitis", "peptic ulcer", "diverticulitis", "gastroenteritis"],
    "diarrh": ["giardiasis", "microscopic colitis", "ulcerative colitis", "lactose intolerance"],
    "headache": ["cluster headache", "medication overuse headache", "sinusitis", "temporal arteritis"],
    "weak": ["hypokalaemia", "multiple sclerosis", "peripheral neuropathy", "polymyositis"],
    "fatigue": ["obstructive sleep apnoea", "vitamin B12 deficiency", "chronic kidney disease"],
    "weight": ["lymphoma", "colorectal cancer", "anorexia nervosa", "HIV infection"],
    "swelling": ["deep vein thrombosis", "heart failure", "venous insufficiency", "lymphoedema"],
    "urination": ["urethritis", "prostatitis", "vaginitis", "bladder stone"],
    "flank": ["pyelonephritis", "musculoskeletal back pain", "shingles", "renal infarction"],
    "fever": ["dengue fever", "infectious mononucleosis", "typhoid fever", "COVID-19"],
    "rash": ["eczema", "scabies", "tinea corporis", "pityriasis rosea"],
    "joint": ["septic arthritis", "osteoarthritis", "reactive arthritis", "pseudogout"],
    "pallor": ["thalassaemia trait", "vitamin B12 deficiency", "anaemia of chronic disease"],
    "mood": ["adjustment disorder", "generalised anxiety disorder", "bereavement", "hypothyroid state"],
    "pelvic": ["pelvic inflammatory disease", "ruptured ovarian cyst", "miscarriage", "uterine fibroids"],
    "eye": ["episcleritis", "scleritis", "anterior uveitis", "subconjunctival haemorrhage"],
    "dizz": ["vestibular neuritis", "Meniere disease", "orthostatic hypotension", "labyrinthitis"],
}
_DIFFERENTIAL_ANY = ["viral syndrome", "anxiety disorder", "hypokalaemia", "dehydration"]

# A clinician's word in a chief complaint, as a patient would say it in the opening.
_LAY = {
    "pallor": "paleness",
    "palpitations": "a racing heart",
    "abdominal": "tummy",
    "diarrhea": "the runs",
    "diarrhoea": "the runs",
    "urination": "peeing",
    "flank": "side",
    "pelvic": "lower belly",
}
# Words of a diagnosis name that say nothing about which disease it is: sharing them is no repetition.
_GENERIC = frozenset({"disease", "disorder", "syndrome", "acute", "chronic", "type", "primary", "infection"})

_DX = re.compile(r"case of (.+?) \((?:common|rare)", re.I)
_COMPLAINT = re.compile(r"main complaint is (.+?)\.\s*$", re.I | re.M)
_WORD = re.compile(r"[a-z0-9]+")
CASE_FIELDS = frozenset({"opening_statement", "facts", "exam", "tests", "differential"})


def is_case_schema(schema: dict[str, Any]) -> bool:
    return set(schema.get("properties") or {}) >= CASE_FIELDS


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _GENERIC}


def _lay(complaint: str) -> str:
    return " ".join(_LAY.get(w.lower(), w) for w in complaint.split())


class _Draw:
    """Deterministic choices from one request hash."""

    def __init__(self, seed: str):
        self.seed = seed
        self.k = 0

    def num(self, n: int) -> int:
        self.k += 1
        h = hashlib.blake2b(f"{self.seed}|{self.k}".encode(), digest_size=6).digest()
        return int.from_bytes(h, "big") % n

    def sample(self, pool: list[Any], k: int) -> list[Any]:
        left = list(pool)
        return [left.pop(self.num(len(left))) for _ in range(min(k, len(left)))]


def case_draft(seed: str, prompt: str) -> dict[str, Any]:
    """A CaseDraft-shaped dict for the case the prompt asks for, varied by `seed`."""
    dx_match = _DX.search(prompt)
    diagnosis = dx_match.group(1).strip() if dx_match else "unspecified condition"
    complaint_match = _COMPLAINT.search(prompt)
    complaint = complaint_match.group(1).strip() if complaint_match else ""
    lay_complaint = _lay(complaint)
    banned = _words(diagnosis)
    d = _Draw(seed)

    def ok(text: str) -> bool:
        return not (_words(text) & banned)

    def fill(template: str) -> str:
        n, p = 2 + d.num(7), 70 + d.num(40)
        return template.format(n=n, d=d.num(9), e=d.num(9), p=p, complaint=lay_complaint)

    openings = [o for o in _OPENINGS if complaint and ok(complaint)] or _OPENINGS_PLAIN
    opening = fill(openings[d.num(len(openings))])

    categories = d.sample(list(_FACTS), 3 + d.num(3))  # 3 to 5 categories, one fact each
    if "history_present_illness" not in categories:
        categories[0] = "history_present_illness"
    facts = []
    for i, cat in enumerate(categories):
        options = [f for f in _FACTS[cat] if ok(f[0]) and ok(f[1])]
        text, lay = options[d.num(len(options))]
        n = 2 + d.num(7)
        facts.append(
            {
                "category": cat,
                "text": text.format(n=n),
                "lay_text": lay.format(n=n),
                "key": i == 0,
            }
        )

    exam = [{"name": n, "result": fill(r)} for n, r in d.sample(_EXAM, 1 + d.num(3))]
    tests = [{"name": n, "result": fill(r)} for n, r in d.sample(_TESTS, 1 + d.num(3))]

    group = next((v for k, v in _DIFFERENTIAL.items() if k in complaint.lower()), _DIFFERENTIAL_ANY)
    near = [x for x in group if ok(x)]
    pool = list(dict.fromkeys(near + [x for x in _DIFFERENTIAL_ANY if ok(x)]))
    differential = d.sample(pool[: max(len(near), 3)], 2 + d.num(2))

    return {
        "opening_statement": opening,
        "facts": facts,
        "exam": exam,
        "tests": tests,
        "differential": differential,
        "diagnosis": diagnosis[:60],
    }
