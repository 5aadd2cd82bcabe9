"""What trainers read: flat views in the shapes TRL expects, each traceable to its source record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Record


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class SFTExample(Record):
    """TRL conversational format: a list of messages; loss on assistant turns."""

    id: str
    source_id: str = Field(description="id of the consultation or trace it came from")
    group: str = Field(description="case/problem id: examples of one group never cross splits")
    messages: list[Message] = Field(min_length=2)


class DPOExample(Record):
    """TRL preference format (conversational): prompt, chosen, rejected."""

    id: str
    group: str
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]


class RLExample(Record):
    """Verifier-reward RL: a prompt and the ground truth the verifier checks against."""

    id: str
    group: str
    prompt: list[Message]
    answer: str
    aliases: list[str] = Field(default_factory=list)


class RMExample(Record):
    """Reward-model training (TRL's implicit-prompt preference format) with the judge's rubric scores."""

    id: str
    group: str
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    chosen_score: float
    rejected_score: float
    margin: float = Field(description="chosen_score - rejected_score, on the rubric's 1-10 scale")
