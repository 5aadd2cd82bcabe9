"""What `synth publish` can be asked to do: one pydantic model, stored in the published folder's publish.json.

The options that decide *which* rows land in *which* split (seed, fractions) and how rows are rendered
(reasoning, consultation selection, label-hinted traces) are fixed by the first publish into a folder: a
second publish with other values would silently move groups between splits or mix two renderings, so it is
refused instead (`PublishError`) — publish into a new folder to change them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.publish.mix import MixConfig

SPLITS = ("train", "validation", "test")


class PublishError(ValueError):
    """The folder cannot be published as asked (bad input, incompatible options, a secret in the card)."""


class PublishOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, description="split assignment: sha256(seed, group)")
    fractions: tuple[float, float, float] = Field(
        default=(0.9, 0.05, 0.05), description="train / validation / test shares of the groups"
    )
    reasoning: Literal["keep", "drop"] = Field(
        default="keep", description="doctor reasoning in SFT/DPO: inside <reasoning>…</reasoning>, or dropped"
    )
    all_consultations: bool = Field(
        default=False, description="SFT: every consultation, not only those whose diagnosis was correct"
    )
    label_hinted: bool = Field(default=False, description="SFT: also label-hinted fallback traces")
    dpo_max_pairs: int = Field(default=2, ge=1, description="DPO pairs per chosen consultation / trace")
    license: str = "apache-2.0"
    pretty_name: str = "Synthetic medical reasoning (medsynth)"
    max_shard_bytes: int = Field(default=256 * 2**20, ge=1, description="uncompressed row bytes per shard")
    allow_phi: bool = Field(
        default=False, description="publish records the PHI scrubber still flags (the override is recorded)"
    )
    mix: MixConfig | None = Field(
        default=None,
        description="external corpora mixed into sft / dpo (synth/publish/mix.py); kept for later publishes",
    )

    @model_validator(mode="after")
    def _fractions(self) -> PublishOptions:
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {self.fractions}")
        if self.fractions[0] <= 0:
            raise ValueError("the train fraction must be > 0")
        return self

    def layout_key(self) -> dict[str, object]:
        """The options two publishes into one folder must agree on."""
        return {
            "seed": self.seed,
            "fractions": list(self.fractions),
            "reasoning": self.reasoning,
            "all_consultations": self.all_consultations,
            "label_hinted": self.label_hinted,
            "dpo_max_pairs": self.dpo_max_pairs,
        }
