"""The examiner: answers exam and test requests from the case card, deterministically.

No language model here on purpose: a model asked for "a CBC" on a card without one would invent plausible
numbers, and those hallucinated results would then steer the doctor and end up in the training data. Results
come only from the card; anything the card does not list gets the card's `default_test_result` ("Within normal
limits." unless the case says otherwise), which is what an unremarkable investigation returns.

Matching is on normalised tokens (schemas.matching.lexical.tokens: case, punctuation, plurals, spellings) after a
small synonym table ("full blood count" → cbc, "EKG" → ecg); a requested name matches a card name when the two
token sets are equal or one contains the other ("troponin" ↔ "Troponin I", "chest x-ray" ↔ "Chest X-ray PA").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from schemas.case import CaseCard, Finding
from schemas.matching.lexical import tokens

# Requested wording → the canonical name the card is likely to use (both sides are normalised through it).
_TEST_SYNONYMS = {
    "complete blood count": "cbc",
    "full blood count": "cbc",
    "fbc": "cbc",
    "blood count": "cbc",
    "electrocardiogram": "ecg",
    "ekg": "ecg",
    "chest radiograph": "chest xray",
    "chest x ray": "chest xray",
    "cxr": "chest xray",
    "x ray": "xray",
    "basic metabolic panel": "bmp",
    "comprehensive metabolic panel": "cmp",
    "urea and electrolytes": "electrolyte",
    "u e": "electrolyte",
    "liver function test": "lft",
    "liver function": "lft",
    "arterial blood gas": "abg",
    "urinalysis": "urine analysis",
    "ua": "urine analysis",
    "urine dipstick": "urine analysis",
    "c reactive protein": "crp",
    "erythrocyte sedimentation rate": "esr",
    "thyroid stimulating hormone": "tsh",
    "computed tomography": "ct",
    "cat": "ct",
    "magnetic resonance imaging": "mri",
    "ultrasound": "us",
    "ultrasonography": "us",
    "sonography": "us",
    "echocardiogram": "echo",
    "echocardiography": "echo",
    "hemoglobin a1c": "hba1c",
    "glycated hemoglobin": "hba1c",
    "vital sign": "vitals",
    "d dimer": "ddimer",
    "blood glucose": "glucose",
    "blood sugar": "glucose",
    "abdominal": "abdomen",
    "pulmonary": "lung",
    "respiratory": "lung",
    "neurological": "neuro",
    "neurologic": "neuro",
}
# Words that say "an investigation" without saying which one.
_GENERIC = {
    "test",
    "level",
    "study",
    "scan",
    "imaging",
    "lab",
    "laboratory",
    "check",
    "measurement",
    "serum",
} | {
    "exam",
    "examination",
}
_WHOLE_EXAM = {
    "physical exam",
    "physical examination",
    "exam",
    "examination",
    "full exam",
    "full examination",
    "general exam",
    "general examination",
    "clinical examination",
}
_WHOLE_EXAM_NORMALISED = {" ".join(tokens(w)) for w in _WHOLE_EXAM}
_EXAM_WORDS = {"exam", "examination", "auscultation", "palpation", "inspection", "percussion"}
_SPLIT = re.compile(r"[,;\n]+")
_SYNONYMS_NORMALISED: list[tuple[str, str]] = []


def _synonyms() -> list[tuple[str, str]]:
    if not _SYNONYMS_NORMALISED:
        pairs = [(f" {' '.join(tokens(k))} ", f" {' '.join(tokens(v))} ") for k, v in _TEST_SYNONYMS.items()]
        _SYNONYMS_NORMALISED.extend(sorted(pairs, key=lambda p: -len(p[0])))
    return _SYNONYMS_NORMALISED


def test_tokens(name: str) -> frozenset[str]:
    text = " " + " ".join(tokens(name)) + " "
    for long, short in _synonyms():
        text = text.replace(long, short)
    words = text.split()
    specific = [w for w in words if w not in _GENERIC]
    return frozenset(specific or words)


def split_requests(text: str, limit: int) -> list[str]:
    """The doctor's comma-separated request text as a list of names (at most `limit`)."""
    names = [n.strip(" .") for n in _SPLIT.split(text)]
    return [n for n in names if n][:limit]


@dataclass(frozen=True)
class Result:
    requested: str
    findings: tuple[Finding, ...]  # empty: not on the card, the default result applies

    def render(self, default: str) -> str:
        if not self.findings:
            return f"{self.requested}: {default}"
        return "; ".join(f"{f.name}: {f.result}" for f in self.findings)


# A card's finding names are tokenised for every consultation over it (several per case): once is enough.
_name_tokens = lru_cache(maxsize=8192)(test_tokens)


class Examiner:
    def __init__(self, card: CaseCard):
        self.card = card
        self._exam = [(_name_tokens(f.name), f) for f in card.exam]
        self._tests = [(_name_tokens(f.name), f) for f in card.tests]

    def lookup(self, requested: str) -> Result:
        words = set(tokens(requested))
        if " ".join(tokens(requested)) in _WHOLE_EXAM_NORMALISED:
            return Result(requested, tuple(self.card.exam))
        want = test_tokens(requested)
        if not want:
            return Result(requested, ())
        # "abdominal exam" looks only at exam findings; a named test looks at tests first, and at exam
        # findings only when every requested word is in the finding's name ("blood pressure", "vitals").
        if not words & _EXAM_WORDS:
            hits = [f for have, f in self._tests if want <= have or (have and have <= want)]
            if hits:
                return Result(requested, tuple(hits))
            return Result(requested, tuple(f for have, f in self._exam if want <= have))
        hits = []
        for have, finding in self._exam:
            system = test_tokens(finding.system) if finding.system else frozenset()
            if want <= have or (have and have <= want) or (system and want <= system):
                hits.append(finding)
        return Result(requested, tuple(hits))

    def answer(self, requests: list[str]) -> str:
        """One examiner turn's text for all requested names."""
        return "\n".join(self.lookup(r).render(self.card.default_test_result) for r in requests)
