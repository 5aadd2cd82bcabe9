"""Consistency checks on a synthesized case: the patient's words never name the diagnosis; findings exist.

Matching is on normalised words (case, punctuation, hyphens) at word boundaries, over the diagnosis and its
aliases, so "appendicitis" is caught in "I think it's appendicitis" but "AF" is not caught inside "after".
"""

from __future__ import annotations

import re

from schemas.case import CaseCard

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def names_diagnosis(text: str, terms: list[str]) -> str | None:
    """The first term (diagnosis or alias) that appears in text as whole words, else None."""
    hay = normalise(text)
    for term in terms:
        needle = normalise(term)
        if needle.strip() and needle in hay:
            return term
    return None


def consistency_problems(card: CaseCard, min_facts: int) -> list[str]:
    terms = [card.answer.diagnosis, *card.answer.aliases]
    problems = []
    hit = names_diagnosis(card.opening_statement, terms)
    if hit:
        problems.append(f"opening statement names the diagnosis ({hit!r})")
    for f in card.facts:
        for text in (f.text, f.lay_text or ""):
            hit = names_diagnosis(text, terms)
            if hit:
                problems.append(f"fact {f.id} names the diagnosis ({hit!r})")
                break
    if len(card.facts) < min_facts:
        problems.append(f"only {len(card.facts)} facts (minimum {min_facts})")
    if not card.exam and not card.tests:
        problems.append("no exam findings or test results to support the diagnosis")
    dx = normalise(card.answer.diagnosis)
    for d in card.answer.differential:
        if normalise(d.diagnosis) == dx:
            problems.append("the differential lists the diagnosis itself")
            break
    return problems
