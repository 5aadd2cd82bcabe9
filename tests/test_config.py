"""Config loading: unknown keys and bad values named by path and line; overrides; no secrets."""

from __future__ import annotations

import pytest

from synth.config import ConfigError, load_config

BASE = {"run": {"output": "out"}, "cases": {"synthesize": {"n": 2}}}


def test_defaults_and_relative_output(write_config, tmp_path):
    cfg = load_config(write_config(BASE))
    assert cfg.run.output == (tmp_path / "out").resolve()
    assert cfg.teachers["default"].backend == "local"  # the embedded default
    assert cfg.teachers["default"].model == "embedded"


def test_unknown_key_named_with_path_line_and_hint(write_config):
    p = write_config({"run": {"output": "o", "concurency": 3}, "cases": {"synthesize": {"n": 1}}})
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and "line 3: run.concurency: unknown key" in msg and "'concurrency'" in msg


def test_backend_chosen_by_field_and_checked(write_config):
    p = write_config({**BASE, "teachers": {"default": {"backend": "openai", "model": "m", "rpm": 0}}})
    with pytest.raises(ConfigError, match=r"teachers\.default\.rpm"):
        load_config(p)
    p = write_config({**BASE, "teachers": {"default": {"backend": "magic", "model": "m"}}})
    with pytest.raises(ConfigError, match=r"teachers\.default"):
        load_config(p)


def test_missing_teacher_reference(write_config):
    p = write_config({**BASE, "cases": {"synthesize": {"n": 1, "teacher": "gpt"}}})
    with pytest.raises(ConfigError, match="names teacher 'gpt'"):
        load_config(p)


def test_overrides_by_dotted_path(write_config):
    cfg = load_config(write_config(BASE), {"cases.synthesize.n": 7, "run.concurrency": 3})
    assert cfg.cases.synthesize.n == 7 and cfg.run.concurrency == 3


def test_api_key_only_from_environment(write_config):
    p = write_config(
        {**BASE, "teachers": {"default": {"backend": "openai", "model": "m", "api_key": "sk-x"}}}
    )
    with pytest.raises(ConfigError, match="api_key: unknown key"):
        load_config(p)


def test_not_yaml_and_not_a_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_configs_validate():
    """Every config in configs/ is valid (paths to a user's own data are not checked here)."""
    from pathlib import Path

    import yaml

    from synth.config import FilterFile, RunConfig

    root = Path(__file__).resolve().parents[1] / "configs"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        data = yaml.safe_load(f.read_text())
        model = FilterFile if "stages" in data else RunConfig
        model.model_validate(data)
