"""`synth verify PAIRS.jsonl`: verdict lines, malformed lines, the summary, and the judge path over a fake backend."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

import synth.teachers.registry as registry
from synth.cli import app
from tests.fakes import ScriptedBackend, raw

PAIRS = [
    {"candidate": "500 mg", "reference": "0.5 g", "label": True, "id": "a"},
    {"candidate": "type 1 DM", "reference": "T2DM", "label": False},
    {
        "candidate": "Lou Gehrig disease",
        "reference": "ALS",
        "aliases": ["Lou Gehrig's disease"],
        "label": True,
    },
    {"candidate": "Barlow syndrome", "reference": "mitral valve prolapse", "label": True},
]


def _write(path: Path, lines: Sequence[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _run(*args: str):
    return CliRunner().invoke(app, ["verify", *args])


def test_lexical_verdicts_and_summary(tmp_path):
    pairs = _write(tmp_path / "pairs.jsonl", PAIRS)
    out = tmp_path / "verdicts.jsonl"
    r = _run(str(pairs), "--out", str(out))
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["verdict"] for x in rows] == ["true", "false", "true", "false"]
    assert {x["stage"] for x in rows} == {"lexical"}
    assert rows[0]["id"] == "a" and rows[0]["label"] is True  # extra fields pass through
    assert rows[0]["candidate_normalised"] == rows[0]["reference_normalised"] == "[0.5 g]"
    assert rows[1]["reason"].startswith("conflicting qualifier")
    assert "4 pairs: 2 true, 2 false, 0 unsure (stage: lexical 4)" in r.output
    assert "accuracy against 'label': 3/4 = 75.0%" in r.output


def test_stdout_by_default(tmp_path):
    r = _run(str(_write(tmp_path / "p.jsonl", PAIRS[:1])))
    assert r.exit_code == 0
    assert json.loads(r.stdout.splitlines()[0])["verdict"] == "true"


def test_malformed_lines_are_reported_and_skipped(tmp_path):
    lines = [
        PAIRS[0],
        "{not json",
        "",
        ["a list"],
        {"candidate": 3, "reference": "x"},
        {"candidate": "x", "reference": "y", "aliases": "z"},
        {"candidate": "x", "reference": "y", "label": "yes"},
        PAIRS[1],
    ]
    pairs = _write(tmp_path / "p.jsonl", lines)
    r = _run(str(pairs), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 0, r.output
    for n, what in [
        (2, "not valid JSON"),
        (4, "expected a JSON object"),
        (5, "'candidate' must be a string"),
    ]:
        assert f"line {n}: {what}" in r.output
    assert "line 6: 'aliases' must be a list of strings" in r.output
    assert "line 7: 'label' must be true, false or null" in r.output
    assert "5 malformed lines skipped" in r.output
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2

    r = _run(str(pairs), "--strict")
    assert r.exit_code == 2 and "line 2: not valid JSON" in r.output


def test_usage_errors(tmp_path):
    r = _run(str(tmp_path / "missing.jsonl"))
    assert r.exit_code == 2 and "cannot read" in r.output
    pairs = _write(tmp_path / "p.jsonl", PAIRS)
    r = _run(str(pairs), "--judge", "j")
    assert r.exit_code == 2 and "--config and --judge go together" in r.output


@pytest.fixture
def judge_config(write_config, tmp_path, monkeypatch):
    backend = ScriptedBackend(lambda req: raw(json.dumps({"verdict": "true", "reason": "same condition"})))
    monkeypatch.setattr(registry, "build_backend", lambda cfg: backend)
    cfg = write_config(
        {
            "run": {"output": str(tmp_path / "out")},
            "teachers": {"j": {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}},
        }
    )
    return cfg, backend


def test_judge_path(tmp_path, judge_config):
    cfg, backend = judge_config
    pairs = _write(tmp_path / "p.jsonl", PAIRS)
    out = tmp_path / "o.jsonl"
    r = _run(str(pairs), "-o", str(out), "--config", str(cfg), "--judge", "j")
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # only the undecided pair goes to the judge; a definite lexical no (type 1 vs 2) stays
    assert [x["stage"] for x in rows] == ["lexical", "lexical", "lexical", "judge"]
    assert rows[3]["verdict"] == "true" and rows[3]["reason"].startswith("same condition")
    assert len(backend.calls) == 1 and backend.closed
    assert "accuracy against 'label': 4/4 = 100.0%" in r.output


def test_unknown_judge_teacher(tmp_path, judge_config):
    cfg, _ = judge_config
    r = _run(str(_write(tmp_path / "p.jsonl", PAIRS)), "--config", str(cfg), "--judge", "nope")
    assert r.exit_code == 2 and "no teacher 'nope'" in r.output


def test_judge_failure_is_reported_not_raised(tmp_path, judge_config, monkeypatch):
    cfg, backend = judge_config
    backend.script = lambda req: RuntimeError("server down")
    r = _run(
        str(_write(tmp_path / "p.jsonl", PAIRS)),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--config",
        str(cfg),
        "--judge",
        "j",
    )
    assert r.exit_code == 0, r.output
    assert "line 4: judge failed: RuntimeError: server down" in r.output
    assert "1 judge failure" in r.output


NOISY = [
    {"candidate": "increased calcium and decreased phosphate", "reference": "decreased calcium and increased phosphate", "label": False},
    {"candidate": "Laprotomy", "reference": "Laparotomy", "label": True},
    {"candidate": "Nephritic syndrome", "reference": "nephrotic syndrome", "label": False},
    {"candidate": "hea failure", "reference": "heart failure", "label": True},
    {"candidate": "Rt accessory nerve", "reference": "right accessory nerve", "label": True},
    {"candidate": "Type 2 diabetes mellitus in a 45-year-old", "reference": "type 2 diabetes mellitus", "label": True},
    {"candidate": "Henoch-Schonlein vasculitis", "reference": "IgA vasculitis", "label": True},
    {"candidate": "perneal tear", "reference": "perineal tear", "label": False},
]  # fmt: skip


def test_exam_data_noise_from_the_cli(tmp_path):
    """The noise of real exam data end to end: no false accept, and "unsure" never counts as verified."""
    out = tmp_path / "o.jsonl"
    r = _run(str(_write(tmp_path / "noisy.jsonl", NOISY)), "-o", str(out))
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["verdict"] for x in rows] == [
        "false",
        "true",
        "false",
        "true",
        "true",
        "true",
        "true",
        "unsure",
    ]
    assert "misspelling" in rows[1]["reason"] and "dropped 'rt'" in rows[3]["reason"]
    assert "8 pairs: 5 true, 2 false, 1 unsure (stage: lexical 8)" in r.output
    # the CLI counts "unsure" as wrong whatever the label: it is not a verdict
    assert "accuracy against 'label': 7/8 = 87.5%" in r.output
