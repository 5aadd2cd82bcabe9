"""Exact diagnosis matching in running text: the patient simulator and the leakage stage use it on every turn.

Matching is on normalised words (case, punctuation, hyphens) at word boundaries, over the diagnosis and its
aliases, so "appendicitis" is caught in "I think it's appendicitis" but "AF" is not caught inside "after".
A card's own checks (the gates, with spelling variants and abbreviations) are in synth/cases/gates.py.
"""

from __future__ import annotations

import re

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
