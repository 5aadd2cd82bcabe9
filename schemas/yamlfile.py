"""Load a pydantic model from a YAML file with errors that name the file, the key path and its line.

Shared by the generator's run and filter configs (synth/config.py) and the train package's recipes
(train/recipe.py): unknown keys are errors with a "did you mean" hint, `--set key.path=value` overrides go in
before validation, and a validation error points at the line of the deepest key it could find.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem, with the file, the key path and the line where known."""


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
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


def known_keys(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every field name anywhere in the model tree, for 'did you mean' hints."""
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
                keys |= known_keys(t, seen)
            stack.extend(typing.get_args(t))
    return keys


def did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_PLAIN_KEY = re.compile(r"[\w\-]+")
# A value quoted in pydantic's message may hold a line break: escaped, it cannot split the report's line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def shown_key(part: Any) -> str:
    """A key as an error message shows it: quoted when empty or holding spaces, dots or control characters,
    so the key path stays readable (and on one line)."""
    text = str(part)
    return text if _PLAIN_KEY.fullmatch(text) else repr(text)


def format_errors(
    e: ValidationError,
    source: str,
    root: yaml.Node | None,
    model: type[BaseModel],
    tags: Iterable[str] = (),
    what: str = "configuration",
) -> str:
    """One line per error: `line N: key.path: message`; `tags` are tagged-union discriminators to hide."""
    known = known_keys(model)
    hidden = set(tags)
    lines = [f"{source}: invalid {what}"]
    for err in e.errors():
        # Drop the discriminator tag pydantic inserts for tagged unions (e.g. 'local') from the path.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in hidden))
        shown = ".".join(shown_key(p) for p in loc) or "(root)"
        line = line_of(root, loc)
        where = f"line {line}: " if line else ""
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + did_you_mean(str(loc[-1]), known)
        lines.append(f"  {where}{shown}: {_CONTROL.sub(lambda m: repr(m.group())[1:-1], msg)}")
    return "\n".join(lines)


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = cur[p] = {}
        cur = nxt
    cur[parts[-1]] = value


def read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """The file's mapping and its node tree (for line numbers); ConfigError when unreadable or not a mapping."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {raw[e.start]:#04x})") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data, root


def load_yaml_model(
    path: Path,
    model: type[M],
    overrides: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    what: str = "configuration",
) -> M:
    data, root = read_yaml(path)
    for k, v in (overrides or {}).items():
        apply_override(data, k, v)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_errors(e, str(path), root, model, tags, what)) from None


def parse_sets(sets: Iterable[str]) -> dict[str, Any]:
    """`--set key.path=value` flags: the value is read as YAML (numbers, booleans, lists), the key dotted."""
    out: dict[str, Any] = {}
    for s in sets:
        if "=" not in s:
            raise ConfigError(f"--set expects KEY=VALUE (dotted key), got {s!r}")
        k, v = s.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out
