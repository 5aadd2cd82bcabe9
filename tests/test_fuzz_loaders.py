"""Fuzzing every loader of user input: only typed, readable errors that name the file, the line or the field.

The importers (`synth cases import`), the run and filter configs, the `synth verify` input and the train
recipes get valid inputs broken at random — a value replaced by one of another type, a key dropped, an
unknown key added, a list where a mapping was — and arbitrary text and bytes. Whatever comes in, a loader
either accepts it or raises its own error type with the file in the message; never a traceback. Bounded:
a few dozen examples per loader, no deadline (the first example pays for imports).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.yamlfile import ConfigError
from synth.cases.importers import FORMATS, CaseImportError, import_cases
from tests.conftest import SAMPLES

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI fails on a bug, never on the luck of a draw
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
)
# Keys a YAML file can have that JSON cannot: numbers, booleans, null.
yaml_key = st.text(max_size=12) | st.integers(-5, 5) | st.booleans() | st.none()


def _slots(data: Any, out: list[tuple[Any, Any]] | None = None) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) of a nested structure: the places a mutation can hit."""
    out = [] if out is None else out
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for k, v in items:
        out.append((data, k))
        _slots(v, out)
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one to three random edits."""
    data = {"root": copy.deepcopy(base)}
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(data)
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "drop", "add", "wrap"]))
        if op == "replace":
            container[key] = draw(json_value)
        elif op == "drop" and container is not data:
            del container[key]
        elif op == "add" and isinstance(container[key], dict):
            container[key][draw(yaml_key)] = draw(json_value)
        elif op == "wrap":
            container[key] = [container[key]]
    return data["root"]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _readable(message: str, path: Path) -> None:
    """A typed error's message: names the file, holds no traceback, and each detail line says where."""
    assert str(path) in message, message
    assert "Traceback" not in message and "\n  File " not in message, message
    if " invalid " in message.splitlines()[0]:
        for line in message.splitlines()[1:]:
            assert re.match(r"^  (line \d+: )?\S.*: .+", line), message


# -- run and filter configs (synth/config.py over schemas/yamlfile.py) ---------------------------------------


def _demo() -> dict[str, Any]:
    return yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())


def _check_config(path: Path, load) -> None:
    try:
        load(path)
    except ConfigError as e:
        _readable(str(e), path)


@FUZZ
@given(data=mutated(_demo()))
def test_run_config_loader_fuzzed(workdir, data):
    from synth.config import load_config

    path = workdir / "run.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    _check_config(path, load_config)


@FUZZ
@given(data=mutated({"concurrency": 8, "stages": _demo()["filter"]["stages"]}))
def test_filter_config_loader_fuzzed(workdir, data):
    from synth.config import load_filter_config

    path = workdir / "filter.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    _check_config(path, load_filter_config)


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_config_loaders_on_arbitrary_bytes(workdir, raw):
    from synth.config import load_config, load_filter_config

    path = workdir / "raw.yaml"
    path.write_bytes(raw)
    for load in (load_config, load_filter_config):
        _check_config(path, load)


def test_a_file_that_is_not_utf8_names_its_line(workdir):
    from synth.config import load_config

    path = workdir / "latin1.yaml"
    path.write_bytes(b"run:\n  seed: 1\n  output: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: line 3: not UTF-8 text \(byte 0xe9\)"):
        load_config(path)


# -- train recipes (train/recipe.py) -----------------------------------------------------------------------------

RECIPES = {
    m: yaml.safe_load((REPO / "configs" / "train" / f"{m}-embedded-cpu.yaml").read_text())
    for m in ("sft", "dpo", "grpo", "eval", "ttt")
}


@FUZZ
@given(method=st.sampled_from(sorted(RECIPES)), data=st.data())
def test_train_recipe_loader_fuzzed(workdir, method, data):
    from train.recipe import load_recipe

    recipe = data.draw(mutated(RECIPES[method]))
    path = workdir / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    try:
        load_recipe(path, method)
    except ConfigError as e:
        _readable(str(e), path)


# -- `synth verify` input (synth/verify/verify_cli.py) -------------------------------------------------------

pair = st.fixed_dictionaries(
    {"candidate": st.text(max_size=40), "reference": st.text(max_size=40)},
    optional={"aliases": json_value, "question": json_value, "label": json_value},
)
verify_line = (
    pair.map(lambda p: json.dumps(p).encode())
    | json_value.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=60)
)


@FUZZ
@given(lines=st.lists(verify_line, max_size=6), strict=st.booleans())
def test_verify_input_fuzzed(workdir, lines, strict):
    from typer.testing import CliRunner

    from synth.cli import app

    path = workdir / "pairs.jsonl"
    path.write_bytes(b"\n".join(lines))
    res = CliRunner().invoke(app, ["verify", str(path), *(["--strict"] if strict else [])])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code in (0, 2), res.output
    assert "Traceback" not in res.output
    if res.exit_code == 2:
        assert re.search(rf"{re.escape(str(path))}: line \d+: ", res.output), res.output
    for out_line in filter(None, res.stdout.split("\n")):  # JSON Lines end at "\n" only (not at U+0085)
        assert json.loads(out_line)["verdict"] in ("true", "false", "unsure")


# -- case importers (synth/cases/importers.py) -------------------------------------------------------------------


def _first_record(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text().splitlines()[0])


@functools.cache
def _importer_bases() -> dict[str, dict[str, Any]]:
    agentclinic = _first_record("agentclinic_osce_sample.jsonl")
    mediq = _first_record("mediq_craftmd_sample.jsonl")
    context = mediq["context"] if isinstance(mediq["context"], list) else [mediq["context"]]
    medqa = {
        "question": " ".join([*context, mediq["question"]]),
        "options": mediq["options"],
        "answer_idx": mediq["answer_idx"],
        "answer": mediq["answer"],
    }
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "a.jsonl"
        p.write_text(json.dumps(agentclinic) + "\n")
        card = import_cases(p, "agentclinic").cards[0].model_dump(mode="json")
    return {"agentclinic": agentclinic, "mediq": mediq, "medqa": medqa, "casecard": card}


@FUZZ
@given(fmt=st.sampled_from(FORMATS), data=st.data(), as_list=st.booleans())
def test_importers_fuzzed(workdir, fmt, data, as_list):
    base = _importer_bases()[fmt]
    records = data.draw(st.lists(mutated(base) | json_value, min_size=1, max_size=4))
    noise = data.draw(st.lists(st.binary(max_size=40), max_size=2))  # any bytes, UTF-8 or not
    if as_list:
        path = workdir / "cases.json"
        path.write_text(json.dumps(records))
    else:
        path = workdir / "cases.jsonl"
        path.write_bytes(b"\n".join([json.dumps(r).encode() for r in records] + noise))
    res = import_cases(path, fmt)
    assert res.written + res.skipped == res.read
    for skip in res.skips:
        assert skip.line >= 1 and re.match(r"^[a-z][a-z0-9_]*(: |$)", skip.reason), skip
    bad = [s for s in res.skips if s.bad]
    try:
        strict = import_cases(path, fmt, strict=True)
    except CaseImportError as e:
        assert bad and f"{path}:{bad[0].line}" in str(e) and bad[0].reason in str(e), (str(e), bad)
    else:
        assert not bad and strict.written == res.written
