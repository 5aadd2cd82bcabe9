"""How an answer is judged correct: the lexical matcher shared by the generator and the trainer.

The generator labels consultations and reasoning chains correct with it (synth/verify adds an optional LLM
judge on top); the train package rewards and evaluates with it (train/reward.py). One definition of "correct"
on both sides is part of the contract: a verifier-reward RL run must score answers exactly as the data was
labelled. Pure Python plus rapidfuzz, wordfreq and simple-icd-10-cm, all imported on first use: importing it costs
nothing and needs neither synth nor a model.

- `lexical`: diagnosis names (normalisation, abbreviation table, qualifier conflicts).
- `answer`: any short medical answer (numbers with units, drugs, tests, organisms, ...), built on `lexical`.
- `verdict`: the typed verdicts (`Verdict`, `AnswerVerdict`) and the lexical entry points.
- `binding`, `fuzzy`, `context`, `eponyms`, `vocab`: which word a qualifier binds to; misspellings, the dropped
  "rt" and side abbreviations; patient ages and durations; old disease names; the vocabulary (wordfreq and
  ICD-10-CM, loaded on first use) that tells a misspelling from a real word.
"""

from schemas.matching.verdict import (
    AnswerVerdict,
    Stage,
    Verdict,
    VerdictValue,
    verify_answer_lexical,
    verify_lexical,
)

__all__ = [
    "AnswerVerdict",
    "Stage",
    "Verdict",
    "VerdictValue",
    "verify_answer_lexical",
    "verify_lexical",
]
