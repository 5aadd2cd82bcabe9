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

The rules above came first; synth/quality/phi_rules.py adds the other Safe Harbor classes (date, age over 89,
url, ip, location, names after a role phrase, licence / vehicle / device ids) and synth/quality/phi_presidio.py
the model engine (Presidio + spaCy NER, filtered by the clinical allow-list of synth/quality/phi_allow.py).
`engine="rules"` uses the rules alone, `"presidio"` the model alone, `"combined"` (the default) both: the
rules win where spans overlap, because they measure better on what they cover (docs/benchmarks.md).

`find_phi_many` scans many strings at once, as the publish gate and the stage do: each distinct string once
(a bounded cache), the model in spaCy batches and only on strings that `needs_model`.

Replacements are consistent within a document: the first name becomes `[NAME_1]`, the same name (case and
spacing folded) stays `[NAME_1]` everywhere in that record, the next one is `[NAME_2]`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from synth.quality.base import Doc, StageContext, Transform, record_text
from synth.quality.config import PhiConfig

KINDS = ("name", "phone", "email", "address", "location", "id", "dob", "date", "age", "url", "ip")
PLACEHOLDER = {k: f"[{k.upper()}]" for k in KINDS}
Engine = Literal["rules", "presidio", "combined"]
ENGINES: tuple[str, ...] = ("rules", "presidio", "combined")

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
    rf"(?:(?:,?\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){{0,2}}){{0,2}},?\s+(?:{_ZIP}|{_POSTCODE})\b"
    # or a town after the street ("12 Mill Close, Great Ayton"): the town is below state level too
    rf"|,\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?(?=[.;,)]|\s+(?:and|with|for|on|since|where)\b|$))?"
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


def _rule_spans(text: str, want: set[str]) -> list[PhiSpan]:
    """Every kind the rules find, in rule order: earlier rules win where spans overlap (emails and labelled
    values first, because their context is the strongest evidence)."""
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
    from synth.quality.phi_rules import extra_spans

    for start, end, kind in extra_spans(text):
        add(start, end, kind)
    return found


# What can hold an identifier the rules miss, so that the model is worth running on a string: a capitalised
# word that does not open a sentence (or opens it followed by another capitalised word: "Maria Lopez came"),
# or a digit or "@" (Presidio's phone, date, URL and id recognisers). Single sentence-initial words are
# never kept from the model anyway (phi_presidio `_sentence_initial_word`), nor are words of the stop list.
_CAP_WORD = re.compile(r"[A-Z][a-zà-ÿ'’-]+")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n\"'(\[]\s*)$")


def needs_model(text: str) -> bool:
    """Whether the model engine could find something in `text` that the rules cannot see."""
    if any(c.isdigit() or c == "@" for c in text):
        return True
    for m in _CAP_WORD.finditer(text):
        word = m.group().rstrip("'’-")
        if word in _NOT_NAMES and not _CAP_WORD.match(text, m.end() + 1):
            continue
        if not _SENTENCE_START.search(text, 0, m.start()) or _CAP_WORD.match(text, m.end() + 1):
            return True
    return False


def _merge(rules: list[PhiSpan], model: list[tuple[int, int, str]], want: set[str]) -> list[PhiSpan]:
    found = [s for s in rules if s.kind in want]
    for start, end, kind in model:
        if kind in want and start < end and not any(s.start < end and start < s.end for s in found):
            found.append(PhiSpan(start, end, kind))
    return sorted(found, key=lambda s: s.start)


# One scan per distinct string: differential entries, option texts and boilerplate repeat on every turn and
# record. Bounded so that a long filter run does not grow without limit.
_CACHE: dict[tuple[str, str, frozenset[str]], tuple[list[PhiSpan], list[tuple[int, int, str]]]] = {}
_CACHE_MAX = 200_000


def find_phi_many(
    texts: list[str], kinds: set[str] | frozenset[str] | None = None, engine: Engine = "combined"
) -> list[list[PhiSpan]]:
    """`find_phi` of many strings at once: each distinct string is scanned once, and the model (when the
    engine uses it) runs in batches and only on strings that `needs_model`."""
    if engine not in ENGINES:
        raise ValueError(f"phi: unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    want = set(KINDS) if kinds is None else set(kinds)
    key = frozenset(want)
    todo = [t for t in dict.fromkeys(texts) if (t, engine, key) not in _CACHE]
    if todo:
        rules = {t: ([] if engine == "presidio" else _rule_spans(t, want)) for t in todo}
        model: dict[str, list[tuple[int, int, str]]] = {t: [] for t in todo}
        ask = [t for t in todo if engine == "presidio" or (engine == "combined" and needs_model(t))]
        if ask:
            from synth.quality.phi_presidio import model_spans_many

            model.update(zip(ask, model_spans_many(ask), strict=True))
        if len(_CACHE) + len(todo) > _CACHE_MAX:
            _CACHE.clear()
        for t in todo:
            _CACHE[(t, engine, key)] = (rules[t], model[t])
    return [_merge(*_CACHE[(t, engine, key)], want) for t in texts]


def find_phi(
    text: str, kinds: set[str] | frozenset[str] | None = None, engine: Engine = "combined"
) -> list[PhiSpan]:
    """Identifier spans in `text`, sorted and non-overlapping (earlier rules win: emails and labelled
    values first, because their context is the strongest evidence; the model's spans come last)."""
    return find_phi_many([text], kinds, engine)[0]


@dataclass
class Surrogates:
    """One document's placeholders: the same identifier always gets the same numbered placeholder."""

    seen: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def get(self, kind: str, value: str) -> str:
        key = (kind, re.sub(r"[\W_]+", " ", value).strip().lower())
        if key not in self.seen:
            self.counts[kind] += 1
            self.seen[key] = f"[{kind.upper()}_{self.counts[kind]}]"
        return self.seen[key]


def scrub_text(
    text: str,
    kinds: set[str] | frozenset[str] | None = None,
    engine: Engine = "combined",
    surrogates: Surrogates | None = None,
) -> tuple[str, Counter[str]]:
    """`text` with every identifier replaced by its document-consistent placeholder, and how many of each
    kind were replaced. Pass one `Surrogates` for all the strings of a record."""
    spans = find_phi(text, kinds, engine)
    sur = surrogates if surrogates is not None else Surrogates()
    counts: Counter[str] = Counter(s.kind for s in spans)
    names = [sur.get(s.kind, text[s.start : s.end]) for s in spans]  # numbered in reading order
    for s, placeholder in zip(reversed(spans), reversed(names), strict=True):
        text = text[: s.start] + placeholder + text[s.end :]
    return text, counts


def record_strings(value: Any, key: str = "") -> list[tuple[str, str]]:
    """(field path, text) for every generated string of a dumped record (ids, hashes, provenance skipped)."""
    if key.rsplit(".", 1)[-1].split("[")[0] in _SKIP_KEYS or key.endswith(_SKIP_SUFFIXES):
        return []
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in record_strings(v, f"{key}.{k}" if key else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in record_strings(v, f"{key}[{i}]")]
    return []


def scrub_record(
    record: Any, kinds: set[str] | frozenset[str] | None = None, engine: Engine = "combined"
) -> tuple[Any, Counter[str]]:
    """A pydantic record with every generated string scrubbed (one `Surrogates` for the whole record), and the
    counts; the same object when nothing was found. The record keeps its id (ids are fixed at creation)."""
    counts: Counter[str] = Counter()
    sur = Surrogates()

    def walk(value: Any, key: str = "") -> Any:
        if key in _SKIP_KEYS or key.endswith(_SKIP_SUFFIXES):
            return value
        if isinstance(value, str):
            text, c = scrub_text(value, kinds, engine, sur)
            counts.update(c)
            return text
        if isinstance(value, dict):
            return {k: walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        return value

    scrubbed = walk(record.model_dump())
    if not counts:
        return record, counts
    return type(record).model_validate(scrubbed), counts


# ----------------------------------------------------------------------------------------------- the stage


class PhiScrubber(Transform):
    """Replace identifiers in every generated string of a record; ids and non-text fields stay as they are."""

    name: ClassVar[str] = "phi"

    def __init__(self, cfg: PhiConfig):
        unknown = set(cfg.kinds or ()) - set(KINDS)
        if unknown:
            raise ValueError(f"phi: unknown identifier kinds {sorted(unknown)} (known: {', '.join(KINDS)})")
        self.cfg = cfg
        self.engine: Engine = cfg.engine
        self.kinds = frozenset(cfg.kinds) if cfg.kinds is not None else frozenset(KINDS)
        self.last_counts: Counter[str] = Counter()
        self.summary: dict[str, Any] = {
            "docs": 0,
            "docs_changed": 0,
            "replacements": {k: 0 for k in self.kinds},
        }

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        # scan the whole batch's strings first (distinct strings once, the model in batches); `apply` then
        # reads every string's spans from the cache
        texts = [t for d in docs for _, t in record_strings(d.record.model_dump())]  # type: ignore[attr-defined]
        find_phi_many(texts, self.kinds, self.engine)
        return [self.apply(d) for d in docs]

    def apply(self, doc: Doc) -> Doc:
        record, counts = scrub_record(doc.record, self.kinds, self.engine)
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
        assert record.id == doc.record.id, "phi: scrubbing must not change the record id"  # type: ignore[attr-defined]
        doc.record = record
        doc.text = record_text(record)
        return doc
