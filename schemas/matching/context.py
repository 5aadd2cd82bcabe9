"""Ages and durations that describe the patient, not the answer: kept from deciding a verdict.

"Type 2 diabetes in a 45-year-old" names type 2 diabetes; read naively, "45 years" is a measured quantity (or
the number 45 a conflicting qualifier) and decides against the reference "type 2 diabetes". Two rules, both
one-sided so that a time that *is* the answer still counts:

- when the reference mentions no time at all, the candidate's ages ("a 45-year-old", "aged 60", "60 yo") and
  durations ("for 3 days", "2-week history", "3 days of fever", "over the past 2 weeks", "since 2 days") are
  context and are removed from the candidate;
- when the candidate mentions no time at all, the reference's *ages* in descriptor form are removed from the
  reference ("... in a 45-year-old" is who, not what). Its durations stay: "warfarin for 3 months" is an answer.

A reference that is itself a time or an age ("6 months", "at 2 years of age", "within 24 hours") is never
touched, and nothing is removed when both sides mention a time: those are compared as quantities.
"""

from __future__ import annotations

import re

from schemas.matching.quantities import prepare, quantities

_UNIT = r"(?:hours?|hrs?|h|days?|d|weeks?|wks?|months?|mos?|years?|yrs?|y)"
_NUM = r"\d+(?:\.\d+)?(?:\s*(?:-|to)\s*\d+(?:\.\d+)?)?"
_WHO = r"(?:\s+(?:man|woman|male|female|boy|girl|child|infant|baby|patient|person|adult))?"
_AGE = re.compile(
    rf"(?:\b(?:an?\s+)?{_NUM}\s*-?\s*{_UNIT}\s*-?\s*olds?\b{_WHO}"
    rf"|\baged\s+{_NUM}(?:\s*{_UNIT}\b)?"
    rf"|\b{_NUM}\s*(?:yo|y/o|y\.o\.?)(?![a-z]){_WHO})"
)
_DURATION = re.compile(
    rf"(?:\bfor\s+(?:the\s+)?(?:(?:past|last|previous)\s+)?{_NUM}\s*{_UNIT}\b"
    rf"|\b{_NUM}\s*-?\s*{_UNIT}\s+(?:history|duration)\b"
    rf"|\b(?:history|duration)\s+of\s+{_NUM}\s*{_UNIT}\b"
    rf"|\b(?:over|in|during|within)\s+the\s+(?:past|last|previous)\s+{_NUM}\s*{_UNIT}\b"
    rf"|\bsince\s+{_NUM}\s*{_UNIT}\b"
    rf"|\b{_NUM}\s*{_UNIT}\s+(?:ago|of\b))"
)


def _mentions_time(prepared: str) -> bool:
    return any(q.dims[0] == ("time",) and not q.dims[1] for q in quantities(prepared))


def strip_context(candidate: str, reference: str) -> tuple[str, str, str | None]:
    """(candidate, reference, note): the texts with context ages/durations removed, and what was removed."""
    pc, pr = prepare(candidate), prepare(reference)
    if not (_AGE.search(pc) or _DURATION.search(pc) or _AGE.search(pr)):
        return candidate, reference, None
    if not _mentions_time(pr):
        cut = _DURATION.sub(" ", _AGE.sub(" ", pc))
        if cut != pc:
            return re.sub(r"\s+", " ", cut).strip(" ,;"), reference, "ignored the candidate's age/duration"
        return candidate, reference, None
    if not _mentions_time(pc) and _AGE.search(pr):
        cut = _AGE.sub(" ", pr)
        if _mentions_time(cut) or not cut.strip(" ,;.()"):
            return candidate, reference, None  # a time left besides the age, or the age is the whole answer
        return candidate, re.sub(r"\s+", " ", cut).strip(" ,;"), "ignored the reference's age"
    return candidate, reference, None
