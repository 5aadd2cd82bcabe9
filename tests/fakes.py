"""A scripted fake backend for control-flow tests: answers come from a function or a list, in memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from synth.teachers.base import RawCompletion, Request


def raw(text: str, finish_reason: str = "stop", **kw: Any) -> RawCompletion:
    return RawCompletion(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=kw.pop("prompt_tokens", 10),
        completion_tokens=kw.pop("completion_tokens", 5),
        model="fake",
        **kw,
    )


class ScriptedBackend:
    kind = "fake"

    def __init__(
        self, script: Callable[[Request], RawCompletion | Exception] | list[Any], delay_s: float = 0.0
    ):
        self.model = "fake-model"
        self.script = script
        self.calls: list[Request] = []
        self.delay_s = delay_s
        self.closed = False

    async def generate(self, request: Request) -> RawCompletion:
        self.calls.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        out = self.script(request) if callable(self.script) else self.script.pop(0)
        if isinstance(out, Exception):
            raise out
        if isinstance(out, str):
            return raw(out)
        if isinstance(out, dict):
            return raw(json.dumps(out))
        return out

    async def aclose(self) -> None:
        self.closed = True


def good_case_draft(request: Request) -> RawCompletion:
    """A valid CaseDraft that varies with the prompt and never names the drawn diagnosis."""
    user = request.messages[-1]["content"]
    n = len(user) % 7
    return raw(
        json.dumps(
            {
                "opening_statement": f"I have had a bad feeling in my body for {n + 2} days and it is getting worse.",
                "facts": [
                    {
                        "category": "history_present_illness",
                        "text": f"Symptoms for {n + 2} days",
                        "lay_text": f"It started {n + 2} days ago",
                        "key": True,
                    },
                    {
                        "category": "medications",
                        "text": "Takes no regular medication",
                        "lay_text": "I take nothing",
                        "key": False,
                    },
                    {
                        "category": "social_history",
                        "text": "Non-smoker",
                        "lay_text": "I never smoked",
                        "key": False,
                    },
                ],
                "exam": [{"name": "General", "result": "Looks unwell, temperature 38.1 C"}],
                "tests": [{"name": "CBC", "result": "White cells 13.2 x10^9/L"}],
                "differential": ["viral illness", "anxiety"],
                "diagnosis": "whatever the model wrote",
            }
        )
    )
