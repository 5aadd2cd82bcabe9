"""Lexical comparison of a short open-ended answer (or a long conclusion) with its short ground truth.

Built on the diagnosis matcher (schemas/matching/lexical.py) and extended for every kind of short medical answer:

0. the noise of real exam data first: ages and durations that describe the patient are set aside
   (schemas/matching/context.py); misspelt, "rt"-dropped and side-abbreviated words are repaired against the other
   side (schemas/matching/fuzzy.py) — a match resting on a repair no vocabulary confirms is only unsure;
1. a long conclusion is cut to its answer phrase ("The most likely diagnosis is X because..." → "X"); when no
   cue phrase is found, the reference is searched for inside it, and accepted only when the text hedges or
   negates nothing;
2. a candidate that names several answers ("either X or Y", "X vs Y") is a definite no;
3. numbers with units are compared by value in base units (schemas/matching/quantities.py): a different value of the
   same kind is a definite no, the same value lets the remaining words decide;
4. names (diagnoses, drugs, tests, organisms, anatomy, mechanisms) are compared as token sets after the
   diagnosis normalisation plus the answer alias table (schemas/matching/aliases.py), inflections of mechanism
   words ("inhibits" / "inhibition" / "inhibitor"), genus initials ("S. aureus") and number words. Unlike
   diagnosis matching, a candidate broader than the reference ("diabetes mellitus" for "type 2 diabetes
   mellitus") is only unsure; a phrase that doubts ("possibly X", "?X", "X ruled out") is unsure too;
5. a match is then checked for which word each qualifier and negation binds to (schemas/matching/binding.py):
   "increased A and decreased B" is a definite no against "decreased A and increased B".

`definite` marks a "no" no judge should overturn (a conflicting value, qualifier or a hedge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.matching.aliases import IN_TEXT, WHOLE_ANSWER
from schemas.matching.binding import binding_conflict
from schemas.matching.context import strip_context
from schemas.matching.eponyms import EPONYMS
from schemas.matching.fuzzy import repair
from schemas.matching.lexical import (
    GENERIC,
    LexicalResult,
    Outcome,
    _basic,
    _conflict,
    compare_tokens,
    tokens,
)
from schemas.matching.quantities import Quantity, prepare, quantities, strip_quantities

# Inflections of mechanism and effect words → one form (so "inhibits COX" is "COX inhibitor").
_FAMILIES = [
    ("inhibit", "inhibitor"),
    ("block", "blocker"),
    ("antagoni", "antagonist"),
    ("agoni", "agonist"),
    ("activat", "activator"),
    ("stimulat", "activator"),
    ("induc", "inducer"),
    ("increas", "increased"),
    ("elevat", "increased"),
    ("rais", "increased"),
    ("raiz", "increased"),  # "raised" after the -ise → -ize spelling rule
    ("decreas", "decreased"),
    ("reduc", "decreased"),
    ("diminish", "decreased"),
    ("prolong", "increased"),  # a prolonged time (PT, QT) is an increased one
    ("shorten", "decreased"),
    ("resistan", "resistant"),
    ("sensitiv", "sensitive"),
    ("susceptib", "sensitive"),
    ("deficien", "deficiency"),
    ("synthes", "synthesis"),
    ("bind", "binding"),
]
# British → American spellings beyond the diagnosis table's (common medical stems)
_SPELLING = [
    ("isation", "ization"), ("ising", "izing"), ("ised", "ized"), ("lyse", "lyze"), ("ceph", "cef"), ("caes", "ces"),
    ("foet", "fet"), ("aluminium", "aluminum"), ("centre", "center"), ("fibre", "fiber"), ("oea", "ea"),
    ("coel", "cel"), ("aetiol", "etiol"), ("anaes", "anes"), ("gynaec", "gynec"), ("praev", "prev"),
    ("phaeo", "pheo"), ("orthopaed", "orthoped"), ("manoeuv", "maneuv"), ("tumour", "tumor"),
]  # fmt: skip
# route of administration, read the same however it is written (a different route is a different answer)
_ROUTES = {
    "iv": "intravenous",
    "im": "intramuscular",
    "po": "oral",
    "sc": "subcutaneous",
    "sq": "subcutaneous",
}
_ROUTES |= {"by mouth": "oral", "per os": "oral", "subcut": "subcutaneous", "intravenously": "intravenous"}
_ROUTES |= {"intramuscularly": "intramuscular", "orally": "oral", "subcutaneously": "subcutaneous"}
_ROUTE_RE = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(_ROUTES, key=len, reverse=True)) + r")\b"
)
# salt forms name the same drug ("metformin hydrochloride" is metformin)
_SALTS = frozenset(
    {"hydrochloride", "hcl", "maleate", "besylate", "besilate", "mesylate", "mesilate", "succinate"}
)
_SALTS |= {"tartrate", "fumarate", "hyclate", "monohydrate", "hydrobromide", "dihydrate"}
# a prefix written apart ("pre-eclampsia") is the same word as written together ("preeclampsia")
_PREFIXES = frozenset({
    "pre", "post", "anti", "co", "re", "sub", "trans", "intra", "inter", "para", "peri", "hyper", "gastro", "hypo",
    "auto", "micro", "macro", "neo", "poly", "pseudo", "ultra", "extra", "infra", "supra",
})  # fmt: skip
# anatomical abbreviations with a full stop: "median n." is the median nerve
_ANATOMY_ABBR = re.compile(r"\b(n|nn|a|aa|v|vv|m|mm|lig)\.(?=\s*(?:$|[,;)]))")
_ANATOMY_WORD = {"n": "nerve", "nn": "nerves", "a": "artery", "aa": "arteries", "v": "vein", "vv": "veins"}
_ANATOMY_WORD |= {"m": "muscle", "mm": "muscles", "lig": "ligament"}

# words an answer may add or drop without naming something else ("hepatitis B" / "hepatitis B virus")
ANSWER_GENERIC = GENERIC | {"virus", "bacterium", "scan", "test", "level", "therapy", "treatment", "drug"}
ANSWER_GENERIC |= {"medication", "agent", "about", "approximately", "around", "roughly", "every", "each"}
ANSWER_GENERIC |= _SALTS
_IN_TEXT: list[tuple[str, str]] = []
_IN_TEXT_RE: re.Pattern[str] | None = None
_IN_TEXT_TABLE: dict[str, str] = {}
_EPONYM_TABLE: dict[str, str] = {}
_EPONYM_RE: re.Pattern[str] | None = None
_WHOLE: dict[str, str] = {}
_WORDS = {"daily": "day", "weekly": "week", "hourly": "hour", "monthly": "month", "yearly": "year", "per": ""}
# every way of saying "not there" is one word, so "fever absent" is "no fever"
_WORDS |= {
    "not": "no",
    "absent": "no",
    "nil": "no",
    "lack": "no",
    "lacking": "no",
    "never": "no",
    "non": "no",
}
# one direction axis: "high TSH" is "increased TSH", so "high A, low B" and "decreased A, increased B" conflict
_WORDS |= {"high": "increased", "low": "decreased"}
_GENUS_INITIAL = re.compile(r"(?<![a-z])([a-z])\.\s*(?=[a-z]{3,})")  # "s. aureus": a genus initial
_ROMANS = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
_ROMAN = {r: str(i) for i, r in enumerate(_ROMANS, start=1)}
# numerals that are no English word or common abbreviation are read as numbers anywhere ("bipolar II")
_ROMAN_ANYWHERE = re.compile(r"(?<=[a-z] )(ii|iii|vi|vii|viii|ix|xi|xii)\b")
_ROMAN_AFTER = re.compile(
    r"\b(nerve|cn|factor|type|stage|grade|class|phase|degree|lead|lesion)\s+("
    + "|".join(reversed(_ROMANS))
    + r")\b"
)

# a conclusion: "<cue word> [up to 3 words] is|:" then the answer phrase
_CUE = re.compile(
    r"\b(?:answer|diagnosis|dx|cause|culprit|organism|pathogen|agent|drug|medication|treatment|therapy|"
    r"management|step|test|investigation|study|mechanism|dose|dosage|value|level|structure|nerve|artery|"
    r"finding|choice|option|result|explanation|lesion|condition|it)\b(?:\s+[\w-]+){0,4}?\s*"
    r"(?:\b(?:is|are|was|would be|will be|should be)\b|:|=)\s+(?:most\s+likely\s+|likely\s+|probably\s+)?(.+)",
    re.IGNORECASE | re.DOTALL,
)
_CUT = re.compile(
    r"\s+(?:because|since|given|as evidenced|as shown|as suggested|as indicated|which|based on|owing to|"
    r"in view of|considering|supported by|confirmed by|secondary to the|rather than|instead of)\b|[;(\n]|\.\s|\.$|,\s+(?:as|because|since|"
    r"given|which|with|suggest|supported|confirmed|and)\b",
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*([^*]{1,120})\*\*")
_ALTERNATIVES = re.compile(
    r"\s+(?:or(?!\s+(?:less|more|lower|higher|greater|above|below|fewer|over|under)\b)|versus|vs\.?|and/or)\s+"
    r"|\s*/\s*(?=[a-z]{4,})",
    re.IGNORECASE,
)
_PAREN = re.compile(r"\s*\(([^()]+)\)\s*")
_HEDGE = re.compile(
    r"\b(?:not|no|unlikely|less likely|rule[ds]? out|ruling out|exclude[ds]?|rather than|instead of|versus|vs|"
    r"or|either|differential|possibl[ey]|perhaps|maybe|might|could|cannot|can't|doubt|than)\b",
    re.IGNORECASE,
)
# an answer given with doubt ("possibly X", "?X", "suspected X") is not a verified X, whatever its words
_UNCERTAIN = re.compile(
    r"(?:\b(?:possibl[ey]|probabl[ey]|perhaps|maybe|likely|unlikely|suspected|suspicion of|query|questionable|"
    r"doubtful|improbable|cannot (?:be )?(?:excluded|ruled out)|cannot exclude|rule[ds]? out|r/o|excluded)\b|\?)",
    re.IGNORECASE,
)
_LEADING_LETTER = re.compile(r"^\s*\(?[A-Ea-e]\)\s+")


@dataclass(frozen=True)
class AnswerResult:
    outcome: Outcome
    reason: str
    candidate: str  # normalised forms, for reports
    reference: str
    definite: bool = False


def _in_text() -> list[tuple[str, str]]:
    if not _IN_TEXT:
        pairs = [(_basic(_spell(k)), _basic(_spell(v))) for k, v in IN_TEXT.items()]
        _IN_TEXT.extend(sorted(pairs, key=lambda p: -len(p[0])))
        _WHOLE.update({_basic(k).strip(): _spell(v) for k, v in WHOLE_ANSWER.items()})
    return _IN_TEXT


def _spell(text: str) -> str:
    for uk, us in _SPELLING:
        text = text.replace(uk, us)
    return text


def _family(tok: str) -> str:
    for prefix, canon in _FAMILIES:
        if tok.startswith(prefix):
            return canon
    return tok


def _expand(text: str) -> str:
    """One pass of the in-text alias table over `_basic` text (an expansion is never expanded again)."""
    global _IN_TEXT_RE
    if _IN_TEXT_RE is None:
        _IN_TEXT_TABLE.update({k.strip(): v.strip() for k, v in _in_text()})
        keys = sorted(_IN_TEXT_TABLE, key=len, reverse=True)
        _IN_TEXT_RE = re.compile("(?<= )(?:" + "|".join(re.escape(k) for k in keys) + ")(?= )")
    return _IN_TEXT_RE.sub(lambda m: _IN_TEXT_TABLE[m.group(0)], text)


_NAMED: list[frozenset[frozenset[str]]] = []


def _named() -> frozenset[frozenset[str]]:
    """Token sets of every condition, drug, test or organism the tables name, as answers see them."""
    if not _NAMED:
        from schemas.matching.lexical import ABBREVIATIONS

        names = [*ABBREVIATIONS.values(), *IN_TEXT.values(), *WHOLE_ANSWER.values(), *EPONYMS.values()]
        _NAMED.append(frozenset(frozenset(answer_tokens(v)) for v in names))
    return _NAMED[0]


def _eponyms(text: str) -> str:
    """Eponyms and old names → the current name, on `_basic` text, before the alias table (one pass)."""
    global _EPONYM_RE
    if _EPONYM_RE is None:
        _EPONYM_TABLE.update({_basic(k).strip(): _basic(_spell(v)).strip() for k, v in EPONYMS.items()})
        keys = sorted(_EPONYM_TABLE, key=len, reverse=True)
        _EPONYM_RE = re.compile("(?<= )(?:" + "|".join(re.escape(k) for k in keys) + ")(?= )")
    return _EPONYM_RE.sub(lambda m: _EPONYM_TABLE[m.group(0)], text)


def answer_tokens(text: str) -> list[str]:
    """Content tokens of an answer: diagnosis normalisation + answer aliases + word families."""
    text = _ANATOMY_ABBR.sub(lambda m: _ANATOMY_WORD[m.group(1)], prepare(text))
    text = _GENUS_INITIAL.sub(r" \1genus ", text)
    text = _ROMAN_AFTER.sub(lambda m: f"{m.group(1)} {_ROMAN[m.group(2)]}", text)
    text = _ROMAN_ANYWHERE.sub(lambda m: _ROMAN[m.group(1)], text)
    text = _ROUTE_RE.sub(lambda m: _ROUTES[m.group(1)], text)
    text = _spell(re.sub(r"\bwithout\b", "non", text))  # "CT without contrast" is "non-contrast CT"
    whole = _WHOLE.get(_basic(text).strip())
    expanded = _expand(_eponyms(_basic(whole or text)))
    out: list[str] = []
    for t in tokens(expanded):
        t = _WORDS.get(t, _family(_adjective(t)))
        if out and out[-1] in _PREFIXES:
            out[-1] += t
        elif t:
            out.append(t)
    return out


def _adjective(tok: str) -> str:
    """An adverb read as its adjective ("irreversibly" → "irreversible")."""
    if len(tok) > 6 and tok.endswith(("ibly", "ably")):
        return tok[:-1] + "e"
    if len(tok) > 6 and tok.endswith(("ously", "ively", "ally")):
        return tok[:-2]
    return tok


def _genus(a: list[str], b: list[str]) -> list[str]:
    """Read a genus initial in `a` ("s aureus") as the genus of `b` that starts with it and precedes the species."""
    out = list(a)
    for i, tok in enumerate(a[:-1]):
        if tok.endswith("genus") and len(tok) == 6:
            tok = out[i] = tok[0]
        if len(tok) == 1 and tok.isalpha() and tok not in b:
            species = a[i + 1]
            for j, full in enumerate(b[:-1]):
                if full.startswith(tok) and len(full) > 3 and b[j + 1] == species:
                    out[i] = full
    return out


def _is_initial(tok: str) -> bool:
    return len(tok) == 6 and tok.endswith("genus")


def compare_names(candidate: str, reference: str) -> AnswerResult:
    a, b = answer_tokens(candidate), answer_tokens(reference)
    a, b = _genus(a, b), _genus(b, a)
    a, b = [t[0] if _is_initial(t) else t for t in a], [t[0] if _is_initial(t) else t for t in b]
    r = compare_tokens(a, b, reference, strict=True, generic=ANSWER_GENERIC, named=_named())
    definite = r.outcome == "no_match" and r.reason.startswith("conflicting")
    if r.outcome != "no_match":
        bound = binding_conflict(candidate, reference, answer_tokens)
        if bound is not None:
            reason, definite = bound
            return AnswerResult(
                "no_match" if definite else "unsure", reason, " ".join(a), " ".join(b), definite
            )
    return AnswerResult(r.outcome, r.reason, " ".join(a), " ".join(b), definite)


def extract_answer(text: str) -> str | None:
    """The answer phrase of a long conclusion, or None when no cue phrase or single bold span names it."""
    bold = _BOLD.findall(text)
    if len(bold) == 1:
        return bold[0].strip(" .:")
    m = _CUE.search(text)
    if not m:
        return None
    phrase = _CUT.split(m.group(1), maxsplit=1)[0]
    phrase = re.sub(r"^(?:an?|the)\s+", "", phrase.strip(" .:*\"'"), flags=re.IGNORECASE)
    return phrase or None


def _alternatives(candidate: str, reference: str) -> list[str]:
    if _ALTERNATIVES.search(reference):
        return [candidate]
    text = re.sub(r"^\s*either\s+", "", candidate, flags=re.IGNORECASE)
    parts = [p.strip(" ,.") for p in _ALTERNATIVES.split(text)]
    return [p for p in parts if p] or [candidate]


def _quantity_text(qs: list[Quantity]) -> str:
    return " ".join(f"[{q.render()}]" for q in qs)


def compare_quantities(candidate: str, reference: str) -> AnswerResult | None:
    """Compare by value when the reference is a quantity; None when it is not one."""
    pc, pr = prepare(candidate), prepare(reference)
    qr = quantities(pr)
    rest_r = answer_tokens(strip_quantities(pr, qr))
    if not qr or (not any(q.has_unit for q in qr) and rest_r):
        return None  # a bare number inside a name ("type 2 diabetes") is the name matcher's business
    qc = quantities(pc)
    rest_c = answer_tokens(strip_quantities(pc, qc))
    norm_c = " ".join(filter(None, [_quantity_text(qc), " ".join(rest_c)]))
    norm_r = " ".join(filter(None, [_quantity_text(qr), " ".join(rest_r)]))

    def result(outcome: Outcome, reason: str, definite: bool = False) -> AnswerResult:
        return AnswerResult(outcome, reason, norm_c, norm_r, definite)

    for q in qr:
        same_kind = [c for c in qc if c.same_dims(q)]
        if not any(c.equals(q) for c in same_kind):
            if same_kind:
                return result("no_match", f"different value: {same_kind[0].render()} vs {q.render()}", True)
            if any(not c.has_unit and c.low == c.high == q.low for c in qc) or (
                q.has_unit and any(c.has_unit and c.dims[0] == q.dims[0] for c in qc)
            ):
                return result("unsure", f"same number but a different or missing unit ({q.render()})")
            if qc:  # not definite: it may be a unit this module cannot convert (mmol/L vs mEq/L)
                return result("no_match", f"no value of the kind of {q.render()}")
            if rest_r and rest_c:
                words = compare_tokens(
                    rest_c, rest_r, reference, strict=True, generic=ANSWER_GENERIC, named=_named()
                )
                if words.outcome == "match":
                    return result("unsure", f"names it ({words.reason}) but gives no value for {q.render()}")
            return result("no_match", f"no value given for {q.render()}")
    for c in qc:
        if any(c.same_dims(q) for q in qr) and not any(c.equals(q) for q in qr):
            return result("no_match", f"also gives {c.render()}", True)
    value = ", ".join(q.render() for q in qr)
    if not rest_r or set(rest_r) <= ANSWER_GENERIC:
        return result("match", f"same value ({value})")
    if not rest_c:
        return result("unsure", f"same value ({value}) but lacks {' '.join(rest_r)!r}")
    words = compare_tokens(rest_c, rest_r, reference, strict=True, generic=ANSWER_GENERIC, named=_named())
    bound = binding_conflict(pc, pr, answer_tokens) if words.outcome == "match" else None
    if bound is not None:
        return result("no_match" if bound[1] else "unsure", f"same value ({value}) but {bound[0]}", bound[1])
    if words.outcome == "match":
        return result("match", f"same value ({value}) and {words.reason}")
    if words.outcome == "no_match" and words.reason.startswith("conflicting"):
        return result("no_match", f"same value ({value}) but {words.reason}", True)
    return result("unsure", f"same value ({value}); words: {words.reason}")


def _compare_phrase(candidate: str, reference: str) -> AnswerResult:
    alts = _alternatives(candidate, reference)
    if len(alts) > 1:
        hits = [a for a in alts if _compare_single(a, reference).outcome == "match"]
        why = "including the reference" if hits else "none of them the reference"
        norm = " | ".join(" ".join(answer_tokens(a)) for a in alts)
        return AnswerResult(
            "no_match", f"names {len(alts)} answers, {why}", norm, normalise_answer(reference), True
        )
    r = _compare_single(candidate, reference)
    doubt = _UNCERTAIN.search(candidate)
    if r.outcome == "match" and doubt and not _UNCERTAIN.search(reference):
        return AnswerResult(
            "unsure", f"{r.reason}, but hedged ({doubt.group(0)!r})", r.candidate, r.reference
        )
    return r


def _compare_single(candidate: str, reference: str) -> AnswerResult:
    return compare_quantities(candidate, reference) or compare_names(candidate, reference)


def _contains(hay: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(hay[i : i + n] == needle for i in range(len(hay) - n + 1))


_CONTAINMENT = ("contains the other", "most of", "apart from generic")
_RAW_WORD = re.compile(r"[a-z]+")


def _unknown_words(text: str, other: str) -> list[str]:
    """Words of `text` (five letters or more) that `other` lacks and no vocabulary knows."""
    from schemas.matching import vocab

    if not vocab.available():
        return []
    words = set(_RAW_WORD.findall(text.lower())) - set(_RAW_WORD.findall(other.lower()))
    return sorted(w for w in words if len(w) >= 5 and w not in ANSWER_GENERIC and not vocab.known(w))


def compare_answer(candidate: str, reference: str) -> AnswerResult:
    """Compare a candidate answer (short, or a long conclusion) with one reference answer.

    First the noise of real data: context ages/durations (schemas/matching/context.py) and misspelt,
    "rt"-dropped or side-abbreviated words (schemas/matching/fuzzy.py). A match that rests on a repair no
    vocabulary confirms is only unsure."""
    candidate, reference, context = strip_context(candidate, reference)
    fix = repair(candidate, reference, answer_tokens)
    r = _compare_answer(fix.candidate, fix.reference)
    if r.outcome == "match" and any(k in r.reason for k in _CONTAINMENT):
        # one side adds or drops a word no vocabulary knows: an unrepaired misspelling may hide a different
        # name ("angiogrphy" keeps "CT pulmonary angiography" from reading as the named test it is)
        odd = _unknown_words(fix.candidate, fix.reference) + _unknown_words(fix.reference, fix.candidate)
        if odd:
            why = f"{r.reason}, but {', '.join(map(repr, odd))} is no known word"
            return AnswerResult("unsure", why, r.candidate, r.reference, False)
    notes = [n for n in [context, *fix.notes] if n]
    if not notes:
        return r
    reason = f"{r.reason} [{'; '.join(notes)}]"
    if r.outcome == "match" and fix.tentative:
        reason = f"{r.reason}, if {'; '.join(fix.notes)} — but {'; '.join(fix.tentative)}"
        return AnswerResult("unsure", reason, r.candidate, r.reference, False)
    return AnswerResult(r.outcome, reason, r.candidate, r.reference, r.definite)


def _compare_answer(candidate: str, reference: str) -> AnswerResult:
    candidate = _LEADING_LETTER.sub("", candidate.strip())
    phrase = extract_answer(candidate)
    if phrase is not None and phrase != candidate:
        r = _compare_phrase(phrase, reference)
        return AnswerResult(
            r.outcome, f"answer phrase {phrase!r}: {r.reason}", r.candidate, r.reference, r.definite
        )
    sentence = (
        len(candidate.split()) >= 12
        or ":" in candidate
        or bool(re.search(r"\w{3}[.!?]\s+[a-z]", candidate, re.I))
    )
    if not sentence:
        return _compare_phrase(candidate, reference)
    # A sentence with no cue: look for the reference inside it, trusted only where nothing is hedged or negated.
    hay, needle = answer_tokens(candidate), answer_tokens(reference)
    norm_c, norm_r = " ".join(hay), " ".join(needle)
    core = [t for t in needle if t not in ANSWER_GENERIC]  # "acute appendicitis" is found as "appendicitis"
    if _contains(hay, needle) or _contains(hay, core):
        if _HEDGE.search(candidate):
            return AnswerResult(
                "unsure", "the reference appears in a text that hedges or negates", norm_c, norm_r
            )
        conflict = _conflict(set(hay), set(needle))
        if conflict:
            why = f"the reference appears, with a conflicting qualifier ({conflict})"
            return AnswerResult("unsure", why, norm_c, norm_r)
        return AnswerResult("match", "the reference appears in the conclusion", norm_c, norm_r)
    r = _compare_single(candidate, reference)
    outcome: Outcome = "unsure" if r.outcome == "match" else r.outcome
    return AnswerResult(
        outcome, f"long text, no answer phrase found: {r.reason}", r.candidate, r.reference, False
    )


def reference_forms(reference: str) -> list[str]:
    """The reference as written, and without / as its parenthetical ("naloxone (Narcan)": "naloxone", "Narcan")."""
    forms = [reference]
    inner = _PAREN.findall(reference)
    if inner:
        outer = _PAREN.sub(" ", reference).strip()
        forms += [outer] if outer else []
        forms += [i for i in inner if len(i.split()) >= 1 and not re.fullmatch(r"[\d\s.,%-]+", i)]
    return forms


_RANK = {"match": 2, "unsure": 1, "no_match": 0}


def compare_answer_any(candidate: str, references: list[str]) -> AnswerResult:
    """The best comparison against the reference and its aliases (a definite no only if every one says so)."""
    forms = [f for r in references if r.strip() for f in reference_forms(r)]
    results = [compare_answer(candidate, f) for f in forms]
    if not results:
        return AnswerResult("no_match", "no reference answer", normalise_answer(candidate), "", False)
    best = max(results, key=lambda r: (_RANK[r.outcome], not r.definite))
    if best.outcome == "no_match" and not all(r.definite for r in results):
        best = AnswerResult(best.outcome, best.reason, best.candidate, best.reference, False)
    return best


def normalise_answer(text: str) -> str:
    """The normalised form of an answer as the comparison sees it (quantities in base units in brackets)."""
    p = prepare(text)
    qs = quantities(p)
    if qs and any(q.has_unit for q in qs):
        rest = answer_tokens(strip_quantities(p, qs))
        return " ".join(filter(None, [_quantity_text(qs), " ".join(rest)]))
    return " ".join(answer_tokens(text))


def as_lexical(r: AnswerResult) -> LexicalResult:
    return LexicalResult(r.outcome, r.reason)
