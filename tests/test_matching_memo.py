"""The lexical matcher's memoisation and short cuts give exactly what the plain computation gives.

`compare_any` skips aliases that share no token with the prediction and stops at the first match; `tokens`,
`compare` and the bindings are memoised for short texts. Each is checked against the exhaustive computation
over the seed cases' answers and aliases and the abbreviation table, reasons included.
"""

from __future__ import annotations

import random

from schemas.matching import lexical
from schemas.matching.binding import _bindings, bindings
from schemas.matching.lexical import ABBREVIATIONS, LexicalResult, compare, compare_any, tokens
from synth.cases.seeds import load_seed_cases


def _exhaustive_any(predicted: str, golds: list[str]) -> LexicalResult:
    """compare_any as first written: every comparison, then the first of the best outcome."""
    results = [lexical._compare(predicted, g) for g in golds if g.strip()]
    if not results:
        return LexicalResult("no_match", "no gold name")
    return max(results, key=lambda r: lexical._RANK[r.outcome])


def _gold_lists() -> list[list[str]]:
    return [[c.answer.diagnosis, *c.answer.aliases] for c in load_seed_cases()]


def test_compare_any_equals_the_exhaustive_comparison_reasons_included():
    golds = _gold_lists()
    names = sorted({n for g in golds for n in g} | set(ABBREVIATIONS) | set(ABBREVIATIONS.values()))
    rnd = random.Random(5)
    outcomes: set[str] = set()
    checked = 0
    for g in golds:
        variants = [f"acute {g[0]}", f"chronic {g[-1]}", f"no {g[0]}", f"left {g[0]}", g[0].upper(), "", " "]
        for p in [*rnd.sample(names, 150), *g, *variants]:
            got, want = compare_any(p, g), _exhaustive_any(p, g)
            assert got == want, (p, g)
            outcomes.add(got.outcome)
            checked += 1
        # the order of the aliases decides which reason is kept: reversed, still the exhaustive answer
        for p in rnd.sample(names, 20):
            assert compare_any(p, g[::-1]) == _exhaustive_any(p, g[::-1]), (p, g)
    assert outcomes == {"match", "unsure", "no_match"} and checked > 10_000
    assert compare_any("appendicitis", ["", " "]) == LexicalResult("no_match", "no gold name")


def test_memoised_tokens_are_a_fresh_list_each_time():
    first = tokens("Acute myocardial infarctions")
    first.append("poisoned")
    assert tokens("Acute myocardial infarctions") == ["acute", "myocardial", "infarction"]
    # a text with several abbreviations, each replaced as the full table scan would
    assert tokens("MI with AF and COPD") == lexical._tokens("MI with AF and COPD", None)


def test_long_texts_are_not_kept_and_give_the_same_answers():
    sentence = "the patient reports crushing chest pain radiating to the left arm, " * 3
    assert len(sentence) > lexical._CACHED_LEN
    tokens("myocardial infarction")  # the short name is kept: only the sentence must not be
    before = lexical._tokens_cached.cache_info().currsize
    assert tokens(sentence) == lexical._tokens(sentence, None)
    assert compare(sentence, "myocardial infarction") == lexical._compare(sentence, "myocardial infarction")
    assert lexical._tokens_cached.cache_info().currsize == before
    kept = lexical._compare_cached.cache_info().currsize
    compare(sentence, "chest pain")
    assert lexical._compare_cached.cache_info().currsize == kept
    assert bindings(sentence, tokens) == _bindings(sentence, tokens)


def test_memoised_compare_equals_the_plain_comparison():
    golds = _gold_lists()
    rnd = random.Random(11)
    names = [n for g in golds for n in g]
    for _ in range(3):  # again, from the memo
        for a, b in zip(rnd.sample(names, 120), rnd.sample(names, 120), strict=True):
            assert compare(a, b) == lexical._compare(a, b)
            assert bindings(a, tokens) == _bindings(a, tokens)
