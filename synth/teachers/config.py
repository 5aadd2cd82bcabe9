"""Teacher configuration: one class per backend, chosen by the explicit `backend:` field (never by model name)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synth.teachers.base import SamplingParams
from synth.teachers.breaker import BreakerConfig


class _TeacherBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: SamplingParams = Field(default_factory=SamplingParams, description="default sampling")
    max_reasks: int = Field(default=2, ge=0, description="re-asks when output fails the response schema")
    breaker: BreakerConfig = Field(
        default_factory=BreakerConfig,
        description="pause and probe the teacher after a run of transport failures (synth/teachers/breaker.py)",
    )


class OpenAITeacherConfig(_TeacherBase):
    """Any OpenAI-compatible server: OpenAI, vLLM serve, SGLang, llama.cpp server, Ollama."""

    backend: Literal["openai"]
    model: str
    base_url: str | list[str] = Field(
        default="https://api.openai.com/v1",
        description="one server, or a list (a pool: one vLLM server per GPU; least-outstanding routing, an "
        "endpoint that keeps failing is taken out and probed back; synth/teachers/pool.py)",
    )
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="name of the environment variable holding the key (never the key)",
    )
    max_concurrency: int = Field(default=64, ge=1)
    rpm: float | None = Field(default=None, gt=0, description="requests per minute limit")
    tpm: float | None = Field(default=None, gt=0, description="tokens per minute limit (prompt + max_tokens)")
    timeout_s: float = Field(default=600.0, gt=0)
    max_retries: int = Field(
        default=2,
        ge=0,
        description="retries after the first try, on transport faults (as the official client, plus 2xx "
        "bodies that are cut off or not JSON)",
    )
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    transport: Literal["aiohttp", "sdk"] = Field(
        default="aiohttp",
        description="aiohttp: thin client; sdk: openai.AsyncOpenAI. One retry loop, the same, around either",
    )
    extra_body: dict[str, Any] = Field(default_factory=dict, description="extra JSON fields sent as they are")

    @field_validator("base_url")
    @classmethod
    def _one_or_a_pool(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list):
            if not v:
                raise ValueError("base_url: an empty list (give one URL or several)")
            if len(set(v)) != len(v):
                raise ValueError(f"base_url: a URL listed twice in {v}")
        return v

    @property
    def base_urls(self) -> list[str]:
        """The endpoints, one or many (max_concurrency, rpm and tpm bound the teacher: all of them together)."""
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)


class VLLMTeacherConfig(_TeacherBase):
    """In-process vLLM (AsyncLLM engine: continuous batching over concurrent calls)."""

    backend: Literal["vllm"]
    model: str = Field(default="embedded", description="a path, a Hub id, or 'embedded'")
    max_model_len: int = Field(default=4096, ge=256)
    dtype: str = "auto"
    enforce_eager: bool = False
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    enable_prefix_caching: bool = True
    engine_args: dict[str, Any] = Field(default_factory=dict, description="passed to vLLM's engine arguments")


class LocalTeacherConfig(_TeacherBase):
    """transformers in this process: batched generation with constrained JSON decoding."""

    backend: Literal["local"]
    model: str = Field(default="embedded", description="a path, a Hub id, or 'embedded'")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_batch_size: int = Field(default=8, ge=1)
    batch_wait_ms: float = Field(default=20.0, ge=0, description="how long to wait to fill a batch")
    constrained: bool = Field(default=True, description="grammar-constrained JSON when a schema is asked")
    num_threads: int | None = Field(default=None, ge=1, description="torch CPU threads; default: torch's own")


TeacherConfig = Annotated[
    OpenAITeacherConfig | VLLMTeacherConfig | LocalTeacherConfig, Field(discriminator="backend")
]
