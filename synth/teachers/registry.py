"""Build backends and teachers from config. The backend class is chosen by the explicit `backend:` field."""

from __future__ import annotations

from synth.teachers.base import Backend
from synth.teachers.cache import RequestCache
from synth.teachers.config import LocalTeacherConfig, OpenAITeacherConfig, TeacherConfig, VLLMTeacherConfig
from synth.teachers.teacher import Teacher


def build_backend(cfg: TeacherConfig) -> Backend:
    # Imports are local so that only the backend a run uses is ever imported (vllm and torch are heavy).
    if isinstance(cfg, OpenAITeacherConfig):
        from synth.teachers.openai_backend import OpenAIBackend

        return OpenAIBackend(cfg)
    if isinstance(cfg, VLLMTeacherConfig):
        from synth.teachers.vllm_backend import VLLMBackend

        return VLLMBackend(cfg)
    if isinstance(cfg, LocalTeacherConfig):
        from synth.teachers.local_backend import LocalBackend

        return LocalBackend(cfg)
    raise TypeError(f"unknown teacher config {type(cfg).__name__}")


def build_teacher(name: str, cfg: TeacherConfig, cache: RequestCache | None) -> Teacher:
    return Teacher(
        name,
        build_backend(cfg),
        cache=cache,
        params=cfg.params,
        max_reasks=cfg.max_reasks,
        breaker=cfg.breaker,
    )
