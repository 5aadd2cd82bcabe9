"""Case-card gates: the checks a hidden case must pass before anything is built on it, each with a code.

A card is gated where it enters the engine (synthesis quarantines it, `synth cases import` skips it), in
`synth filter` (stage `case_gates`, reasons in the ledger) and again at publish time. `gate_card` returns
every problem found as a `GateProblem(code, detail)`; its text form `code: detail` is what the quarantine,
the import skip list and the ledger carry, joined with "; " when there are several, so `gate_codes` reads the
codes back. The text rules themselves are in synth/cases/textrules.py.

| code | the card is rejected when |
|---|---|
| duplicate_facts | two facts say the same (equal or near-equal clinical text, or long patient wording) |
| duplicate_findings | two exam or test entries are the same (name and result, or a long result copied) |
| empty_fact | a fact's text or patient wording has no content word (placeholders, a lone fragment) |
| echoes_prompt | a synthesized card copies the synthesis prompt back (four words in a row of it) |
| names_diagnosis | the opening statement or a fact names the diagnosis or an alias, spelling variants and
  abbreviations included ("benign paroxysmmal positional vertigo", "BPPV") |
| differential_not_diagnosis | a differential entry is a sentence, a placeholder, a fragment, odd characters |
| differential_repeats_answer | a differential entry is the answer itself (or an alias, or a variant of it) |
| lay_text_not_lay | the patient's wording (lay texts; the opening of the engine's own cards) is clinical |
| too_thin | fewer distinct facts with content than the profile's minimum |
| no_findings | no exam finding and no test result (tolerated for imported MCQ-style cases) |

What a card must meet depends on where it came from (`profile_for`): imported public cases (AgentClinic,
MediQ, MedQA) keep their clinical third-person wording, may lack findings and may have a single fact; the
engine's own cards (synthesized, seeds) must meet everything, and synthesized ones are also compared with the
prompt that made them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from schemas.case import CaseCard, Fact, Finding
from synth.cases.textrules import (
    EN_STOP,
    clinical_wording,
    content_words,
    diagnosis_variants,
    is_empty,
    mentions,
    near_same,
    not_a_diagnosis,
    repeats_answer,
)
from synth.quality.text import normalise, words

GateCode = Literal[
    "duplicate_facts",
    "duplicate_findings",
    "empty_fact",
    "echoes_prompt",
    "names_diagnosis",
    "differential_not_diagnosis",
    "differential_repeats_answer",
    "lay_text_not_lay",
    "too_thin",
    "no_findings",
]
CODES: tuple[str, ...] = GateCode.__args__  # type: ignore[attr-defined]

IMPORTED_SOURCES = frozenset({"agentclinic", "mediq", "medqa"})


@dataclass(frozen=True)
class GateProblem:
    code: GateCode
    detail: str

    def __str__(self) -> str:
        # "; " separates problems in a message: a detail never contains it, so the codes parse back.
        return f"{self.code}: {self.detail.replace(';', ',')}"


@dataclass(frozen=True)
class GateProfile:
    """What a card must meet; `profile_for` picks it from the card's source."""

    min_facts: int = 3
    require_findings: bool = True
    lay_opening: bool = True  # the opening statement is the patient's own words
    prompt_echo: bool = False  # compare with the synthesis prompt (synthesized cards only)


def profile_for(card: CaseCard, min_facts: int | None = None) -> GateProfile:
    if card.source.dataset in IMPORTED_SOURCES:
        # Public MCQ vignettes: clinical third-person sentences, often no exam or tests, sometimes one fact.
        return GateProfile(min_facts=min_facts or 1, require_findings=False, lay_opening=False)
    synthetic = card.source.dataset == "synthetic"
    return GateProfile(min_facts=min_facts or 3, prompt_echo=synthetic)


def format_problems(problems: list[GateProblem]) -> str:
    return "; ".join(str(p) for p in problems)


_CODE_AT = re.compile(r"(?:^|; )([a-z_]+): ")


def gate_codes(message: str) -> list[str]:
    """The gate codes of a message written by `format_problems` (a quarantine message, a ledger reason)."""
    return [c for c in _CODE_AT.findall(message) if c in CODES]


def _clip(text: str, n: int = 50) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[: n - 1] + "…")


# ------------------------------------------------------------------------------------------ duplicates


def _duplicate_pairs(items: list[tuple[str, str]], min_words: int = 3) -> list[tuple[str, str]]:
    pairs = []
    for i, (ida, a) in enumerate(items):
        for idb, b in items[i + 1 :]:
            if near_same(a, b, min_words):
                pairs.append((ida, idb))
                break
    return pairs


def _finding_key(f: Finding) -> str:
    return f"{f.name} {f.result}"


def _duplicate_findings(card: CaseCard) -> list[str]:
    rows = [(f"exam {f.name!r}", f) for f in card.exam] + [(f"test {t.name!r}", t) for t in card.tests]
    out = []
    for i, (wa, a) in enumerate(rows):
        for wb, b in rows[i + 1 :]:
            ra, rb = normalise(a.result), normalise(b.result)
            # A long result copied under another name is one finding twice, whatever the names say.
            same_long_result = len(content_words(ra)) >= 5 and near_same(ra, rb, min_words=5)
            if (
                same_long_result
                or near_same(_finding_key(a), _finding_key(b), min_words=4)
                or (normalise(_finding_key(a)) == normalise(_finding_key(b)))
            ):
                out.append(f"{wa} and {wb}")
                break
    return out


# ------------------------------------------------------------------------------------------- content


# ---------------------------------------------------------------------------------- naming the diagnosis


# ------------------------------------------------------------------------------------------ differential


# ------------------------------------------------------------------------------------------ lay wording


# ------------------------------------------------------------------------------------------ the prompt


@cache
def _prompt_text() -> tuple[str, str]:
    from synth.prompts import load_template

    t = load_template("case_synthesis")
    return t.system, t.user


_VAR = re.compile(r"{{\s*(\w+)\s*}}")
# Prompt words that clinical text uses anyway ("a 40-year-old male whose ..."): an echo needs another one.
_PLAIN_PROMPT_WORDS = frozenset(
    {"year", "old", "patient", "patients", "male", "female", "whose", "case", "history"}
)


def _prompt_ngrams(card: CaseCard, n: int = 4) -> set[tuple[str, ...]]:
    """Word n-grams of the synthesis prompt as this card's spec filled it, each with two content words and at
    least one distinctive word of the template itself (so a diagnosis name alone, which the prompt also holds,
    is not an echo — that is `names_diagnosis`'s business — nor is "a 40-year-old male")."""
    values: dict[str, str | None] = {
        "diagnosis": card.answer.diagnosis,
        "prevalence": card.prevalence or "",
        "acuity": card.acuity or "",
        "specialty": card.specialty or "",
        "sex": card.demographics.sex,
    }
    grams: set[tuple[str, ...]] = set()
    for part in _prompt_text():
        seq: list[tuple[str, bool]] = []  # (word, from the template's own text)
        pos = 0
        for m in _VAR.finditer(part):
            seq += [(w, True) for w in words(part[pos : m.start()])]
            value = values.get(m.group(1))
            # An unknown value (the complaint, the age) breaks the sequence: no n-gram spans it.
            seq += [(w, False) for w in words(value)] if value is not None else [("\0", False)]
            pos = m.end()
        seq += [(w, True) for w in words(part[pos:])]
        for i in range(len(seq) - n + 1):
            g = seq[i : i + n]
            ws = tuple(w for w, _ in g)
            if "\0" in ws:
                continue
            literal = any(lit and w not in EN_STOP and w not in _PLAIN_PROMPT_WORDS for w, lit in g)
            if literal and sum(w not in EN_STOP for w in ws) >= 2:
                grams.add(ws)
    return grams


def echoes(text: str, grams: set[tuple[str, ...]], n: int = 4) -> str | None:
    ws = words(text)
    for i in range(len(ws) - n + 1):
        if tuple(ws[i : i + n]) in grams:
            return " ".join(ws[i : i + n])
    return None


# ------------------------------------------------------------------------------------------ the gates


def _where(items: list[str]) -> str:
    return ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def gate_card(card: CaseCard, profile: GateProfile | None = None) -> list[GateProblem]:
    """Every gate `card` fails, one problem per code, in the table's order (empty: the card passes)."""
    p = profile or profile_for(card)
    out: list[GateProblem] = []
    facts = card.facts

    dups = _duplicate_pairs([(f.id, f.text) for f in facts])
    lay = [(f.id, f.lay_text) for f in facts if f.lay_text]
    dups += [(a, b) for a, b in _duplicate_pairs(lay, min_words=4) if (a, b) not in dups]
    if dups:
        out.append(
            GateProblem(
                "duplicate_facts", "facts " + _where([f"{a} and {b}" for a, b in dups]) + " say the same"
            )
        )
    fdups = _duplicate_findings(card)
    if fdups:
        out.append(GateProblem("duplicate_findings", _where(fdups) + " are the same"))

    empty = _empty_facts(facts)
    if empty:
        out.append(GateProblem("empty_fact", _where(list(empty.values())) + " without clinical content"))

    if p.prompt_echo:
        grams = _prompt_ngrams(card)
        hits = [(w, hit) for w, t in _texts(card) if (hit := echoes(t, grams))]
        if hits:
            where = _where([w for w, _ in hits])
            out.append(GateProblem("echoes_prompt", f"{where} copy the synthesis prompt ({hits[0][1]!r})"))

    variants = diagnosis_variants([card.answer.diagnosis, *card.answer.aliases])
    named = []
    if hit := mentions(card.opening_statement, variants):
        named.append(f"opening statement names the diagnosis ({hit!r})")
    for f in facts:
        for t in (f.text, f.lay_text or ""):
            if hit := mentions(t, variants):
                named.append(f"fact {f.id} names the diagnosis ({hit!r})")
                break
    if named:
        out.append(GateProblem("names_diagnosis", _where(named)))

    not_dx = [(d.diagnosis, why) for d in card.answer.differential if (why := not_a_diagnosis(d.diagnosis))]
    if not_dx:
        out.append(
            GateProblem(
                "differential_not_diagnosis",
                f"{_clip(not_dx[0][0])}: {not_dx[0][1]}"
                + (f" (and {len(not_dx) - 1} more)" if len(not_dx) > 1 else ""),
            )
        )
    repeat = [d.diagnosis for d in card.answer.differential if repeats_answer(d.diagnosis, variants)]
    if repeat:
        out.append(GateProblem("differential_repeats_answer", f"{_clip(repeat[0])} is the answer"))

    lay_bad = [
        (f"fact {f.id} lay text", why) for f in facts if f.lay_text and (why := clinical_wording(f.lay_text))
    ]
    if p.lay_opening and (why := clinical_wording(card.opening_statement)):
        lay_bad.insert(0, ("opening statement", why))
    if lay_bad:
        out.append(GateProblem("lay_text_not_lay", f"{_where([w for w, _ in lay_bad])}: {lay_bad[0][1]}"))

    distinct = _distinct_content_facts(facts, set(empty))
    if distinct < p.min_facts:
        out.append(GateProblem("too_thin", f"{distinct} distinct facts with content (minimum {p.min_facts})"))
    if p.require_findings and not card.exam and not card.tests:
        out.append(GateProblem("no_findings", "no exam findings or test results to support the diagnosis"))
    return out


def _texts(card: CaseCard) -> list[tuple[str, str]]:
    out = [("opening statement", card.opening_statement)]
    for f in card.facts:
        out += [(f"fact {f.id}", f.text)] + ([(f"fact {f.id} lay text", f.lay_text)] if f.lay_text else [])
    out += [(f"exam {f.name!r}", _finding_key(f)) for f in card.exam]
    out += [(f"test {t.name!r}", _finding_key(t)) for t in card.tests]
    out += [(f"differential {_clip(d.diagnosis, 30)}", d.diagnosis) for d in card.answer.differential]
    return out


def _empty_facts(facts: list[Fact]) -> dict[str, str]:
    """fact id -> where and what, for facts whose text or patient wording has no content."""
    out = {}
    for f in facts:
        if is_empty(f.text):
            out[f.id] = f"fact {f.id} ({_clip(f.text, 30)})"
        elif f.lay_text is not None and is_empty(f.lay_text):
            out[f.id] = f"fact {f.id} lay text ({_clip(f.lay_text, 30)})"
    return out


def _distinct_content_facts(facts: list[Fact], empty_ids: set[str]) -> int:
    kept: list[str] = []
    for f in facts:
        if f.id in empty_ids or is_empty(f.text):
            continue
        if not any(near_same(f.text, k) for k in kept):
            kept.append(f.text)
    return len(kept)
