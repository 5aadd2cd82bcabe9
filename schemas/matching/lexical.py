"""Lexical comparison of two diagnosis names: normalise, expand abbreviations, then compare token sets.

Normalisation: case, accents, punctuation and hyphens, possessives ("Graves' disease"), articles, plurals
(Latin ones too: calculi, metastases), British spellings (haemorrhage/hemorrhage), a small abbreviation table
(MI, COPD, DVT...) with the eponyms and renamed diseases of schemas/matching/eponyms.py, and a few word synonyms
(renal/kidney). Comparison, in order:

- a *conflict* — the names differ in a qualifier that changes the disease (acute/chronic, type 1/type 2,
  left/right, a different number) — is a definite no;
- the same token set (any word order) is a match;
- token-set containment either way is a match when the shorter name has two or more words, or when every
  extra word of the longer one is a generic qualifier ("acute appendicitis" ⊇ "appendicitis"); a single word
  inside a longer name of other words ("infarction" in "myocardial infarction") is only *unsure*, and so is a
  containment that adds a relation word ("family history of X", "X vaccine") or joins two conditions the tables
  name differently (GPA in EGPA);
- any other shared content word is unsure; nothing shared is no;
- a match is then checked for qualifiers and negations bound to other words (schemas/matching/binding.py).

"Unsure" is where an LLM judge, when configured, decides (synth/verify/verifier.py);
the lexical verdict alone is schemas/matching/verdict.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from schemas.matching.eponyms import EPONYMS

Outcome = Literal["match", "no_match", "unsure"]

_NON_WORD = re.compile(r"[^a-z0-9]+")
_POSSESSIVE = re.compile(r"(\w)'s?\b")
# words a single letter names a kind of ("hepatitis A", "vitamin A", IgA = "immunoglobulin a"): there "a" is
# the name's letter, not an article, and dropping it made IgE deficiency contain IgA deficiency
_LETTER_HEADS = frozenset({"hepatitis", "vitamin", "immunoglobulin", "type", "factor", "protein", "class"})
_LETTER_HEADS |= {"group", "influenza", "complex", "zone", "band", "wave", "fiber", "cell", "antigen"}
_STOP = frozenset({"a", "an", "the", "of", "with", "and", "in", "to", "due", "from", "by", "on", "s"})

# British → American spellings, applied inside words (symmetrically, so any slight over-reach is harmless).
_SPELLING = [
    ("haem", "hem"),
    ("aemia", "emia"),
    ("anaem", "anem"),
    ("oedem", "edem"),
    ("oesoph", "esoph"),
    ("ischaem", "ischem"),
    ("leukaem", "leukem"),
    ("tumour", "tumor"),
    ("paed", "ped"),
    ("faec", "fec"),
    ("caec", "cec"),
    ("oestr", "estr"),
    ("diarrhoea", "diarrhea"),
    ("sulph", "sulf"),
]

#: whole-token abbreviations and short names → their expansion (applied before synonyms)
ABBREVIATIONS: dict[str, str] = {
    "mi": "myocardial infarction",
    "ami": "acute myocardial infarction",
    "stemi": "st elevation myocardial infarction",
    "nstemi": "non st elevation myocardial infarction",
    "heart attack": "myocardial infarction",
    "acs": "acute coronary syndrome",
    "chf": "congestive heart failure",
    "hf": "heart failure",
    "copd": "chronic obstructive pulmonary disease",
    "dvt": "deep vein thrombosis",
    "deep venous thrombosis": "deep vein thrombosis",
    "pe": "pulmonary embolism",
    "uti": "urinary tract infection",
    "dka": "diabetic ketoacidosis",
    "hhs": "hyperosmolar hyperglycemic state",
    "t1dm": "type 1 diabetes mellitus",
    "t2dm": "type 2 diabetes mellitus",
    "dm": "diabetes mellitus",
    "af": "atrial fibrillation",
    "afib": "atrial fibrillation",
    "gerd": "gastroesophageal reflux disease",
    "gord": "gastroesophageal reflux disease",
    "cap": "community acquired pneumonia",
    "tb": "tuberculosis",
    "sle": "systemic lupus erythematosus",
    "lupus": "systemic lupus erythematosus",
    "ra": "rheumatoid arthritis",
    "ibs": "irritable bowel syndrome",
    "ibd": "inflammatory bowel disease",
    "aki": "acute kidney injury",
    "acute renal failure": "acute kidney injury",
    "ckd": "chronic kidney disease",
    "cva": "stroke",
    "cerebrovascular accident": "stroke",
    "tia": "transient ischemic attack",
    "sah": "subarachnoid hemorrhage",
    "ards": "acute respiratory distress syndrome",
    "pid": "pelvic inflammatory disease",
    "bph": "benign prostatic hyperplasia",
    "ms": "multiple sclerosis",
    "als": "amyotrophic lateral sclerosis",
    "gbs": "guillain barre syndrome",
    "itp": "immune thrombocytopenia",
    "dic": "disseminated intravascular coagulation",
    "osa": "obstructive sleep apnea",
    "pcos": "polycystic ovary syndrome",
    "htn": "hypertension",
    "high blood pressure": "hypertension",
    "cad": "coronary artery disease",
    "ihd": "ischemic heart disease",
    "hiv": "human immunodeficiency virus infection",
    "uri": "upper respiratory tract infection",
    "urti": "upper respiratory tract infection",
    "pud": "peptic ulcer disease",
    "sbo": "small bowel obstruction",
    "nafld": "nonalcoholic fatty liver disease",
    "ptx": "pneumothorax",
    "aaa": "abdominal aortic aneurysm",
    "bppv": "benign paroxysmal positional vertigo",
    "flu": "influenza",
    "kidney stone": "nephrolithiasis",
    "renal calculus": "nephrolithiasis",
    "gallstone": "cholelithiasis",
    "shingles": "herpes zoster",
    "chickenpox": "varicella",
    "strep throat": "streptococcal pharyngitis",
}
ABBREVIATIONS |= EPONYMS

# Word-level synonyms (after abbreviations): the left word is read as the right one.
_SYNONYMS = {
    "renal": "kidney",
    "cardiac": "heart",
    "hepatic": "liver",
    "venous": "vein",
    "disorder": "disease",
    "nonalcoholic": "non alcoholic",
}

# Words that qualify without changing which disease it is (containment through them is a match).
GENERIC = frozenset(
    {"disease", "syndrome", "mellitus", "uncomplicated", "simple", "typical", "infection", "condition"}
    | {"acute", "severe", "mild", "moderate", "community", "acquired", "episode", "attack", "idiopathic"}
)

# Mutually exclusive qualifiers: two names using different members of one group are different diseases.
_EXCLUSIVE = [
    frozenset({"acute", "chronic", "subacute"}),
    frozenset({"left", "right", "bilateral"}),
    frozenset({"benign", "malignant"}),
    frozenset({"primary", "secondary"}),
    frozenset({"upper", "lower"}),
    frozenset({"central", "peripheral"}),
    frozenset({"systolic", "diastolic"}),
    frozenset({"obstructive", "restrictive"}),
    frozenset({"bacterial", "viral", "fungal"}),
    frozenset({"ischemic", "hemorrhagic"}),
    frozenset({"stable", "unstable"}),
    frozenset({"complete", "incomplete", "partial"}),
    frozenset(
        {"a", "b", "c", "d", "e"}
    ),  # hepatitis A-E, IgA/IgE, vitamin A/D/E ("a" kept after those heads)
    frozenset({"anterior", "posterior"}),
    frozenset({"superior", "inferior"}),
    frozenset({"medial", "lateral"}),
    frozenset({"proximal", "distal"}),
    frozenset({"internal", "external"}),
    frozenset({"ascending", "descending"}),
    frozenset({"positive", "negative"}),
    frozenset({"resistant", "sensitive"}),
    frozenset({"aerobic", "anaerobic"}),
    frozenset({"agonist", "antagonist"}),
    frozenset({"inhibitor", "activator", "inducer"}),
    frozenset({"increased", "decreased", "normal"}),  # which finding is abnormal, and how
    frozenset({"high", "low"}),
    frozenset({"dominant", "recessive"}),
    frozenset({"alpha", "beta", "gamma", "delta"}),
    frozenset({"major", "minor"}),
    frozenset({"early", "late"}),
    frozenset({"first", "second", "third"}),
    frozenset({"oral", "intravenous", "intramuscular", "subcutaneous", "topical", "inhaled", "rectal"}),
]
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
# Words that turn a name into something related to it but not it: a name that adds one is never a containment
# match ("family history of colon cancer" is not colon cancer, "hepatitis B vaccine" not hepatitis B).
RELATION = frozenset({
    "history", "family", "risk", "prevention", "prophylaxis", "prophylactic", "screening", "mimic", "mimicking",
    "differential", "complication", "excluded", "unlikely", "suspected", "suspicion", "resolved", "resolving",
    "previous", "past", "prior", "carrier", "trait", "exposure", "contact", "vaccine", "vaccination",
    "immunization", "immunisation", "induced", "like", "absence", "negative", "normal", "abnormal",
})  # fmt: skip
# Words that negate: which word they negate is decided in schemas/matching/binding.py ("no pleural effusion" is
# not "pleural effusion", but "appendicitis, not gastroenteritis" is appendicitis); a broader name that drops one
# is never a match.
NEGATIONS = frozenset({"no", "not", "absent", "lack", "lacking", "never", "nil", "neither", "nor", "cannot"})


# Latin and Greek plurals of medical nouns (the -s rules below would leave them plural).
_IRREGULAR = {
    "calculi": "calculus",
    "emboli": "embolus",
    "thrombi": "thrombus",
    "bronchi": "bronchus",
    "bacilli": "bacillus",
    "fungi": "fungus",
    "nuclei": "nucleus",
    "alveoli": "alveolus",
    "glomeruli": "glomerulus",
    "nevi": "nevus",
    "naevi": "nevus",
    "villi": "villus",
    "diverticula": "diverticulum",
    "bacteria": "bacterium",
    "ova": "ovum",
    "metastases": "metastasis",
    "anastomoses": "anastomosis",
    "stenoses": "stenosis",
    "vertebrae": "vertebra",
    "fistulae": "fistula",
    "bullae": "bulla",
    "varices": "varix",
    "appendices": "appendix",
    "cervices": "cervix",
    "cortices": "cortex",
    "phalanges": "phalanx",
    "ganglia": "ganglion",
    "foramina": "foramen",
    "lumina": "lumen",
    "femora": "femur",
    "teeth": "tooth",
    "feet": "foot",
}


def _singular(tok: str) -> str:
    if len(tok) <= 3 or tok.isdigit():
        return _IRREGULAR.get(tok, tok)
    if tok in _IRREGULAR:
        return _IRREGULAR[tok]
    if tok.endswith("ies") and len(tok) > 4:
        return tok[:-3] + "y"
    if tok.endswith(("ches", "shes", "xes", "sses")):
        return tok[:-2]
    if tok.endswith("s") and not tok.endswith(("ss", "us", "is", "as", "os")):
        return tok[:-1]
    return tok


def fold(text: str) -> str:
    """Accents folded to ASCII letters ("Schönlein" → "Schonlein", "Barré" → "Barre")."""
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _basic(text: str) -> str:
    """Lower case, no accents, punctuation or possessives, American spelling, singular words; padded."""
    text = _POSSESSIVE.sub(r"\1", fold(text).lower().replace("\u2019", "'"))
    text = _NON_WORD.sub(" ", text)
    for uk, us in _SPELLING:
        text = text.replace(uk, us)
    return " " + " ".join(_singular(t) for t in text.split()) + " "


_ABBREV_NORMALISED: list[tuple[str, str]] = []


def _abbreviations() -> list[tuple[str, str]]:
    # Longest first, so "heart attack" is replaced before any single word inside it.
    if not _ABBREV_NORMALISED:
        pairs = [(_basic(k), _basic(v)) for k, v in ABBREVIATIONS.items()]
        _ABBREV_NORMALISED.extend(sorted(pairs, key=lambda p: -len(p[0])))
    return _ABBREV_NORMALISED


_ABBREV_FIRST: list[tuple[str, str, str]] = []


def _abbreviations_by_first() -> list[tuple[str, str, str]]:
    """`_abbreviations()` in the same order, each with the first word of its short form."""
    if not _ABBREV_FIRST:
        _ABBREV_FIRST.extend((short, long, short.split()[0]) for short, long in _abbreviations())
    return _ABBREV_FIRST


def tokens(text: str, extra: list[tuple[str, str]] | None = None) -> list[str]:
    """Normalised content tokens of a name or a sentence, in order.

    `extra`: more (short, long) pairs, already `_basic`-normalised, expanded before the diagnosis table.
    """
    if not extra and len(text) <= _CACHED_LEN:
        return list(_tokens_cached(text))  # a copy: callers may change their list
    return _tokens(text, extra)


# A consultation matches the same few names again on every turn (each DDx entry against the answer, against
# each other, the leader against the previous one), and one `_tokens` scans the whole abbreviation table: the
# tables are fixed at import, so the tokens of a text never change. Names are kept (8,192 in each memo here,
# ~15 MiB with all full); sentences (a patient's answer, a doctor's question) are rarely seen twice: not kept.
_CACHED_LEN = 64


@lru_cache(maxsize=8192)
def _tokens_cached(text: str) -> tuple[str, ...]:
    return tuple(_tokens(text, None))


def _tokens(text: str, extra: list[tuple[str, str]] | None) -> list[str]:
    text = _basic(text)
    for short, long in extra or []:
        if short in text:
            text = text.replace(short, long)
    # A (padded) short form can only be in the text when its first word is one of the text's words: that set
    # look-up spares the substring search through the whole table for almost every entry.
    words = set(text.split())
    for short, long, first in _abbreviations_by_first():
        if first in words and short in text:
            text = text.replace(short, long)
            words = set(text.split())
    out: list[str] = []
    for raw in text.split():
        for tok in _SYNONYMS.get(raw, raw).split():
            tok = _ROMAN.get(tok, tok) if out and out[-1] == "type" else tok
            if tok not in _STOP or (tok == "a" and out and out[-1] in _LETTER_HEADS):
                out.append(tok)
    return out


def normalise(text: str) -> str:
    return " ".join(tokens(text))


@dataclass(frozen=True)
class LexicalResult:
    outcome: Outcome
    reason: str


_EXCLUSIVE_WORDS = frozenset().union(*_EXCLUSIVE)


def _conflict(a: set[str], b: set[str]) -> str | None:
    if ("non" in a) != ("non" in b):  # NSTEMI is not STEMI, whatever else they share
        return "non vs not non"
    # Most names have no exclusive qualifier at all: one look at the union spares the walk over every group.
    if not a.isdisjoint(_EXCLUSIVE_WORDS) and not b.isdisjoint(_EXCLUSIVE_WORDS):
        for group in _EXCLUSIVE:
            ga, gb = a & group, b & group
            if ga and gb and ga != gb:
                return f"{'/'.join(sorted(ga))} vs {'/'.join(sorted(gb))}"
    na, nb = {t for t in a if t.isdigit()}, {t for t in b if t.isdigit()}
    if na and nb and na != nb:
        return f"{'/'.join(sorted(na))} vs {'/'.join(sorted(nb))}"
    return None


def compare(predicted: str, gold: str) -> LexicalResult:
    """Compare one predicted name with one gold name (same words bound to other qualifiers are no match)."""
    if len(predicted) <= _CACHED_LEN and len(gold) <= _CACHED_LEN:
        return _compare_cached(predicted, gold)
    return _compare(predicted, gold)


# The same pairs come back on every turn of a consultation (see `_tokens_cached`); the result is frozen.
@lru_cache(maxsize=8192)
def _compare_cached(predicted: str, gold: str) -> LexicalResult:
    return _compare(predicted, gold)


def _compare(predicted: str, gold: str) -> LexicalResult:
    r = compare_tokens(tokens(predicted), tokens(gold), gold)
    if r.outcome != "no_match":
        from schemas.matching.binding import binding_conflict

        bound = binding_conflict(predicted, gold, tokens)
        if bound is not None:
            return LexicalResult("no_match" if bound[1] else "unsure", bound[0])
    return r


def compare_tokens(
    predicted: list[str],
    gold_tokens: list[str],
    gold: str,
    *,
    strict: bool = False,
    generic: frozenset[str] = GENERIC,
    named: frozenset[frozenset[str]] | None = None,
) -> LexicalResult:
    """Compare two normalised token lists (`gold` is the gold name as written, for the reason).

    named: token sets of conditions the tables name (default: the expansions of `ABBREVIATIONS`). When both
    names are such a condition and differ by more than generic words, neither containment nor "broader" is a
    match: "granulomatosis with polyangiitis" is not "eosinophilic granulomatosis with polyangiitis".

    strict: a prediction that is *broader* than the gold (misses some of its words) matches only when every
    missing word is generic, or when it keeps at least two words and half of the gold's and drops no number,
    negation or exclusive qualifier — "ectopic pregnancy" answers "tubal ectopic pregnancy", "diabetes
    mellitus" does not answer "type 2 diabetes mellitus" and "Staphylococcus aureus" not "methicillin-resistant
    Staphylococcus aureus".
    """
    a, b = set(predicted), set(gold_tokens)
    if not a or not b:
        return LexicalResult("no_match", "empty name")
    conflict = _conflict(a, b)
    if conflict:
        return LexicalResult("no_match", f"conflicting qualifier ({conflict})")
    if a == b:
        return LexicalResult("match", f"same words as {gold!r}")
    table = named_conditions() if named is None else named
    two_names = (a ^ b) - generic and frozenset(a) in table and frozenset(b) in table
    if two_names and (a < b or b < a):
        return LexicalResult("unsure", f"two differently named conditions ({gold!r})")
    if strict and a < b:
        missing = b - a
        if missing <= generic:
            return LexicalResult("match", f"the same apart from generic words ({gold!r})")
        content = a - generic
        decisive = {
            t
            for t in missing
            if t.isdigit() or t == "non" or t in NEGATIONS or t in RELATION or any(t in g for g in _EXCLUSIVE)
        }
        if len(content) >= 2 and 2 * len(content) >= len(b - generic) and not decisive:
            return LexicalResult("match", f"most of {gold!r} (without {', '.join(sorted(missing))})")
        return LexicalResult("unsure", f"broader than {gold!r} (lacks {', '.join(sorted(missing))})")
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if small <= large:
        extra = large - small
        if extra & RELATION:  # "family history of X", "X vaccine", "HIV negative": about X, but not X
            return LexicalResult("unsure", f"adds {', '.join(sorted(extra & RELATION))} to {gold!r}")
        if len(small) >= 2 or extra <= generic:
            return LexicalResult("match", f"one name contains the other ({gold!r})")
        return LexicalResult("unsure", f"one word of {gold!r} only")
    shared = (a & b) - generic
    if shared:
        return LexicalResult("unsure", f"shares {', '.join(sorted(shared))} with {gold!r}")
    return LexicalResult("no_match", f"nothing in common with {gold!r}")


_NAMED: list[frozenset[frozenset[str]]] = []


def named_conditions() -> frozenset[frozenset[str]]:
    """Token sets of the conditions the abbreviation and eponym table expands to (built once)."""
    if not _NAMED:
        _NAMED.append(frozenset(frozenset(tokens(v)) for v in ABBREVIATIONS.values()))
    return _NAMED[0]


_RANK = {"match": 2, "unsure": 1, "no_match": 0}


def compare_any(predicted: str, golds: list[str]) -> LexicalResult:
    """The best comparison of a predicted name against the gold diagnosis and its aliases: the first match,
    else the first unsure, else the comparison with the first name (so reasons do not depend on later names)."""
    names = [g for g in golds if g.strip()]
    if not names:
        return LexicalResult("no_match", "no gold name")
    # Names that share no token always compare "no_match" (see compare_tokens), and a "no_match" only matters
    # as the first name's: the others are skipped. Most entries of a differential share no word with most of
    # the aliases, and each entry is matched against all of them on every turn of a consultation.
    mine = _token_set(predicted)
    unsure: LexicalResult | None = None
    for gold in names:
        if mine.isdisjoint(_token_set(gold)):
            continue
        r = compare(predicted, gold)
        if r.outcome == "match":
            return r
        if r.outcome == "unsure" and unsure is None:
            unsure = r
    return unsure if unsure is not None else compare(predicted, names[0])


def _token_set(text: str) -> frozenset[str]:
    if len(text) <= _CACHED_LEN:
        return _token_set_cached(text)
    return frozenset(_tokens(text, None))


@lru_cache(maxsize=8192)
def _token_set_cached(text: str) -> frozenset[str]:
    return frozenset(_tokens_cached(text))
