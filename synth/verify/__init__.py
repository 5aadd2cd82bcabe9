"""Verification of answers against hidden ground truth: lexical matching first, an optional LLM judge second.

Shared by the consultation simulator (a final diagnosis against the case's answer) and the verifiable-problems
generator (a free-text answer against its short ground truth). The lexical matcher itself lives in
schemas/matching (the train package rewards with it and must not import synth); this package adds the judge.
Names load on first use, so importing the `synth verify` command (synth/verify/verify_cli.py) keeps
`synth --help` instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.matching.answer import compare_answer, normalise_answer
    from schemas.matching.lexical import LexicalResult, compare, compare_any, normalise, tokens
    from schemas.matching.verdict import AnswerVerdict, Verdict, verify_answer_lexical, verify_lexical
    from synth.verify.verifier import verify_answer, verify_diagnosis

_WHERE = {
    "compare_answer": "schemas.matching.answer",
    "normalise_answer": "schemas.matching.answer",
    "LexicalResult": "schemas.matching.lexical",
    "compare": "schemas.matching.lexical",
    "compare_any": "schemas.matching.lexical",
    "normalise": "schemas.matching.lexical",
    "tokens": "schemas.matching.lexical",
    "AnswerVerdict": "schemas.matching.verdict",
    "Verdict": "schemas.matching.verdict",
    "verify_answer": "synth.verify.verifier",
    "verify_answer_lexical": "schemas.matching.verdict",
    "verify_diagnosis": "synth.verify.verifier",
    "verify_lexical": "schemas.matching.verdict",
}

__all__ = [
    "AnswerVerdict",
    "LexicalResult",
    "Verdict",
    "compare",
    "compare_answer",
    "compare_any",
    "normalise",
    "normalise_answer",
    "tokens",
    "verify_answer",
    "verify_answer_lexical",
    "verify_diagnosis",
    "verify_lexical",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'synth.verify' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
