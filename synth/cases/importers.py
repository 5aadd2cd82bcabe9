"""Importers: public case formats (AgentClinic OSCE, MediQ, MedQA multiple choice) turned into CaseCards.

Each format is one small mapping function from a parsed record to a CaseCard; `iter_cases` streams the
records of a file (.jsonl, a .json list, or .parquet, chosen by extension) through it and keeps the count.
A record that cannot become a card is never dropped silently: a broken one (bad JSON, a missing field, a
wrong type, an answer that is not one of the options, or a stated answer that the shared answer matcher
does not find in the correct option — `answer_mismatch`, with the matcher's reason) is a *bad line*, and a
sound one the engine must not use is a *policy skip* — `not_a_diagnosis_question` (the MCQ asks for a drug
or a next step, and the verifier could not check a diagnosis) or a case-card gate's code
(synth/cases/gates.py: `names_diagnosis` when the patient's words name the answer, `duplicate_facts`,
`empty_fact`, ...; imported cases may lack findings and keep their clinical wording). Both are recorded with
their line number; strict mode raises on the first bad line instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from schemas.case import Answer, CaseCard, CaseSource, Demographics, Fact, FactCategory, Finding, Sex
from synth.cases.gates import CODES as GATE_CODES
from synth.cases.gates import format_problems, gate_card

Format = Literal["agentclinic", "mediq", "medqa", "casecard"]
FORMATS: tuple[str, ...] = ("agentclinic", "mediq", "medqa", "casecard")

# Reasons that mark a sound record the engine chooses not to use; every other reason is a bad line.
# Every gate code is one: the gates judge the card the record makes, not whether the record is well formed.
POLICY_SKIPS = frozenset({"not_a_diagnosis_question", *GATE_CODES})


class Skipped(NamedTuple):
    line: int
    reason: str

    @property
    def code(self) -> str:
        return self.reason.split(":", 1)[0]

    @property
    def bad(self) -> bool:
        return self.code not in POLICY_SKIPS


class SkipRecord(Exception):
    """A record that does not become a card; `reason` starts with a code such as `missing_field`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CaseImportError(ValueError):
    """A bad line in strict mode; the message reads `file:line: reason`."""

    def __init__(self, path: Path, line: int, reason: str):
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


@dataclass
class ImportResult:
    cards: list[CaseCard] = field(default_factory=list)
    read: int = 0
    skips: list[Skipped] = field(default_factory=list)

    @property
    def written(self) -> int:
        return len(self.cards)

    @property
    def skipped(self) -> int:
        return len(self.skips)

    @property
    def bad_lines(self) -> int:
        return sum(s.bad for s in self.skips)


@dataclass
class ImportCounter:
    """What `iter_cases` saw so far; filled while the cards stream."""

    read: int = 0
    written: int = 0
    skips: list[Skipped] = field(default_factory=list)


# ---------------------------------------------------------------- shared text helpers

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*[- ]?\s*(year|yr|month|mo|week|wk|day)s?\b", re.I)
_AGE_OLD = re.compile(r"(\d+(?:\.\d+)?)[- ](year|month|week|day)s?[- ]old\b", re.I)
_UNIT_YEARS = {"year": 1.0, "yr": 1.0, "month": 1 / 12, "mo": 1 / 12, "week": 7 / 365.25, "wk": 7 / 365.25}
_SEX_WORDS = re.compile(r"\b(female|woman|girl|lady|f|male|man|boy|gentleman|m)\b", re.I)
_FEMALE = {"female", "woman", "girl", "lady", "f"}
_NUMBERING = re.compile(r"^\s*\d+\s*[.)]\s*")
# No split after these: "Dr. Smith", "e.g. aspirin", "vs. placebo".
_ABBREV = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|St|vs|approx|e\.g|i\.e|No|Fig|min|max)\.$", re.I)
_PLACEHOLDER = re.compile(r"^(information )?not (provided|available|given|applicable)\.?$|^n/?a\.?$", re.I)


def parse_age(text: str, *, need_old: bool = False) -> float | None:
    """Age in years from '35-year-old', '8 months', '21 years old'; None if absent or implausible."""
    if re.search(r"\b(newborn|neonate)\b", text, re.I):
        return 0.0
    m = (_AGE_OLD if need_old else _AGE).search(text)
    if not m:
        return None
    years = float(m.group(1)) * _UNIT_YEARS.get(m.group(2).lower(), 1 / 365.25)
    return round(years, 2) if years <= 120 else None


def parse_sex(text: str, *, single_letter: bool = False) -> Sex:
    """The first sex word in text ('girl ... her mother' is the girl); M/F only for a bare meta field."""
    for m in _SEX_WORDS.finditer(text):
        word = m.group(1).lower()
        if len(word) == 1 and not single_letter:
            continue
        return "female" if word in _FEMALE else "male"
    return "unknown"


def split_sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])", text.strip())
    out: list[str] = []
    for p in parts:
        if out and _ABBREV.search(out[-1]):
            out[-1] = f"{out[-1]} {p}"
        elif p.strip():
            out.append(p.strip())
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else f"{text}."


def _human(key: str) -> str:
    return key.replace("_", " ").strip()


def render(value: Any) -> str:
    """A nested value as one line of text: lists joined with '; ', dicts as 'key: value'."""
    if isinstance(value, dict):
        return "; ".join(f"{_human(str(k))}: {render(v)}" for k, v in value.items() if render(v))
    if isinstance(value, list):
        return "; ".join(r for r in (render(v) for v in value) if r)
    return "" if value is None else str(value).strip()


def flatten_findings(tree: Any, *, system_from_top: bool) -> list[Finding]:
    """Nested findings as rows. Exam: system = top key, name = the path below it. Tests: name = full path."""
    if not isinstance(tree, dict):
        text = render(tree)
        return [Finding(name="Findings", result=text)] if text else []
    rows: list[Finding] = []

    def walk(node: Any, path: list[str], system: str | None) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(v, [*path, _human(str(k))], system)
            return
        result = render(node)
        if result and path:
            rows.append(Finding(name=" / ".join(path), result=result, system=system))

    for top, sub in tree.items():
        if system_from_top:
            inner = sub if isinstance(sub, dict) else {top: sub}
            walk(inner, [], _human(str(top)))
        else:
            walk(sub, [_human(str(top))], None)
    return rows


def _first_problem(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "record"
    if not e.title.startswith("_"):
        # Our input models are private; anything else is the card (or a part of it) refusing the content.
        return f"invalid_card: {e.title}.{where}: {err['msg']}"
    if err["type"] == "missing":
        return f"missing_field: {where}"
    return f"wrong_type: {where}: {err['msg']}"


def _is_diagnostic(question: str) -> bool:
    return "diagnosis" in question.lower()


def _facts(texts: list[tuple[FactCategory, str, bool]]) -> list[Fact]:
    kept = [(cat, t, key) for cat, t, key in texts if t.strip()]
    return [Fact(id=f"f{i}", category=c, text=_sentence(t), key=k) for i, (c, t, k) in enumerate(kept, 1)]


# ---------------------------------------------------------------- AgentClinic OSCE


class _Loose(BaseModel):
    # Foreign formats grow fields; anything unknown is kept out of the card, not an error.
    model_config = ConfigDict(extra="allow")


class _Symptoms(_Loose):
    Primary_Symptom: str | None = None
    Secondary_Symptoms: list[str] = []

    @field_validator("Secondary_Symptoms", mode="before")
    @classmethod
    def _one_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v or []


class _PatientActor(_Loose):
    # Usually strings; a list or a dict is rendered to text rather than refused.
    Demographics: Any = None
    History: Any = None
    Symptoms: _Symptoms | None = None


class _OSCE(_Loose):
    Objective_for_Doctor: str | None = None
    Patient_Actor: _PatientActor
    Physical_Examination_Findings: dict[str, Any] | str | None = None
    Test_Results: dict[str, Any] | str | None = None
    Correct_Diagnosis: str


class _AgentClinicRecord(_Loose):
    OSCE_Examination: _OSCE


_SECTION_CATEGORY: dict[str, FactCategory] = {
    "past_medical_history": "past_medical_history",
    "past_surgical_history": "past_medical_history",
    "medications": "medications",
    "current_medications": "medications",
    "allergies": "allergies",
    "family_history": "family_history",
    "social_history": "social_history",
    "review_of_systems": "review_of_systems",
}


def opening_from_symptom(symptom: str) -> str:
    """'Double vision' -> "I've been having double vision." (an acronym keeps its capitals)."""
    s = symptom.strip().rstrip(".!?")
    first = s.split(" ", 1)[0]
    if not (len(first) > 1 and first.isupper()):
        s = s[:1].lower() + s[1:]
    return f"I've been having {s}."


def _section_texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [t for v in value for t in _section_texts(v)]
    text = render(value)
    return [] if not text or _PLACEHOLDER.match(text) else [text]


def map_agentclinic(rec: dict[str, Any], source_id: str) -> CaseCard:
    osce = _AgentClinicRecord.model_validate(rec).OSCE_Examination
    actor = osce.Patient_Actor
    sym = actor.Symptoms or _Symptoms()
    texts: list[tuple[FactCategory, str, bool]] = []
    if sym.Primary_Symptom:
        texts.append(("chief_complaint", sym.Primary_Symptom, True))
    texts += [("history_present_illness", s, True) for s in sym.Secondary_Symptoms]
    texts += [("history_present_illness", s, False) for s in split_sentences(render(actor.History))]
    for name, value in (actor.model_extra or {}).items():
        category = _SECTION_CATEGORY.get(name.lower(), "other")
        texts += [(category, t, False) for t in _section_texts(value)]
    complaint = sym.Primary_Symptom or next(iter(sym.Secondary_Symptoms), None)
    demo = render(actor.Demographics)
    return CaseCard(
        demographics=Demographics(age_years=parse_age(demo), sex=parse_sex(demo), description=demo or None),
        opening_statement=opening_from_symptom(complaint) if complaint else "I haven't been feeling well.",
        facts=_facts(texts),
        exam=flatten_findings(osce.Physical_Examination_Findings or {}, system_from_top=True),
        tests=flatten_findings(osce.Test_Results or {}, system_from_top=False),
        answer=Answer(diagnosis=osce.Correct_Diagnosis.strip()),
        source=CaseSource(dataset="agentclinic", source_id=source_id, licence="MIT"),
    )


# ---------------------------------------------------------------- MCQ shared (MediQ, MedQA)


def _options(value: Any) -> dict[str, str]:
    """Options as {letter: text}; also accepts the [{key, value}] list some dataset exports use."""
    if isinstance(value, list) and all(isinstance(o, dict) and {"key", "value"} <= o.keys() for o in value):
        value = {o["key"]: o["value"] for o in value}
    if not isinstance(value, dict):
        raise SkipRecord(
            f"wrong_type: options: expected an object of letter -> text, got {type(value).__name__}"
        )
    # Parquet stores options as a struct, so an absent letter comes back as None.
    opts = {str(k): str(v).strip() for k, v in value.items() if v is not None}
    if not opts:
        raise SkipRecord("missing_field: options is empty")
    return opts


def answer_mismatch(answer: str, opts: dict[str, str], idx: str) -> str | None:
    """Why the stated answer does not name the correct option, or None when it does.

    Sources restate the answer in their own words ("Henoch-Schonlein vasculitis" for the option "IgA
    vasculitis"), so the two are compared with the shared answer matcher (spelling, eponyms, abbreviations),
    not as strings; an answer that names another option as well is as wrong as one naming none."""
    from schemas.matching.verdict import verify_answer_lexical

    v = verify_answer_lexical(answer, opts[idx])
    if v.verdict != "true":
        return f"answer_mismatch: answer {answer!r} differs from option {idx} {opts[idx]!r} ({v.verdict}: {v.reason})"
    others = [
        k for k, text in sorted(opts.items()) if k != idx and verify_answer_lexical(answer, text).correct
    ]
    if others:
        return (
            f"answer_mismatch: answer {answer!r} names option {idx} {opts[idx]!r} and also option(s) {others}"
        )
    return None


def _mcq_answer(options: Any, answer_idx: str, answer: str) -> Answer:
    opts = _options(options)
    if answer_idx not in opts:
        raise SkipRecord(f"bad_answer: answer_idx {answer_idx!r} is not one of the options {sorted(opts)}")
    stated = answer.strip()
    if stated == opts[answer_idx]:
        return Answer(diagnosis=opts[answer_idx], options=opts, correct_option=answer_idx)
    mismatch = answer_mismatch(stated, opts, answer_idx)
    if mismatch:
        raise SkipRecord(mismatch)
    # the source's own wording is kept as an alias: it names the same disease
    aliases = [stated] if stated.lower() != opts[answer_idx].lower() else []
    return Answer(diagnosis=opts[answer_idx], aliases=aliases, options=opts, correct_option=answer_idx)


class _MCQ(_Loose):
    id: int | str | None = None
    question: str
    options: Any
    answer: str
    answer_idx: str


# ---------------------------------------------------------------- MediQ (iMedQA, CRAFT-MD)


class _MediQPatient(_Loose):
    age: str | int | float | None = None
    gender: str | None = None
    gpt_specialty: str | None = None
    specialties: list[str] = []


class _MediQRecord(_MCQ):
    context: list[str]
    facts: list[str]
    patient: _MediQPatient | None = None


def map_mediq(rec: dict[str, Any], source_id: str, allow_non_diagnostic: bool) -> CaseCard:
    r = _MediQRecord.model_validate(rec)
    answer = _mcq_answer(r.options, r.answer_idx, r.answer)
    if not allow_non_diagnostic and not _is_diagnostic(r.question):
        raise SkipRecord("not_a_diagnosis_question")
    context = [c.strip() for c in r.context if c.strip()]
    facts = [_NUMBERING.sub("", f).strip() for f in r.facts]
    if not context:
        raise SkipRecord("missing_field: context is empty")
    first, p = context[0], r.patient or _MediQPatient()
    age = parse_age(str(p.age)) if p.age is not None else parse_age(first, need_old=True)
    sex = parse_sex(p.gender, single_letter=True) if p.gender else parse_sex(first)
    meta = ", ".join(str(v) for v in (p.age, p.gender) if v is not None)
    return CaseCard(
        specialty=p.gpt_specialty or next(iter(p.specialties), None),
        demographics=Demographics(age_years=age, sex=sex, description=meta or None),
        opening_statement=_sentence(first),
        facts=_facts([("other", f, False) for f in facts]),
        answer=answer,
        source=CaseSource(
            dataset="mediq", source_id=str(r.id) if r.id is not None else source_id, licence="CC-BY-4.0"
        ),
    )


# ---------------------------------------------------------------- MedQA multiple choice


def map_medqa(rec: dict[str, Any], source_id: str, allow_non_diagnostic: bool) -> CaseCard:
    r = _MCQ.model_validate(rec)
    answer = _mcq_answer(r.options, r.answer_idx, r.answer)
    sentences = split_sentences(r.question)
    if len(sentences) < 2:
        raise SkipRecord("missing_field: no vignette before the question sentence")
    vignette, asked = sentences[:-1], sentences[-1]
    if not allow_non_diagnostic and not _is_diagnostic(asked):
        raise SkipRecord("not_a_diagnosis_question")
    first = vignette[0]
    return CaseCard(
        demographics=Demographics(
            age_years=parse_age(first, need_old=True), sex=parse_sex(first), description=None
        ),
        opening_statement=_sentence(first),
        facts=_facts([("other", s, False) for s in vignette]),
        answer=answer,
        source=CaseSource(dataset="medqa", source_id=str(r.id) if r.id is not None else source_id),
    )


def map_casecard(rec: dict[str, Any], source_id: str, allow_non_diagnostic: bool) -> CaseCard:
    """The engine's own cards: `synth cases import` output, or a row of a published `cases` config (the card's
    fields as typed columns, or in older folders the JSON in `record`). Validated as they are: unknown fields
    are errors here, not ignored."""
    if isinstance(rec.get("record"), str):  # a published folder of the older JSON-column layout
        return CaseCard.model_validate_json(rec["record"])
    from schemas.arrow import decode_row

    # A published row's flat convenience columns are not card fields; everything else must be one.
    flat = ("diagnosis", "source_dataset", "source_licence", "teacher_models")
    if all(k in rec for k in flat):
        rec = {k: v for k, v in rec.items() if k not in flat}
    return decode_row(CaseCard, rec, strict=True)


_MAPPERS: dict[str, Callable[[dict[str, Any], str, bool], CaseCard]] = {
    "agentclinic": lambda rec, sid, _allow: map_agentclinic(rec, sid),
    "mediq": map_mediq,
    "medqa": map_medqa,
    "casecard": map_casecard,
}


# ---------------------------------------------------------------- reading and the loop


def iter_raw(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or row number, parsed record or the SkipRecord that parsing raised); blank lines are skipped."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield n, row
        return
    if suffix == ".json":
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None  # many ".json" dataset files are really JSON Lines: read them line by line below
        if isinstance(data, list):
            yield from enumerate(data, start=1)
            return
        if isinstance(data, dict):
            yield 1, data
            return
    # Bytes, decoded line by line: a line that is not UTF-8 is that line's problem, not the whole file's.
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield n, SkipRecord(f"invalid_utf8: byte 0x{raw[e.start]:02x} at column {e.start + 1}")
                continue
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                yield n, SkipRecord(f"invalid_json: {e.msg} (column {e.colno})")


def _to_card(
    rec: Any, mapper: Callable[[dict[str, Any], str, bool], CaseCard], n: int, allow: bool
) -> CaseCard:
    if isinstance(rec, SkipRecord):
        raise rec
    if not isinstance(rec, dict):
        raise SkipRecord(f"wrong_type: record: expected a JSON object, got {type(rec).__name__}")
    try:
        card = mapper(rec, str(n), allow)
    except ValidationError as e:
        raise SkipRecord(_first_problem(e)) from e
    # The card's source picks the profile: an imported MCQ case may lack findings and have a single fact.
    problems = gate_card(card)
    if problems:
        raise SkipRecord(format_problems(problems))
    from synth.quality.phi import scrub_record

    return scrub_record(card)[0]  # identifiers never reach a written card (docs/quality.md, PHI)


def iter_cases(
    path: Path | str,
    format: str,
    counter: ImportCounter,
    *,
    strict: bool = False,
    allow_non_diagnostic: bool = False,
) -> Iterator[CaseCard]:
    """Stream validated cards from a file, recording every skip in `counter`; strict raises on a bad line."""
    if format not in _MAPPERS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    path, mapper = Path(path), _MAPPERS[format]
    for n, rec in iter_raw(path):
        counter.read += 1
        try:
            card = _to_card(rec, mapper, n, allow_non_diagnostic)
        except SkipRecord as e:
            skip = Skipped(n, e.reason)
            if strict and skip.bad:
                raise CaseImportError(path, n, e.reason) from e
            counter.skips.append(skip)
            continue
        counter.written += 1
        yield card


def import_cases(
    path: Path | str, format: str, *, strict: bool = False, allow_non_diagnostic: bool = False
) -> ImportResult:
    """All cards of a file in memory, with the counts and the skipped lines."""
    counter = ImportCounter()
    cards = list(iter_cases(path, format, counter, strict=strict, allow_non_diagnostic=allow_non_diagnostic))
    return ImportResult(cards=cards, read=counter.read, skips=counter.skips)
