"""The run configuration: one pydantic tree loaded from one YAML file.

Unknown keys are errors that name their path (and line, when the YAML has one); CLI flags override values by
dotted path; secrets never live here — a teacher names the environment variable that holds its key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth.cases.config import CasesConfig
from synth.dialogue.config import ConsultationsConfig, ImportedCases
from synth.problems.config import MCQSource, ProblemsConfig, ReasoningConfig
from synth.quality.config import FilterConfig
from synth.teachers.config import LocalTeacherConfig, TeacherConfig

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem, with the file, the key path and the line where known."""


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
        if self.filter:
            refs += self.filter.teacher_refs()
        return refs

    def public_dict(self) -> dict[str, Any]:
        """What goes into the manifest: the whole config (it never holds secrets, only env var names)."""
        return self.model_dump(mode="json")


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to the line of the deepest key found."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(part):
                    line = k.start_mark.line + 1
                    nxt = v
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _known_keys(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every field name anywhere in the config tree, for 'did you mean' hints."""
    import typing

    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    keys = set(model.model_fields)
    for f in model.model_fields.values():
        stack = [f.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                keys |= _known_keys(t, seen)
            stack.extend(typing.get_args(t))
    return keys


def _union_tags() -> set[str]:
    """Discriminator values pydantic inserts into error paths of tagged unions ('local', 'heuristics', ...)."""
    import typing

    from synth.quality.config import StageConfig

    stages = typing.get_args(typing.get_args(StageConfig)[0])
    return {"openai", "vllm", "local"} | {
        typing.get_args(s.model_fields["stage"].annotation)[0] for s in stages
    }


def _format_errors(
    e: ValidationError, source: str, root: yaml.Node | None, model: type[BaseModel] | None = None
) -> str:
    import difflib

    known = sorted(_known_keys(model or RunConfig))
    tags = _union_tags()
    lines = [f"{source}: invalid configuration"]
    for err in e.errors():
        # Drop the discriminator tag pydantic inserts for tagged unions (e.g. 'local') from the path.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in tags))
        shown = ".".join(str(p) for p in loc) or "(root)"
        line = _line_of(root, loc)
        where = f"line {line}: " if line else ""
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        lines.append(f"  {where}{shown}: {msg}")
    return "\n".join(lines)


def _apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = cur[p] = {}
        cur = nxt
    cur[parts[-1]] = value


def _load_yaml(path: Path, model: type[M], overrides: dict[str, Any] | None = None) -> M:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    for k, v in (overrides or {}).items():
        _apply_override(data, k, v)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, str(path), root, model)) from None


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
