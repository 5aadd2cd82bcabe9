"""The run configuration: one pydantic tree loaded from one YAML file.

Unknown keys are errors that name their path (and line, when the YAML has one); CLI flags override values by
dotted path; secrets never live here — a teacher names the environment variable that holds its key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.yamlfile import ConfigError, load_yaml_model
from synth.cases.config import CasesConfig
from synth.dialogue.config import ConsultationsConfig, ImportedCases
from synth.problems.config import MCQSource, ProblemsConfig, ReasoningConfig
from synth.quality.config import FilterConfig
from synth.rlaif import RLAIFConfig
from synth.teachers.config import LocalTeacherConfig, TeacherConfig

M = TypeVar("M", bound=BaseModel)

__all__ = ["ConfigError", "FilterFile", "RunConfig", "load_config", "load_filter_config"]


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    path: Path | None = Field(default=None, description="default: <output>/cache.sqlite")


class RunSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: Path = Field(description="output folder: shards, state, manifest, quarantine")
    seed: int = 0
    concurrency: int = Field(default=64, ge=1, description="items in flight at once")
    shard_max_records: int = Field(default=5000, ge=1)
    shard_max_bytes: int = Field(default=128 * 2**20, ge=1024)
    flush_interval_s: float = Field(
        default=30.0, gt=0, description="write finished items at least this often"
    )
    cache: CacheConfig = Field(default_factory=CacheConfig)
    # Executors (docs/architecture.md, "Runs on Ray"): the local one, or partitions as Ray tasks.
    executor: Literal["local", "ray"] = "local"
    address: str | None = Field(
        default=None,
        description="ray: the cluster (auto, ray://HOST:PORT); default a local Ray on this machine",
    )
    workers: int | None = Field(
        default=None, ge=1, description="ray: partitions run at once (default: the cluster's CPUs)"
    )
    partitions: int | None = Field(
        default=None, ge=1, description="ray: item partitions (default 2 x workers; fixed at the first run)"
    )
    task_retries: int = Field(default=3, ge=0, description="ray: reruns of a partition whose worker died")
    storage: str | None = Field(
        default=None, description="ray: fsspec URL (s3://bucket/prefix) that shards, state and manifest go to"
    )

    @model_validator(mode="after")
    def _executor_keys(self) -> RunSection:
        if self.executor != "ray":
            given = [
                k for k in ("address", "workers", "partitions", "storage") if getattr(self, k) is not None
            ]
            if given:
                raise ValueError(f"run.{given[0]} needs run.executor: ray")
        if self.storage is not None and "://" not in self.storage:
            raise ValueError(
                f"run.storage must be an fsspec URL like s3://bucket/prefix, got {self.storage!r}"
            )
        return self


def _default_teachers() -> dict[str, Any]:
    return {"default": LocalTeacherConfig(backend="local")}


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: RunSection
    teachers: dict[str, TeacherConfig] = Field(default_factory=_default_teachers)
    cases: CasesConfig | None = None
    consultations: ConsultationsConfig | None = None
    problems: ProblemsConfig | None = None
    reasoning: ReasoningConfig | None = None
    rlaif: RLAIFConfig | None = Field(default=None, description="judge preference pairs (synth/rlaif.py)")
    filter: FilterConfig | None = Field(
        default=None, description="quality stages run over this run's records into <output>/filtered"
    )

    @model_validator(mode="after")
    def _teachers_exist(self) -> RunConfig:
        for path, name in self.teacher_refs():
            if name not in self.teachers:
                raise ValueError(
                    f"{path} names teacher {name!r}, which is not defined under teachers: "
                    f"(defined: {sorted(self.teachers)})"
                )
        return self

    def teacher_refs(self) -> list[tuple[str, str]]:
        refs: list[tuple[str, str]] = []
        if self.cases and self.cases.synthesize:
            refs.append(("cases.synthesize.teacher", self.cases.synthesize.teacher))
            if self.cases.synthesize.judge:
                refs.append(("cases.synthesize.judge", self.cases.synthesize.judge))
        if self.consultations:
            refs += self.consultations.teacher_refs()
        if self.problems:
            refs += self.problems.teacher_refs()
        if self.reasoning:
            refs += self.reasoning.teacher_refs()
        if self.rlaif:
            refs += self.rlaif.teacher_refs()
        if self.filter:
            refs += self.filter.teacher_refs()
        return refs

    def public_dict(self) -> dict[str, Any]:
        """What goes into the manifest: the whole config (it never holds secrets, only env var names)."""
        return self.model_dump(mode="json")


def _union_tags() -> set[str]:
    """Discriminator values pydantic inserts into error paths of tagged unions ('local', 'heuristics', ...)."""
    import typing

    from synth.quality.config import StageConfig

    stages = typing.get_args(typing.get_args(StageConfig)[0])
    return {"openai", "vllm", "local"} | {
        typing.get_args(s.model_fields["stage"].annotation)[0] for s in stages
    }


def _load_yaml(path: Path, model: type[M], overrides: dict[str, Any] | None = None) -> M:
    return load_yaml_model(path, model, overrides, tags=_union_tags())


def _resolve_filter_paths(f: FilterConfig, base: Path, source: Path, where: str) -> None:
    """Relative paths of filter stages are relative to the file; inputs that must exist are checked now."""
    for i, stage in enumerate(f.stages):
        for field in ("benchmarks", "index_dir", "hidden_answers"):
            value = getattr(stage, field, None)
            if value is None:
                continue
            paths = value if isinstance(value, list) else [value]
            resolved = [q if q.is_absolute() else (base / q).resolve() for q in paths]
            setattr(stage, field, resolved if isinstance(value, list) else resolved[0])
            if field != "index_dir":
                for q in resolved:
                    if not q.exists():
                        raise ConfigError(f"{source}: {where}stages[{i}].{field}: {q} does not exist")


class FilterFile(FilterConfig):
    """The YAML file of `synth filter`: the stages, and the teachers its judge stages name."""

    teachers: dict[str, TeacherConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _judges_defined(self) -> FilterFile:
        for where, name in self.teacher_refs():
            if name not in self.teachers:
                raise ValueError(
                    f"{where.removeprefix('filter.')} names teacher {name!r}, which is not defined under "
                    f"teachers: (defined: {sorted(self.teachers)})"
                )
        return self


def load_filter_config(path: str | Path, overrides: dict[str, Any] | None = None) -> FilterFile:
    path = Path(path)
    cfg = _load_yaml(path, FilterFile, overrides)
    _resolve_filter_paths(cfg, path.parent, path, "")
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    path = Path(path)
    cfg = _load_yaml(path, RunConfig, overrides)
    # Relative paths in the config are relative to the config file, not to the working directory.
    if not cfg.run.output.is_absolute():
        cfg.run.output = (path.parent / cfg.run.output).resolve()
    if cfg.run.cache.path is not None and not cfg.run.cache.path.is_absolute():
        cfg.run.cache.path = (path.parent / cfg.run.cache.path).resolve()
    if cfg.consultations and isinstance(cfg.consultations.cases, ImportedCases):
        imported = cfg.consultations.cases
        if not imported.path.is_absolute():
            imported.path = (path.parent / imported.path).resolve()
    if cfg.problems and isinstance(cfg.problems.source, MCQSource):
        src = cfg.problems.source
        if not src.path.is_absolute():
            src.path = (path.parent / src.path).resolve()
        if not src.path.exists():
            raise ConfigError(f"{path}: problems.source.path: {src.path} does not exist")
    imported_cases = cfg.consultations.cases if cfg.consultations else None
    if isinstance(imported_cases, ImportedCases) and not imported_cases.path.exists():
        raise ConfigError(f"{path}: consultations.cases.import: {imported_cases.path} does not exist")
    if cfg.filter:
        _resolve_filter_paths(cfg.filter, path.parent, path, "filter.")
    return cfg
