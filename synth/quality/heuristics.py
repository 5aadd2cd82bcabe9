"""Cheap rules over one record at a time: turn structure, truncation, repetition, empty or boilerplate text,
language. Each drop reason names the rule and the value that broke it, e.g.
"repetition: 0.42 of word 5-grams repeated (max 0.3)".

Consultations (what the simulator produces, synth/dialogue/director.py): the patient opens with the card's
opening statement, then the doctor and the patient or examiner take turns; a system note (premature final,
turn limit, loop) sits between two doctor turns. So the structure rules are: never two doctor turns in a row,
never two patient turns in a row (the patient only answers what was asked), and an examiner turn only right
after a doctor's test request.

Case cards: boilerplate in the opening statement or a fact, and the language score; everything else about
a card is the case gates' stage (synth/quality/cases.py).

Truncation is judged on the text alone (records do not keep the teacher's finish reason), so it is
conservative: a turn of at least six words that ends on a comma, colon, semicolon, dash or open bracket, or
on a word that cannot end an English sentence ("the", "and", "of", ...) without terminal punctuation. A
terse answer ("no medicines", "acute appendicitis") is never taken for a cut one.

The language score (stopword share, see synth.quality.text) is stored in `doc.scores["language_<lang>"]` for
every record; it decides only for texts of at least `_MIN_LANGUAGE_WORDS` words.
"""

from __future__ import annotations

import re
from typing import ClassVar

from schemas.case import CaseCard
from schemas.consultation import Consultation
from schemas.problem import ReasoningTrace, VerifiableProblem
from synth.quality.base import Doc, Filter, StageContext
from synth.quality.config import HeuristicsConfig
from synth.quality.text import language_score, most_repeated, repeated_ngram_ratio, words

_MIN_LANGUAGE_WORDS = 20
_NGRAM = 5

BOILERPLATE = re.compile(
    "|".join(
        [
            r"\bas an ai\b",
            r"\bas a (?:large )?language model\b",
            r"\bi(?:'m| am) (?:just |only )?(?:an ai|a language model|an artificial intelligence)\b",
            r"\bi can(?:not|'t) (?:provide|give|offer) (?:you )?(?:with )?(?:medical|professional|a) (?:advice|diagnosis)",
            r"\bi'?m sorry,? but (?:as an|i can(?:not|'t) (?:help|assist|provide|answer|comply|do that))",
            r"\bplease consult (?:a|your) (?:qualified )?(?:healthcare|medical|health care) (?:professional|provider)",
            r"\bthis is not medical advice\b",
            r"<\|(?:im_start|im_end|endoftext|eot_id)\|>|\[/?inst\]",  # chat-template tokens leaked into text
        ]
    ),
    re.IGNORECASE,
)

# Words an English sentence does not end on: a turn ending on one was cut.
_DANGLING = frozenset(
    "the a an and or but of to in on at for with from by as is are was were be my your his her our their "  # noqa: SIM905
    "this that which who whose because than if when while into about".split()
)
_CUT_PUNCT = tuple(",;:-–—(/&")
_END_PUNCT = tuple(".!?…)]\"'”’*")
_ACTS_TERSE = frozenset({"final_diagnosis", "request_test"})  # a diagnosis or a test list is short by nature


def looks_truncated(text: str) -> str | None:
    """The ending that makes `text` look cut off, or None (conservative, see the module docstring)."""
    t = text.rstrip()
    toks = t.split()
    if len(toks) < 6 or t.endswith(_END_PUNCT):
        return None
    last = re.sub(r"[^\w']", "", toks[-1].lower())
    if t.endswith(_CUT_PUNCT) or last in _DANGLING:
        return repr("…" + t[-20:])
    return None


def _clip(text: str, n: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[: n - 1] + "…")


class HeuristicsFilter(Filter):
    name: ClassVar[str] = "heuristics"

    def __init__(self, cfg: HeuristicsConfig):
        self.cfg = cfg
        self.summary: dict[str, int] = {}

    def check(self, doc: Doc) -> str | None:
        rec = doc.record
        if isinstance(rec, Consultation):
            reason = self._consultation(rec)
        elif isinstance(rec, VerifiableProblem):
            reason = self._problem(rec)
        elif isinstance(rec, ReasoningTrace):
            reason = self._trace(rec)
        elif isinstance(rec, CaseCard):
            reason = self._case(rec)
        else:
            reason = None
        # Scored for every record (the report plots it), whichever rule drops it.
        language = self._language(doc)
        reason = reason or language
        if reason is not None:
            rule = reason.split(":", 1)[0]
            self.summary[rule] = self.summary.get(rule, 0) + 1
        return reason

    # ---------------------------------------------------------------------------------- per record kind

    def _consultation(self, c: Consultation) -> str | None:
        cfg = self.cfg
        n = len(c.turns)
        if not cfg.min_turns <= n <= cfg.max_turns:
            return f"turns: {n} turns (allowed {cfg.min_turns}-{cfg.max_turns})"
        prev = None
        for t in c.turns:
            if prev is not None and t.speaker == prev.speaker and t.speaker in ("doctor", "patient"):
                return f"roles: two {t.speaker} turns in a row (turns {prev.index} and {t.index})"
            if t.speaker == "examiner" and (prev is None or prev.act != "request_test"):
                after = "the start" if prev is None else f"a {prev.speaker} {prev.act} turn"
                return f"roles: examiner turn {t.index} follows {after}, not a test request"
            prev = t
        for t in c.turns:
            if t.act in _ACTS_TERSE:
                continue
            cut = looks_truncated(t.text)
            if cut:
                return f"truncated: {t.speaker} turn {t.index} ends {cut}"
        reason = self._repetition(" ".join(t.text for t in c.turns), "dialogue")
        if reason:
            return reason
        bad = []
        for t in c.turns:
            if not t.text.strip() or (len(t.text.strip()) < cfg.min_chars and t.act not in _ACTS_TERSE):
                bad.append(f"turn {t.index} empty")
            elif BOILERPLATE.search(t.text):
                bad.append(f"turn {t.index} boilerplate {_clip(BOILERPLATE.search(t.text).group(0))}")  # type: ignore[union-attr]
        share = len(bad) / n
        if share > cfg.max_boilerplate_ratio:
            return (
                f"boilerplate: {share:.2f} of turns empty or boilerplate (max {cfg.max_boilerplate_ratio}): "
                + ", ".join(bad[:3])
            )
        return None

    def _problem(self, p: VerifiableProblem) -> str | None:
        return (
            self._short(p.question, "question")
            or self._empty(p.ground_truth, "ground truth")
            or self._boiler(p.question, "question")
            or self._repetition(p.question, "question")
        )

    def _trace(self, r: ReasoningTrace) -> str | None:
        reason = self._short(r.question, "question")
        if reason:
            return reason
        parts: list[tuple[str, str]] = []
        if r.natural_thinking is not None:
            parts.append(("thinking", r.natural_thinking))
        if r.final_response is not None:
            parts.append(("final response", r.final_response))
        if r.success and not parts:
            return "empty: a successful trace without thinking or final response"
        for what, text in parts:
            reason = (
                self._short(text, what)
                or self._boiler(text, what)
                or (f"truncated: {what} ends {cut}" if (cut := looks_truncated(text)) else None)
            )
            if reason:
                return reason
        thinking = r.natural_thinking or " ".join(t for s in r.steps for t in s.thinking)
        return self._repetition(thinking, "thinking")

    def _case(self, c: CaseCard) -> str | None:
        # Duplicates, empty facts and the rest are the case gates' (synth/quality/cases.py); a card's own
        # repetition is not judged here: an imported vignette's opening is its first fact, by construction.
        texts = [("opening statement", c.opening_statement)]
        texts += [(f"fact {f.id}", t) for f in c.facts for t in (f.text, f.lay_text or "")]
        for what, text in texts:
            reason = self._boiler(text, what)
            if reason:
                return reason
        return None

    # ----------------------------------------------------------------------------------------- the rules

    def _short(self, text: str, what: str) -> str | None:
        n = len(text.strip())
        if n < self.cfg.min_chars:
            return f"empty: {what} has {n} characters (min {self.cfg.min_chars})"
        return None

    @staticmethod
    def _empty(text: str, what: str) -> str | None:
        return None if text.strip() else f"empty: {what} is blank"

    @staticmethod
    def _boiler(text: str, what: str) -> str | None:
        m = BOILERPLATE.search(text)
        return f"boilerplate: {what} contains {_clip(m.group(0))}" if m else None

    def _repetition(self, text: str, what: str) -> str | None:
        toks = words(text)
        ratio = repeated_ngram_ratio(toks, _NGRAM)
        if ratio > self.cfg.max_repeat_ratio:
            return (
                f"repetition: {ratio:.2f} of word {_NGRAM}-grams repeated in the {what} "
                f"(max {self.cfg.max_repeat_ratio}; most repeated {most_repeated(toks, _NGRAM)})"
            )
        return None

    def _language(self, doc: Doc) -> str | None:
        lang = self.cfg.language
        if lang is None:
            return None
        score, n = language_score(doc.text, lang)
        StageContext.score(doc, f"language_{lang}", score)
        if n >= _MIN_LANGUAGE_WORDS and score < self.cfg.min_language_score:
            return f"language: {lang} score {score:.2f} (min {self.cfg.min_language_score}) over {n} words"
        return None
