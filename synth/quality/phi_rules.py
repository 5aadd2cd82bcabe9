"""PHI rules for the Safe Harbor classes the first rule set did not cover: dates, ages over 89, URLs, IP
addresses, places (cities, facilities), names after a role phrase, and labelled licence / vehicle / device /
account numbers.

Every rule asks for a shape clinical numbers do not have, or a label, for the same reason as in phi.py:
- date: every date element but the year alone — numeric (03/14/2021, 2021-03-14, 14.03.2021), written
  (March 14, 2021; 14th of March; Mar 14), and a numeric day/month only after a date word ("on 3/14").
  Ratios and grades ("2/6 murmur", "GCS 14/15", "BP 120/80") never follow a date word; month words need a
  day number next to them, so "May" the verb and "March" the walk stay.
- age: a number from 90 to 130 with an age word ("93-year-old", "aged 94", "age: 91", "92 yo").
- url: a scheme or www. address, or a bare host with a path; ip: dotted IPv4 with octets ≤ 255, and IPv6.
- location: a facility (capitalised words + Hospital / Medical Center / Clinic / Infirmary / Hospice ...) and
  a place after a residence phrase ("lives in Fresno", "moved to Little Snoring", "from Leeds").
- name: two capitalised name words after a care role ("seen by nurse practitioner Maria Lopez", "the
  attending, John Smith", "signed by Ana Costa").
- id: licence / DEA / NPI / VIN / plate / serial / device / claim / account / accession labels.
"""

from __future__ import annotations

import re

from synth.quality.phi_allow import NOT_A_PLACE, clinical_person, is_clinical_word

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_ORD = r"(?:st|nd|rd|th)?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    r"(?:19|20)\d{2}-[01]?\d-[0-3]?\d"  # ISO
    rf"|[01]?\d[/.-][0-3]?\d[/.-](?:(?:19|20)\d{{2}}|\d{{2}})"  # US numeric
    rf"|[0-3]?\d[/.-][01]?\d[/.-](?:(?:19|20)\d{{2}}|\d{{2}})"  # day-first numeric
    rf"|{_DAY}{_ORD}(?:\s+of)?\s+{_MONTH}(?:,?\s+(?:19|20)\d{{2}})?"  # 14th of March (2021)
    rf"|{_MONTH}\s+{_DAY}{_ORD}(?:,?\s+(?:19|20)\d{{2}})?"  # March 14(th)(, 2021)
    rf"|(?:Jan(?:uary)?|Feb(?:ruary)?|March|Apr(?:il)?|June|July|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|"
    rf"Nov(?:ember)?|Dec(?:ember)?)\s+(?:19|20)\d{{2}}"  # month + year (the month is a date element)
    r")(?![\w/]|[.-]\d)"
)
_DATE_WORD_SHORT = re.compile(
    r"\b(?:on|dated|since|from|until|till|admitted|discharged|seen|visit(?:ed)?|date(?:d)?:?)\s+"
    r"(?P<v>[01]?\d/[0-3]?\d)(?![\w/]|[.-]\d)",
    re.IGNORECASE,
)
_AGE = re.compile(
    r"\b(?P<v>(?:9\d|1[0-2]\d|130))(?:[- ](?:year|yr)s?[- ]old|\s?(?:yo|y/o|y\.o\.)\b|[- ]years?\b(?=\s+(?:of\s+age|old)))"
    r"|\b(?:aged?|age:)\s*(?P<w>(?:9\d|1[0-2]\d|130))\b(?!\s*(?:mg|kg|%|mmHg|bpm|/))",
    re.IGNORECASE,
)
_URL = re.compile(
    r"(?<![\w@/.])(?:https?://|www\.)[^\s<>\"')\]]+"
    r"|(?<![\w@/.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|co\.uk|nhs\.uk|org\.uk|info|health)"
    r"/[^\s<>\"')\]]*",
    re.IGNORECASE,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IP = re.compile(
    rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)"
    r"|(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])"
    r"|(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,5})?(?![\w:])",
    re.IGNORECASE,
)
_CAP = r"(?:St\.?|Saint|[A-Z][a-zà-ÿ]+(?:[-'’][A-Z]?[a-zà-ÿ]+)?|[A-Z]{2,4})"
_FACILITY_NOUN = (
    r"(?:(?:General\s+|Memorial\s+|Community\s+|University\s+|Children['’]s\s+|District\s+|Regional\s+)?"
    r"(?:Hospital|Medical\s+Cent(?:er|re)|Clinic|Infirmary|Hospice|Health\s+Cent(?:er|re)|Nursing\s+Home|"
    r"Care\s+Home|Medical\s+Practice|Surgery|Health\s+System|Healthcare))"
)
_FACILITY = re.compile(rf"\b(?:{_CAP}\s+){{1,4}}{_FACILITY_NOUN}\b")
_PLACE_WORD = r"[A-Z][a-zà-ÿ]+(?:[-'’][A-Z][a-zà-ÿ]+)?"
_PLACE = re.compile(
    r"\b(?:lives?|lived|living|moved|relocated|resident|residing|based|grew\s+up|born|travel(?:l)?ed|"
    r"drove|flew|visiting|town|city|village|suburb|county|from|near|outside)"
    r"(?:\s+(?:in|to|at|of|from|back\s+to|up\s+in))?\s+"
    # a place ends where its word ends: "from IgA nephropathy" names no place
    rf"(?P<v>{_PLACE_WORD}(?:\s+{_PLACE_WORD}){{0,2}})(?![A-Za-z0-9])"
)
_ROLE = (
    r"(?i:nurse\s+practitioner|physician\s+assistant|physician|attending|resident|intern|registrar|consultant|"
    r"surgeon|anaesthetist|anesthetist|GP|pharmacist|physiotherapist|physical\s+therapist|therapist|midwife|"
    r"social\s+worker|case\s+manager|paramedic|nurse|doctor|clinician|provider|practitioner|specialist|"
    r"[a-z]+ologist|[a-z]+iatrician|(?!(?:as|re|per|con|in|de|sub)sist\b|enlist\b)[a-z]{3,}ist)"
)  # not "wrist", "twist", "moist", "assist", "resist": no role ends a body part or a verb
_NAME_WORD = r"(?:[A-Z]['’][A-Z][a-zà-ÿ]+|(?:Mc|Mac)?[A-Z][a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)?)(?![\w'’])"
_TWO = rf"{_NAME_WORD}\s+(?:[A-Z]\.\s+)?{_NAME_WORD}"
_ROLE_NAME = re.compile(
    rf"\b{_ROLE}(?:\s+on\s+call)?,?\s+(?P<v>{_TWO})"
    rf"|\b(?i:seen|examined|referred|reviewed|signed|dictated|transcribed|assessed|discussed|treated|"
    rf"escorted|accompanied|authored|verified|co-?signed)\s+(?i:by|with)\s+(?P<w>{_TWO})"
    rf"|\b(?i:cc|attn|attention|author|signed|electronically\s+signed):?\s+(?P<x>{_TWO})"
)
_ID2_LABEL = (
    r"(?:licen[cs]e|DEA|NPI|VIN|vehicle\s+identification|(?:licen[cs]e\s+)?plate|registration|serial|device|"
    r"implant|pacemaker|IMEI|claim|account|acct|beneficiary|health\s+plan|member|certificate|"
    r"accession|encounter|visit\s+(?:number|no\.?|#)|specimen|badge|employee)"
)
_ID2 = re.compile(
    rf"\b{_ID2_LABEL}(?:\s+(?:number|no\.?|#|ID|identifier|code))?\s*(?:is\s+|=|:|#)?\s*"
    r"(?P<v>(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z0-9]{2})[A-Z0-9][A-Z0-9-]{3,19})(?![\w-])",
    re.IGNORECASE,
)
_STATES = {
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska",
    "Nevada", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Tennessee", "Texas", "Utah", "Vermont", "Virginia",
    "Washington", "Wisconsin", "Wyoming", "England", "Scotland", "Wales", "Ireland", "Britain", "UK", "USA",
    "America", "Canada", "India", "China", "Mexico", "France", "Germany", "Spain", "Italy", "Africa", "Europe",
    "Asia", "Australia", "Brazil", "Pakistan", "Nigeria", "Poland", "Portugal", "Japan", "Philippines",
}  # fmt: skip
# Words a residence phrase can take that are not places ("from Monday", "near Christmas", "from work").
_NOT_PLACES = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Christmas", "Easter",
    "The", "This", "That", "Then", "There", "Here", "My", "His", "Her", "Our", "Their", "A", "An", "Dr", "Mr",
    "Mrs", "Ms", "Hospital", "Clinic", "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December", "Type", "Stage", "Grade", "Day", "Week",
    "I", "It", "He", "She", "We", "They", "You", "Yesterday", "Today", "Tomorrow", "Emergency", "Accident",
}  # fmt: skip


def _keep_place(words: str) -> bool:
    first = words.split()[0]
    if first in _NOT_PLACES or first in _STATES or NOT_A_PLACE.match(words) or NOT_A_PLACE.match(first):
        return False
    return not any(is_clinical_word(w) for w in words.split())


def _place_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim a place back to its place words: drop trailing words that are stop words, states or medicine."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while words and (
        words[-1].group() in _NOT_PLACES
        or words[-1].group() in _STATES
        or is_clinical_word(words[-1].group())
    ):
        words.pop()
    if not words or not _keep_place(text[start : start + words[-1].end()]):
        return None
    return start, start + words[-1].end()


def extra_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) spans of the classes above, in rule order (callers resolve overlaps)."""
    out: list[tuple[int, int, str]] = []
    for m in _URL.finditer(text):
        out.append((m.start(), m.end(), "url"))
    for m in _IP.finditer(text):
        out.append((m.start(), m.end(), "ip"))
    for m in _DATE.finditer(text):
        out.append((m.start(), m.end(), "date"))
    for m in _DATE_WORD_SHORT.finditer(text):
        out.append((m.start("v"), m.end("v"), "date"))
    for m in _AGE.finditer(text):
        g = "v" if m.group("v") else "w"
        out.append((m.start(g), m.end(g), "age"))
    for m in _ID2.finditer(text):
        if sum(c.isdigit() for c in m.group("v")) >= 3 and not is_clinical_word(m.group("v")):
            out.append((m.start("v"), m.end("v"), "id"))
    for m in _FACILITY.finditer(text):
        s = m.start()
        # a leading sentence word ("The", "At") is not part of the facility's name
        lead = re.match(r"(?:The|At|In|To|From|A|An|Our|My)\s+", text[s : m.end()])
        if lead:
            s += lead.end()
        if s < m.end() - 1:
            out.append((s, m.end(), "location"))
    for m in _PLACE.finditer(text):
        span = _place_span(text, m.start("v"), m.end("v"))
        # "to separate X from Graves' disease": an eponym after "from" is no place
        if span and not clinical_person(text, *span):
            out.append((*span, "location"))
    for m in _ROLE_NAME.finditer(text):
        g = next(k for k, v in m.groupdict().items() if v is not None)
        words = m.group(g).split()
        if not any(is_clinical_word(w) or w in _NOT_PLACES or w in _STATES for w in words):
            out.append((m.start(g), m.end(g), "name"))
    return out
