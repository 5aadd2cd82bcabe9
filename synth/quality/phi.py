"""PHI scrubbing: replace realistic identifiers in generated text with typed placeholders.

Teachers sometimes invent identifiers ("I'm Dr. Patel", "call me on 07700 900123", "MRN 00482913"); a
published corpus should not carry anything that reads like one. `PhiScrubber` walks every generated string of
a record and replaces names, phone numbers, emails, street addresses, ID-like numbers and exact dates of birth
with `[NAME]`, `[PHONE]`, `[EMAIL]`, `[ADDRESS]`, `[ID]`, `[DOB]`. Nothing is dropped.

Detection is rules only (regular expressions and small word lists: no model, no network), written for
clinical text, which is full of numbers that are not identifiers: lab values, doses, blood pressures, ICD
codes, dates of onset, ages. So every rule asks for a shape that clinical numbers do not have, or for a label:
- name: a title (Dr/Mr/Mrs/Ms/Miss/Prof/Nurse) + capitalised name words (initials, particles such as "de",
  Mc/O' forms); a self-introduction ("my name is", "I'm called", "I'm" + two names, a greeting + "I'm" + one);
  a relative or contact ("my daughter Emily"); "Patient X Y, aged"; a person noun + "named"/"called"; an
  appositive after a person noun ("a boy, Liam O'Connor,"). Capitalised words that are not names ("I'm
  Diabetic") are in a small stop list.
  Eponyms (Graves' disease, Babinski sign) have no title and are followed by a possessive or a clinical noun,
  which every untitled rule rejects.
- phone: a `+` country code, US (NXX) NXX-XXXX with optional 1- prefix, UK numbers starting with 0 or (0..)
  (10-11 digits), extensions; a bare 7-digit NNN-NNNN only after a phone word; 7 to 15 digits in all.
- email: the usual local@domain.tld.
- address: number + capitalised street name (or an ordinal: "5th Avenue") + a street suffix, optionally a flat/suite, city, state + ZIP or
  UK postcode; a postcode or ZIP after "postcode"/"zip"; PO boxes.
- id: a value with at least 4 digits after a label (MRN, medical record / hospital / patient / NHS / account /
  insurance / member / policy / Medicare / licence / NI / passport number, identifier, SSN), possibly a few
  words before "is" ("the hospital number on my wristband is ..."); unlabelled only in shapes that are IDs:
  SSN ddd-dd-dddd, a UK National Insurance number, and a 3-3-4 number that passes the NHS modulus-11 check.
- dob: "DOB", "date of birth", "born (on)", "birthday" followed closely by a full date (day, month and year).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from synth.quality.base import Doc, Transform, record_text
from synth.quality.config import PhiConfig

KINDS = ("name", "phone", "email", "address", "id", "dob")
PLACEHOLDER = {k: f"[{k.upper()}]" for k in KINDS}

# Keys whose strings are not generated text: ids, hashes, provenance, the source MCQ (the dataset's own
# text), scores. Enum values (speaker, act, verdict...) are lowercase words no rule can match.
_SKIP_KEYS = {"id", "schema_version", "provenance", "source", "scores", "sha256", "template"}
_SKIP_SUFFIXES = ("_id", "_ids", "_idx", "_hash", "_sha256")


@dataclass(frozen=True)
class PhiSpan:
    start: int
    end: int
    kind: str


# ------------------------------------------------------------------------------------------ building blocks

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_ORD = r"(?:st|nd|rd|th)?"
_FULL_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
    rf"|\d{{1,2}}{_ORD}(?:\s+of)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}{_ORD},?\s+\d{{4}})(?![\d/])"
)
# A name word: capitalised, with Mc/Mac, O'Brien-style apostrophes, hyphenated parts and accents.
_NAME_WORD = r"(?:[A-Z]['’][A-Z][a-zà-ÿ]+|(?:Mc|Mac)?[A-Z][a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)?)(?![\w'’])"
_INITIALS = r"(?:[A-Z]\.\s?){0,2}"
_PARTICLE = r"(?:(?:de|da|di|du|van|von|der|den|le|la|del|della|bin|ibn|al|el)\s+)"
_NAMES = rf"{_INITIALS}{_PARTICLE}?{_NAME_WORD}(?:\s+{_PARTICLE}?{_NAME_WORD}){{0,2}}"
_TWO_NAMES = rf"{_NAME_WORD}\s+{_NAME_WORD}(?:\s+{_NAME_WORD})?"

# Capitalised words that start sentences or follow "I'm"/"my son" without being names.
_NOT_NAMES = {
    "The", "A", "An", "And", "But", "Or", "So", "On", "In", "At", "Of", "To", "For", "From", "With", "By",
    "Is", "Was", "Are", "Has", "Had", "Have", "Not", "No", "Yes", "Very", "Just", "Also", "Still", "Now",
    "Then", "Here", "There", "This", "That", "It", "He", "She", "They", "We", "You", "I", "My", "Your",
    "His", "Her", "Their", "Our", "Doctor", "Patient", "Nurse", "Type", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December", "Today", "Tomorrow", "Yesterday",
    "Sorry", "Thanks", "Hello", "Hi", "Well", "Okay", "Please", "Good", "Fine", "Worried", "Diabetic",
    "Pregnant", "English", "British", "American", "Christian", "Muslim", "Jewish", "Catholic", "Hindu",
}  # fmt: skip
# Eponyms that can stand alone (no possessive) in clinical text; untitled name rules never take them.
_EPONYMS = {
    "Graves", "Parkinson", "Crohn", "Cushing", "Addison", "Hashimoto", "Alzheimer", "Huntington", "Wilson",
    "Hodgkin", "Kaposi", "Kawasaki", "Raynaud", "Barrett", "Wernicke", "Korsakoff", "Guillain", "Barré",
    "Down", "Turner", "Marfan", "Bell", "Babinski", "Kernig", "Brudzinski", "Murphy", "McBurney", "Trousseau",
    "Chvostek", "Romberg", "Virchow", "Sjögren", "Meniere", "Ménière", "Paget", "Reiter", "Tourette",
    "Whipple", "Takotsubo", "Epstein", "Glasgow", "Wells", "Ottawa", "Apgar", "Gleason", "Streptococcus",
}  # fmt: skip
# After a name, these mean the capitalised words were an eponym ("Bell's palsy", "Graves disease").
_EPONYM_TAIL = re.compile(
    r"^(?:['’]s?)?\s+(?:disease|syndrome|sign|test|point|palsy|phenomenon|node|tear|reflex|score|scale|"
    r"criteria|rule|triad|ulcer|lymphoma|sarcoma|encephalopathy|thyroiditis|oesophagus|esophagus|manoeuvre|"
    r"maneuver|classification|grade|stage)\b",
    re.IGNORECASE,
)

_PERSON = (
    r"(?:man|woman|boy|girl|patient|child|infant|baby|lady|gentleman|male|female|gentleman|person|"
    r"teenager|student|mother|father|wife|husband|daughter|son|friend|neighbou?r)"
)
_RELATION = (
    r"(?:wife|husband|partner|daughter|son|mother|mum|mom|father|dad|brother|sister|friend|neighbou?r|"
    r"carer|caregiver|girlfriend|boyfriend|fiancée?|grand(?:son|daughter|mother|father)|emergency contact)"
)

# ------------------------------------------------------------------------------------------------ the rules

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

_DOB = re.compile(
    r"\b(?:DOB|D\.O\.B\.?|date\s+of\s+birth|birth\s*date|born|birthday)\b[^\n]{0,40}?(?P<v>"
    + _FULL_DATE
    + ")",
    re.IGNORECASE,
)

_ID_LABEL = (
    r"(?:MRN|SSN|NHS\s+(?:number|no\.?|#)|medical\s+record(?:\s+(?:number|no\.?|#))?|"
    r"hosp(?:ital|\.)?\s+(?:number|no\.?|#|ID)|(?:patient\s+|unique\s+)?identifier|"
    r"(?:NI|national\s+insurance|passport)\s+(?:number|no\.?)|patient\s+(?:ID|number|no\.?|#)|social\s+security(?:\s+number)?|"
    r"(?:account|acct\.?)\s+(?:number|no\.?|#)|(?:insurance|member|subscriber|policy|group)"
    r"(?:\s+(?:ID|number|no\.?|#))+|medicare(?:\s+(?:ID|number|no\.?|#))?|medicaid(?:\s+(?:ID|number|no\.?|#))?|"
    r"driver['’]?s\s+licen[cs]e(?:\s+(?:number|no\.?|#))?|(?:ID|identification)\s+(?:number|no\.?|#)|"
    r"chart\s+(?:number|no\.?|#)|case\s+number)"
)
# "<label> [a few words] is|: <value>" ("the hospital number on my wristband is H4419032").
# Groups of an ID: letters/digits/dashes; a group of letters only counts only before a group with digits.
_ID_VALUE = r"(?:[A-Z]{1,4}[ -])?[A-Za-z0-9]*\d[A-Za-z0-9-]*(?:\s[A-Za-z0-9]*\d[A-Za-z0-9-]*){0,3}"
_ID_LABELLED = re.compile(
    rf"\b{_ID_LABEL}(?!\w)(?:(?:\s+[a-z]+){{0,4}}?\s+(?:is|was)\s+|\s*(?:=|[:#])?\s*)(?P<v>{_ID_VALUE})"
    r"(?![\w-]|[/.,]\d)",
    re.IGNORECASE,
)
_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_NHS_SHAPE = re.compile(r"(?<![\w-])\d{3}[ -]\d{3}[ -]\d{4}(?![\w-])")
_NI = re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")
_COUNTRY_CODE = re.compile(r"\+\d{1,3}[ .-]?$")

_EXT = r"(?:,?\s*(?:ext\.?|extension|x)\s*\d{1,5})?"
_NOT_BEFORE = r"(?<![\w.,/+-])"
_NOT_AFTER = r"(?![\w/]|[.,]\d)"
_PHONE = re.compile(
    _NOT_BEFORE
    + r"(?:"
    + r"\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}"  # international
    + r"|(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}"  # US with dashes, dots or (area code)
    + r"|(?:1[ .-])?\d{3} \d{3} \d{4}"  # US with spaces (NHS numbers are told apart by their check digit)
    + r"|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}"  # UK, trunk prefix 0
    + r"|\(0\d{2,4}\)\s?\d{3,4}[ -]?\d{3,4}"  # UK, area code in brackets
    + r")"
    + _EXT
    + _NOT_AFTER
)
_LOCAL_PHONE = re.compile(
    r"\b(?:phone|telephone|tel|mobile|cell|number|call|ring|text|fax|reach)\b[^\n.]{0,20}?"
    + _NOT_BEFORE
    + r"(?P<v>\d{3}[-.]\d{4}"
    + _EXT
    + r")"
    + _NOT_AFTER,
    re.IGNORECASE,
)

_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Close|"
    r"Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Gardens|Row|Grove|Mews|Walk|Hill|Park)\b\.?"
)
_UNIT = r"(?:Flat|Apt|Apartment|Suite|Unit|Room|Floor)\.?\s*#?[A-Za-z0-9]+"
_ZIP = r"[A-Z]{2}\s+\d{5}(?:-\d{4})?"
_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
_ADDRESS = re.compile(
    rf"(?:{_UNIT},?\s+)?\b\d{{1,5}}[A-Z]?\s+(?:(?:[A-Z][a-z]+(?:['’]s)?\.?|\d+(?:st|nd|rd|th))\s+){{1,4}}{_STREET}"
    rf"(?:,?\s+{_UNIT})?"
    rf"(?:(?:,?\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){{0,2}}){{0,2}},?\s+(?:{_ZIP}|{_POSTCODE})\b)?"
    r"|\bP\.?\s?O\.?\s+Box\s+\d+"
)
_POSTCODE_LABELLED = re.compile(
    rf"\b(?:post\s?code|zip(?:\s?code)?)\b\s*(?:is\s+|:\s*)?(?P<v>{_POSTCODE}|\d{{5}}(?:-\d{{4}})?)\b",
    re.IGNORECASE,
)

_TITLED = re.compile(rf"\b(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof)\.?|Miss|Doctor|Professor|Nurse|Matron)\s+{_NAMES}")
_INTRO = re.compile(
    rf"\b(?:[Mm]y\s+name\s+is|[Mm]y\s+name['’]s|I['’]?m\s+called|I\s+am\s+called|[Cc]all\s+me)\s+(?P<v>{_NAMES})"
    rf"|\b(?:I['’]m|I\s+am)\s+(?P<w>{_TWO_NAMES})"
    # after a greeting even one word is an introduction ("Hi, I'm Sarah"), not a state ("I'm Diabetic")
    rf"|\b(?:[Hh]i|[Hh]ello|[Hh]ey|[Gg]ood\s+(?:morning|afternoon|evening))[,!.]?\s+(?:I['’]m|I\s+am|[Tt]his\s+is|"
    rf"[Ii]t['’]s)\s+(?P<z>{_NAMES})"
)
_RELATIVE = re.compile(
    rf"\b(?:[Mm]y|[Hh]is|[Hh]er|[Oo]ur|[Tt]heir)\s+(?:ex-)?{_RELATION}(?:\s+is)?,?\s+(?P<v>{_NAMES})"
    rf"|\b{_PERSON}\s+(?:named|called)\s+(?P<w>{_NAMES})"
    rf"|\b{_PERSON},\s+(?P<x>{_TWO_NAMES}),"
    rf"|\b[Pp]atient\s+(?P<y>{_TWO_NAMES})(?=,?\s+(?:aged|age|\d|\(|DOB|born|MRN|a\s+\d))"
)


def _nhs_valid(digits: str) -> bool:
    """The NHS number check digit (modulus 11): a random 10-digit number passes about one time in eleven."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _trim_name(text: str, start: int, end: int, titled: bool) -> tuple[int, int] | None:
    """Cut a matched name back to its real name words; None when what is left is not a name."""
    words = list(re.finditer(r"\S+", text[start:end]))
    keep = len(words)
    while keep and words[keep - 1].group().rstrip(".") in _NOT_NAMES:
        keep -= 1
    if not keep:
        return None
    end = start + words[keep - 1].end()
    first = 1 if titled else 0
    name_words = [w.group().rstrip(".") for w in words[first:keep]]
    if not name_words or name_words[0] in _NOT_NAMES:
        return None
    if _EPONYM_TAIL.match(text[end:]):
        return None
    if not titled and any(re.sub(r"['’]s?$", "", w) in _EPONYMS for w in name_words):
        return None
    return start, end


def find_phi(text: str, kinds: set[str] | frozenset[str] | None = None) -> list[PhiSpan]:
    """Identifier spans in `text`, sorted and non-overlapping (earlier rules win: emails and labelled
    values first, because their context is the strongest evidence)."""
    want = set(KINDS) if kinds is None else set(kinds)
    found: list[PhiSpan] = []

    def add(start: int, end: int, kind: str) -> None:
        if kind in want and start < end and not any(s.start < end and start < s.end for s in found):
            found.append(PhiSpan(start, end, kind))

    for m in _EMAIL.finditer(text):
        add(m.start(), m.end(), "email")
    for m in _DOB.finditer(text):
        add(m.start("v"), m.end("v"), "dob")
    for m in _NI.finditer(text):
        add(m.start(), m.end(), "id")
    for m in _ID_LABELLED.finditer(text):
        if sum(c.isdigit() for c in m.group("v")) >= 4:
            add(m.start("v"), m.end("v"), "id")
    for m in _SSN.finditer(text):
        add(m.start(), m.end(), "id")
    for m in _NHS_SHAPE.finditer(text):
        # after a country code it is a phone number, whatever its check digit says
        if _nhs_valid(re.sub(r"\D", "", m.group())) and not _COUNTRY_CODE.search(text, 0, m.start()):
            add(m.start(), m.end(), "id")
    for m in _ADDRESS.finditer(text):
        add(m.start(), m.end(), "address")
    for m in _POSTCODE_LABELLED.finditer(text):
        add(m.start("v"), m.end("v"), "address")
    for m in _PHONE.finditer(text):
        if 7 <= sum(c.isdigit() for c in m.group()) <= 15:
            add(m.start(), m.end(), "phone")
    for m in _LOCAL_PHONE.finditer(text):
        add(m.start("v"), m.end("v"), "phone")
    for m in _TITLED.finditer(text):
        span = _trim_name(text, m.start(), m.end(), titled=True)
        if span:
            add(*span, "name")
    for rx in (_INTRO, _RELATIVE):
        for m in rx.finditer(text):
            g = next(k for k, v in m.groupdict().items() if v is not None)
            span = _trim_name(text, m.start(g), m.end(g), titled=False)
            if span:
                add(*span, "name")
    return sorted(found, key=lambda s: s.start)


def scrub_text(text: str, kinds: set[str] | frozenset[str] | None = None) -> tuple[str, Counter[str]]:
    """`text` with every identifier replaced by its placeholder, and how many of each kind were replaced."""
    spans = find_phi(text, kinds)
    counts: Counter[str] = Counter(s.kind for s in spans)
    for s in reversed(spans):
        text = text[: s.start] + PLACEHOLDER[s.kind] + text[s.end :]
    return text, counts


# ----------------------------------------------------------------------------------------------- the stage


class PhiScrubber(Transform):
    """Replace identifiers in every generated string of a record; ids and non-text fields stay as they are."""

    name: ClassVar[str] = "phi"

    def __init__(self, cfg: PhiConfig):
        unknown = set(cfg.kinds or ()) - set(KINDS)
        if unknown:
            raise ValueError(f"phi: unknown identifier kinds {sorted(unknown)} (known: {', '.join(KINDS)})")
        self.cfg = cfg
        self.kinds = frozenset(cfg.kinds) if cfg.kinds is not None else frozenset(KINDS)
        self.last_counts: Counter[str] = Counter()
        self.summary: dict[str, Any] = {
            "docs": 0,
            "docs_changed": 0,
            "replacements": {k: 0 for k in self.kinds},
        }

    def apply(self, doc: Doc) -> Doc:
        counts: Counter[str] = Counter()
        dump = doc.record.model_dump()
        scrubbed = self._walk(dump, counts)
        self.last_counts = counts
        self.summary["docs"] += 1
        total = sum(counts.values())
        doc.scores["phi_replacements"] = float(total)
        if not total:
            return doc
        self.summary["docs_changed"] += 1
        for kind, n in counts.items():
            self.summary["replacements"][kind] += n
            doc.scores[f"phi_{kind}"] = float(n)
        # ids are content ids fixed at creation: validating the dump with its id set keeps the id
        record = type(doc.record).model_validate(scrubbed)
        assert record.id == doc.record.id, "phi: scrubbing must not change the record id"  # type: ignore[attr-defined]
        doc.record = record
        doc.text = record_text(record)
        return doc

    def _walk(self, value: Any, counts: Counter[str], key: str = "") -> Any:
        if key in _SKIP_KEYS or key.endswith(_SKIP_SUFFIXES):
            return value
        if isinstance(value, str):
            text, c = scrub_text(value, self.kinds)
            counts.update(c)
            return text
        if isinstance(value, dict):
            return {k: self._walk(v, counts, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, counts, key) for v in value]
        return value
