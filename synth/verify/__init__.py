"""Verification of answers against hidden ground truth: lexical matching first, an optional LLM judge second.

Shared by the consultation simulator (a final diagnosis against the case's answer) and the verifiable-problems
generator (a free-text answer against its short ground truth).
"""

from synth.verify.lexical import LexicalResult, compare, compare_any, normalise, tokens
from synth.verify.verifier import Verdict, verify_diagnosis, verify_lexical

__all__ = [
    "LexicalResult",
    "Verdict",
    "compare",
    "compare_any",
    "normalise",
    "tokens",
    "verify_diagnosis",
    "verify_lexical",
]
