"""The doctor's snapshot contract: what a differential and a final diagnosis must look like, and how each
breach is named.

A snapshot is 1-4 entries {diagnosis, probability}. It must hold *distinct* diagnoses (distinct by the
verifier's own matcher, `schemas.matching.lexical.compare`: "match" means the same disease, so
"appendicitis" and "acute appendicitis" are one entry twice), probabilities that add up to at most 1 (within
`SUM_TOLERANCE`, for rounding: 0.34 + 0.33 + 0.34 passes), short names rather than sentences, most likely
first. A final diagnosis must come as a short name (`diagnosis`), its plan and what the doctor tells the
patient apart.

The director re-asks a turn that breaks the contract (a new request with the error, bounded); what still breaks
it is kept as written and flagged — never repaired here, so the record shows what the doctor actually wrote.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas.consultation import NameSource, SnapshotFlag
from schemas.matching.lexical import compare, tokens

SUM_TOLERANCE = 0.02  # rounding slack on "add up to at most 1"
MAX_NAME_WORDS = 8  # "non ST elevation myocardial infarction of the inferior wall" is 8

_WORD = re.compile(r"[a-z0-9]+")
# Words that make a clause, not a name: pronouns, auxiliaries, verbs of belief, connectives. Hedges such as
# "likely" or "possible" are left out: "possible appendicitis" is a (hedged) name, not a sentence.
_SENTENCE_WORDS = frozenset(
    "i we you he she they it is are was were am be has have had think suspect believe because given since"  # noqa: SIM905
    " patient patients suggests suggestive consistent would should could".split()
)
_INNER_STOP = re.compile(r"[.!?;:]\s+\S")  # a sentence boundary inside the text
_NEGATION = frozenset("not no unlikely excluded exclude ruled rule without".split())  # noqa: SIM905


class Entry(Protocol):
    """A DDx entry: the doctor's DDxGuess or a stored DDxItem."""

    @property
    def diagnosis(self) -> str: ...
    @property
    def probability(self) -> float: ...


@dataclass(frozen=True)
class Problem:
    flag: SnapshotFlag
    message: str  # what the doctor is told when the turn is re-asked


def is_diagnosis_name(text: str) -> bool:
    """A short name ("acute appendicitis"), not a sentence ("I think it is appendicitis")."""
    words = _WORD.findall(text.lower())
    if not words or len(words) > MAX_NAME_WORDS:
        return False
    return not (_SENTENCE_WORDS.intersection(words) or _INNER_STOP.search(text.strip()))


def leader_index(ddx: Sequence[Entry]) -> int | None:
    """Position of the most probable entry (the first of ties), whatever order the doctor wrote."""
    if not ddx:
        return None
    return max(range(len(ddx)), key=lambda i: (ddx[i].probability, -i))


def snapshot_problems(ddx: Sequence[Entry]) -> list[Problem]:
    """Every way the differential breaks the contract, one Problem per flag (the first instance named)."""
    out: list[Problem] = []
    names = [d.diagnosis for d in ddx]
    dup = next(
        ((a, b) for i, a in enumerate(names) for b in names[i + 1 :] if compare(a, b).outcome == "match"),
        None,
    )
    if dup is not None:
        out.append(
            Problem(
                "duplicate_diagnoses",
                f'"{dup[0]}" and "{dup[1]}" are the same diagnosis: list each diagnosis once',
            )
        )
    total = sum(d.probability for d in ddx)
    if total > 1 + SUM_TOLERANCE:
        out.append(
            Problem(
                "probability_sum_above_one",
                f"the probabilities add up to {total:.2f}: together they must add up to at most 1",
            )
        )
    long = next((n for n in names if not is_diagnosis_name(n)), None)
    if long is not None:
        out.append(
            Problem(
                "sentence_name",
                f'"{long}" is not a diagnosis name: give each entry as a short name of a few words',
            )
        )
    probs = [d.probability for d in ddx]
    if any(a < b for a, b in itertools.pairwise(probs)):
        out.append(
            Problem("unsorted", "list the most likely diagnosis first, then in decreasing probability")
        )
    return out


def final_problems(diagnosis: str, text: str) -> list[Problem]:
    """A final diagnosis needs a short name, in its `diagnosis` field (or, failing that, as its text)."""
    if is_diagnosis_name(diagnosis) or is_diagnosis_name(text):
        return []
    return [
        Problem(
            "final_is_sentence",
            'give the final diagnosis as a short name in "diagnosis" (a few words, like a differential '
            'entry); what you tell the patient goes in "text" and the management in "plan"',
        )
    ]


@dataclass(frozen=True)
class FinalName:
    name: str
    source: NameSource
    flags: list[SnapshotFlag]


def _extract(sentence: str, ddx: Sequence[Entry]) -> str | None:
    """The one differential entry a sentence names, or None when it names none, several, or negates."""
    words = set(_WORD.findall(sentence.lower()))
    if words & _NEGATION:  # "not appendicitis but ..." must not become "appendicitis"
        return None
    have = set(tokens(sentence))
    found: list[str] = []
    for d in ddx:
        want = set(tokens(d.diagnosis))
        named = want and want <= have and is_diagnosis_name(d.diagnosis)
        if named and not any(compare(d.diagnosis, f).outcome == "match" for f in found):
            found.append(d.diagnosis)
    return found[0] if len(found) == 1 else None


def final_name(diagnosis: str, text: str, ddx: Sequence[Entry], committed: bool) -> FinalName:
    """The final diagnosis name of a doctor turn, and where it came from.

    `committed`: the doctor chose the final act. A doctor told to commit that asked again instead is taken at
    its leading differential entry (source "leader"; flagged when that entry is a sentence). Otherwise its `diagnosis` field, else its text when
    that is a name; else the one differential entry its sentence names (flagged `final_is_sentence`); else
    the sentence itself, flagged, for the verifier to judge (a sentence rarely matches: "unsure" at worst).
    """
    if not committed:
        i = leader_index(ddx)
        if i is not None:
            leader = ddx[i].diagnosis.strip()
            return FinalName(leader, "leader", [] if is_diagnosis_name(leader) else ["final_is_sentence"])
    diagnosis, text = diagnosis.strip(), text.strip()
    if is_diagnosis_name(diagnosis):
        return FinalName(diagnosis, "diagnosis", [])
    if is_diagnosis_name(text):
        return FinalName(text, "text", [])
    sentence = diagnosis or text
    extracted = _extract(sentence, ddx)
    if extracted is not None:
        return FinalName(extracted.strip(), "extracted", ["final_is_sentence"])
    return FinalName(sentence, "sentence", ["final_is_sentence"])


def reask_note(problems: Sequence[Problem]) -> str:
    """The body of the note that re-asks a turn (the template adds the frame)."""
    return "\n".join(f"- {p.message}" for p in problems)
