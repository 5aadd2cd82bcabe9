"""Is a word a known word? The vocabulary that lets the fuzzy matcher tell a misspelling from a minimal pair.

A token one edit away from the reference's token is read as a misspelling of it only when the token is *not*
itself a word: "laprotomy" is no word, so it is "laparotomy"; "nephritic" is a word, so it is never "nephrotic".
The vocabulary is the union of

- the English word list of `wordfreq` (about 321,000 words down to a frequency of one in 10^8, which includes
  most medical terms: nephritic, entropion, esotropia, dysphasia, peroneal, rubeola, cystine, humoral ...);
- the words of the ICD-10-CM code descriptions shipped inside `simple-icd-10-cm` (adds ~1,200 clinical words
  wordfreq lacks: abducent, anisometropia, acrodermatitis ...);
- every word of the project's own tables (abbreviations, answer aliases, eponyms), so a rare name the tables
  know ("buerger") is never "corrected" into another ("berger").

Both packages are loaded on the first question only (about 2 s together, most of it the ICD-10-CM import), which
happens only when two tokens are one edit apart. Either one may be missing: `known` then answers from what is
there, and `available()` says whether the main list is, because without it a word's absence proves nothing and a
fuzzy match must stay "unsure".
"""

from __future__ import annotations

import re
import threading
import warnings

_LOCK = threading.Lock()
_WORDS: set[str] = set()
_SOURCES: list[str] = []
_LOADED = False
_WORD = re.compile(r"[a-z]+")


def _table_words() -> set[str]:
    from schemas.matching.aliases import IN_TEXT, WHOLE_ANSWER
    from schemas.matching.eponyms import EPONYMS
    from schemas.matching.lexical import ABBREVIATIONS

    out: set[str] = set()
    for table in (ABBREVIATIONS, IN_TEXT, WHOLE_ANSWER, EPONYMS):
        for k, v in table.items():
            out.update(_WORD.findall(f"{k} {v}".lower()))
    return out


def _load() -> None:
    global _LOADED
    if _LOADED:  # the common case, on every lookup: no lock once loaded
        return
    with _LOCK:
        if _LOADED:
            return
        words = _table_words()
        _SOURCES.append("tables")
        try:
            import wordfreq

            words.update(w for w in wordfreq.get_frequency_dict("en", "large") if w.isalpha())
            _SOURCES.append("wordfreq")
        except ImportError:  # an optional vocabulary: fuzzy matches then stay unsure
            pass
        try:
            with warnings.catch_warnings():  # it reads its data with a deprecated importlib.resources call
                warnings.simplefilter("ignore", DeprecationWarning)
                import simple_icd_10_cm as icd

            for code in icd.get_all_codes(True):
                words.update(_WORD.findall(icd.get_description(code).lower()))
            _SOURCES.append("icd10cm")
        except ImportError:
            pass
        _WORDS.update(words)
        _LOADED = True


def known(word: str) -> bool:
    """Whether `word` (lower case, ASCII) is in the vocabulary; a plural is known when its singular is."""
    _load()
    w = word.lower()
    if w in _WORDS:
        return True
    return len(w) > 4 and w.endswith("s") and w[:-1] in _WORDS


def available() -> bool:
    """Whether the general word list is loaded (without it, an unknown word may simply be a missing one)."""
    _load()
    return "wordfreq" in _SOURCES


def sources() -> list[str]:
    _load()
    return list(_SOURCES)
