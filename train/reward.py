"""The verifier reward of HuatuoGPT-o1's RL stage, and the parsing of `## Thinking` / `## Final Response`.

A completion earns `correct` when its final response verifies against the ground truth (the generator's own
lexical matcher, schemas/matching: the labels and the reward agree by construction), `wrong` when it does not
(or when the matcher is unsure, unless `unsure` is set), and `unformatted` when it lacks either section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from schemas.matching import verify_answer_lexical
from train.recipe import RewardSpec

THINKING = "## Thinking"
FINAL = "## Final Response"
FORMAT_PROMPT = (
    "You are a careful physician. Reason step by step under a '## Thinking' heading, then give your answer "
    "under a '## Final Response' heading."
)
_SECTION = re.compile(r"^\s*#{1,4}\s*(thinking|final response)\s*:?\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Parsed:
    thinking: str | None
    final: str | None

    @property
    def formatted(self) -> bool:
        return bool(self.thinking and self.thinking.strip()) and bool(self.final and self.final.strip())


def parse_response(text: str) -> Parsed:
    """The text under each heading (the last '## Final Response' wins; headings are case-insensitive)."""
    thinking = final = None
    marks = list(_SECTION.finditer(text))
    for i, m in enumerate(marks):
        body = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip()
        if m.group(1).lower() == "thinking":
            thinking = body if thinking is None else thinking
        else:
            final = body
    return Parsed(thinking, final)


def completion_text(completion: Any) -> str:
    """TRL passes conversational completions as [{'role': 'assistant', 'content': ...}], plain ones as str."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, dict))


class VerifierReward:
    """A TRL reward function: reward(prompts, completions, answer, aliases, **columns) -> list[float]."""

    __name__ = "verifier"

    def __init__(self, spec: RewardSpec):
        self.spec = spec

    def score(self, text: str, answer: str, aliases: list[str] | None = None) -> float:
        parsed = parse_response(text)
        if not parsed.formatted:
            return self.spec.unformatted
        assert parsed.final is not None
        verdict = verify_answer_lexical(parsed.final, answer, aliases or [])
        if verdict.verdict == "true":
            return self.spec.correct
        if verdict.verdict == "unsure" and self.spec.unsure is not None:
            return self.spec.unsure
        return self.spec.wrong

    def __call__(
        self, prompts: list[Any], completions: list[Any], answer: list[str], **columns: Any
    ) -> list[float]:
        aliases = columns.get("aliases") or [None] * len(completions)
        return [
            self.score(completion_text(c), a, al)
            for c, a, al in zip(completions, answer, aliases, strict=True)
        ]
