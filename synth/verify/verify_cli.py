"""`synth verify PAIRS.jsonl`: check the answer verifier on your own labelled pairs.

Each input line is {"candidate": ..., "reference": ..., "aliases": [...]?, "question": ...?} plus any other
fields (a boolean "label" is used for accuracy); each output line is the input's fields plus the verdict
("true" / "false" / "unsure"), the deciding stage ("lexical" / "judge" / "none"), the reason and the normalised
candidate and reference. Lexical only, unless `--config RUN.yaml --judge TEACHER` names a judge teacher.
Heavy imports stay inside the command so `synth --help` remains instant.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(msg, err=True)
    raise typer.Exit(code)


def _parse_line(line: str, n: int) -> tuple[dict[str, Any] | None, str | None]:
    """The pair on line n, or the reason it is unusable."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"line {n}: not valid JSON ({e.msg})"
    if not isinstance(obj, dict):
        return None, f"line {n}: expected a JSON object"
    for key in ("candidate", "reference"):
        if not isinstance(obj.get(key), str):
            return None, f"line {n}: {key!r} must be a string"
    aliases = obj.get("aliases", [])
    if aliases is None:
        aliases = []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return None, f"line {n}: 'aliases' must be a list of strings"
    if "question" in obj and not isinstance(obj["question"], str | None):
        return None, f"line {n}: 'question' must be a string"
    if "label" in obj and not isinstance(obj["label"], bool | None):
        return None, f"line {n}: 'label' must be true, false or null"
    return obj, None


def _load_judge(config: Path, name: str) -> Any:
    from synth.config import ConfigError, load_config
    from synth.teachers.registry import build_teacher

    try:
        cfg = load_config(config)
    except ConfigError as e:
        _fail(str(e))
    if name not in cfg.teachers:
        _fail(f"{config}: no teacher {name!r} under teachers: (defined: {sorted(cfg.teachers)})")
    return build_teacher(name, cfg.teachers[name], cache=None)


async def _verify_all(pairs: list[tuple[int, dict[str, Any]]], judge: Any, concurrency: int) -> list[Any]:
    import asyncio

    from synth.verify.verifier import verify_answer

    sem = asyncio.Semaphore(concurrency)

    async def one(pair: dict[str, Any]) -> Any:
        async with sem:
            return await verify_answer(
                pair["candidate"],
                pair["reference"],
                pair.get("aliases") or [],
                judge,
                question=pair.get("question"),
            )

    try:
        return await asyncio.gather(*(one(p) for _, p in pairs), return_exceptions=True)
    finally:
        if judge is not None:
            await judge.aclose()


def verify_command(
    pairs: Annotated[Path, typer.Argument(help="JSONL: one {candidate, reference, aliases?} per line")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="where to write one verdict per line ('-' = stdout)")
    ] = "-",
    config: Annotated[
        Path | None, typer.Option("--config", help="run config YAML that defines the judge teacher")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="teacher (from --config) asked when lexical matching is unsure"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first malformed line")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="judge requests in flight")] = 16,
) -> None:
    """Verify candidate answers against references (lexical matching; an LLM judge when configured)."""
    import asyncio

    if (config is None) != (judge is None):
        _fail("--config and --judge go together: the judge is a teacher defined in the run config")
    try:
        data = pairs.read_bytes()
    except OSError as e:
        _fail(f"{pairs}: cannot read: {e.strerror}")
    good: list[tuple[int, dict[str, Any]]] = []
    bad = 0
    # Line by line, bytes first: one line that is not UTF-8 is one malformed line, not the end of the file.
    for n, raw_line in enumerate(data.splitlines(), start=1):
        obj: dict[str, Any] | None
        err: str | None
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            obj, err = None, f"line {n}: not UTF-8 text"
        else:
            if not line.strip():
                continue
            obj, err = _parse_line(line, n)
        if err is not None:
            if strict:
                _fail(f"{pairs}: {err}")
            typer.echo(f"{pairs}: {err} — skipped", err=True)
            bad += 1
            continue
        assert obj is not None
        good.append((n, obj))
    teacher = _load_judge(config, judge) if config is not None and judge is not None else None
    results = asyncio.run(_verify_all(good, teacher, concurrency))

    sink = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")  # noqa: SIM115
    counts: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    labelled = right = failed = 0
    try:
        for (n, pair), v in zip(good, results, strict=True):
            if isinstance(v, BaseException):  # a judge failure is reported on its line, never a crash
                typer.echo(f"{pairs}: line {n}: judge failed: {type(v).__name__}: {v}", err=True)
                failed += 1
                continue
            counts[v.verdict] += 1
            stages[v.stage] += 1
            record = {**pair, **v.as_dict()}
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            label = pair.get("label")
            if isinstance(label, bool):
                labelled += 1
                right += v.correct is label
    finally:
        if sink is not sys.stdout:
            sink.close()
    total = sum(counts.values())
    summary = (
        f"{total} pairs: {counts['true']} true, {counts['false']} false, {counts['unsure']} unsure "
        f"(stage: {', '.join(f'{k} {v}' for k, v in sorted(stages.items())) or 'none'})"
    )
    if bad:
        summary += f"; {bad} malformed line{'s' if bad > 1 else ''} skipped"
    if failed:
        summary += f"; {failed} judge failure{'s' if failed > 1 else ''}"
    typer.echo(summary, err=True)
    if labelled:
        typer.echo(
            f"accuracy against 'label': {right}/{labelled} = {right / labelled:.1%} (unsure counts as wrong)",
            err=True,
        )
