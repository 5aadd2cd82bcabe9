"""Run the quality stages over a run's output folder and write the kept records, the ledger and the funnel.

IN is a run output folder (data/<table>/*.parquet); OUT gets the same layout with only the kept records
(their `scores` filled in), plus:

- ledger.jsonl   one LedgerEntry per dropped record: stage, reason, and for duplicates the record it duplicated;
                 records that do not validate (stage `validate`) and unreadable shards (stage `read`, named)
                 are in it too — nothing disappears silently;
- funnel.json    per stage and table: records in, out, dropped; and each stage's own summary;
- manifest.json  the generating run's manifest (teachers, prompt hashes, versions) with the filter config added;
- quarantine.jsonl copied from IN (what generation itself rejected).

OUT is written to a temporary folder beside it and renamed into place at the end, so an interrupted filter
never leaves a half-written OUT, and a finished one replaces the old OUT whole (`force`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.case import CaseCard
from schemas.common import Record
from schemas.consultation import Consultation
from schemas.failure import LedgerEntry
from schemas.problem import ReasoningTrace, VerifiableProblem
from synth.quality.base import Doc, Drop, Stage, StageContext, make_doc
from synth.quality.config import FilterConfig, StageConfig

TABLE_TYPES: dict[str, type[Record]] = {
    "consultations": Consultation,
    "problems": VerifiableProblem,
    "reasoning": ReasoningTrace,
    "cases": CaseCard,
}
DEFAULT_TABLES = ("consultations", "problems", "reasoning", "cases")


class FilterError(ValueError):
    """The filter cannot run at all (no input, OUT exists without force, an unknown table)."""


#: stage kind -> (module, class); imported only when a config names the kind (faiss, datasketch are heavy)
_STAGES = {
    "heuristics": ("synth.quality.heuristics", "HeuristicsFilter"),
    "leakage": ("synth.quality.leakage", "LeakageFilter"),
    "phi": ("synth.quality.phi", "PhiScrubber"),
    "decontaminate": ("synth.quality.decontam", "DecontaminationFilter"),
    "exact_dedup": ("synth.quality.dedup", "ExactDedupFilter"),
    "near_dedup": ("synth.quality.dedup", "MinHashDedupFilter"),
    "semantic_dedup": ("synth.quality.semantic", "FaissDedupFilter"),
    "complexity": ("synth.quality.judges", "ComplexityScorer"),
    "quality": ("synth.quality.judges", "QualityJudge"),
    "case_gates": ("synth.quality.cases", "CaseGateFilter"),
    "ddx": ("synth.quality.ddx", "DdxFilter"),
}


def build_stage(cfg: StageConfig, in_dir: Path, compute: Any | None = None) -> Stage:
    """The stage object for one config entry. `compute`: an executor's parallel parts (synth/quality/ray_exec.py
    RayCompute: an embedder, a MinHash signature function); None: this process does everything."""
    import importlib

    kind = cfg.stage
    if kind not in _STAGES:  # pragma: no cover - the config union admits only the kinds above
        raise ValueError(f"unknown stage {kind!r}")
    module, name = _STAGES[kind]
    factory = getattr(importlib.import_module(module), name)
    extra: dict[str, Any] = {}
    if kind == "leakage" and cfg.hidden_answers is None:  # type: ignore[union-attr]
        extra["cases"] = _read_cases(in_dir)  # the input run's cards (plus the seeds, in the stage)
    if compute is not None and kind == "semantic_dedup":
        extra["embedder"] = compute.embedder(cfg.model)  # type: ignore[union-attr]
    if compute is not None and kind == "near_dedup":
        extra["signatures"] = compute.signatures
    stage: Stage = factory(cfg, **extra)
    if cfg.name:
        stage.name = cfg.name  # type: ignore[misc]
    return stage


def _read_cases(in_dir: Path) -> dict[str, CaseCard]:
    """The hidden cards consultations refer to: the run's own cases table, then the shipped seeds."""
    from synth.cases.seeds import load_seed_cases  # type: ignore[import-not-found,unused-ignore]
    from synth.store.shards import iter_records

    cards = {c.id: c for c in load_seed_cases()}
    if (in_dir / "data" / "cases").is_dir():
        cards.update({c.id: c for c in iter_records(in_dir, "cases", CaseCard)})
    return cards


@dataclass
class TableInput:
    docs: list[Doc] = field(default_factory=list)
    read: int = 0
    invalid: int = 0
    corrupt_shards: list[str] = field(default_factory=list)


def read_table(in_dir: Path, table: str, ctx: StageContext) -> TableInput:
    """Every record of a table, validated; invalid rows and unreadable shards go to the ledger."""
    from schemas.arrow import VersionError
    from synth.store.shards import row_record, shard_paths, shard_rows

    model = TABLE_TYPES[table]
    out = TableInput()
    for path in shard_paths(in_dir, table):
        try:
            rows = list(shard_rows(path))
        except VersionError:
            raise  # a newer engine's data: refused whole, never dropped row by row
        except Exception as e:  # a truncated or foreign file: name it, keep going with the others
            out.corrupt_shards.append(path.name)
            reason = f"corrupt shard {path.name}: {type(e).__name__}: {e}"
            print(f"[filter] {table}: {reason}", file=sys.stderr)
            ctx.drop(Doc(table, path.name, Record(), "", ""), "read", reason)
            continue
        for row in rows:
            out.read += 1
            try:
                record = row_record(model, row)
            except ValidationError as e:
                out.invalid += 1
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or '(record)'}: {err['msg']}"
                    for err in e.errors()[:3]
                )
                ctx.drop(Doc(table, str(row["id"]), Record(), "", ""), "validate", f"{path.name}: {problems}")
                continue
            out.docs.append(make_doc(table, record))
    return out


@dataclass
class FilterResult:
    out: Path
    funnel: list[dict[str, Any]]
    kept: dict[str, int]
    dropped: int


def _with_scores(doc: Doc) -> Record:
    record = doc.record
    if doc.scores and "scores" in type(record).model_fields:
        record = record.model_copy(update={"scores": {**getattr(record, "scores", {}), **doc.scores}})
    return record


def _write_outputs(tmp: Path, in_dir: Path, cfg: FilterConfig, docs: list[Doc], ctx: StageContext,
                   funnel: list[dict[str, Any]]) -> dict[str, int]:  # fmt: skip
    from synth.store.shards import ShardWriter

    kept: dict[str, int] = {}
    # OUT has the run layout even when every record was dropped (a run of junk cards): readers expect data/.
    (tmp / "data").mkdir(exist_ok=True)
    by_table: dict[str, list[Doc]] = {}
    for d in docs:
        by_table.setdefault(d.table, []).append(d)
    for table, table_docs in by_table.items():
        writer = ShardWriter(tmp, table, "filtered", 0, max_records=5000, max_bytes=128 * 2**20)
        for d in sorted(table_docs, key=lambda x: x.id):
            r = _with_scores(d)
            writer.add("filter", d.id, [r])
            if writer.full():
                writer.write(writer.take()[0])
        if writer.pending_items:
            writer.write(writer.take()[0])
        kept[table] = len(table_docs)
    with open(tmp / "ledger.jsonl", "w", encoding="utf-8") as f:
        for drop in ctx.drops:
            entry = LedgerEntry(
                record_id=drop.record_id,
                table=drop.table,
                stage=drop.stage,
                reason=drop.reason,
                duplicate_of=drop.duplicate_of,
            )
            f.write(entry.model_dump_json() + "\n")
    (tmp / "funnel.json").write_text(json.dumps(funnel, indent=2, default=str) + "\n")
    manifest: dict[str, Any] = {}
    if (in_dir / "manifest.json").exists():
        manifest = json.loads((in_dir / "manifest.json").read_text())
    manifest["filter"] = {"input": str(in_dir), "config": cfg.model_dump(mode="json")}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    if (in_dir / "quarantine.jsonl").exists():
        shutil.copyfile(in_dir / "quarantine.jsonl", tmp / "quarantine.jsonl")
    return kept


def _summary(stage: Stage) -> dict[str, Any]:
    s = getattr(stage, "summary", None)
    return dict(s) if isinstance(s, dict) else {}


async def run_filter(
    in_dir: Path,
    out_dir: Path,
    cfg: FilterConfig,
    teachers: dict[str, Any] | None = None,
    *,
    force: bool = False,
    seed: int = 0,
    compute: Any | None = None,
) -> FilterResult:
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not (in_dir / "data").is_dir():
        raise FilterError(f"{in_dir}: not a run output folder (no data/)")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise FilterError(f"{out_dir} exists and is not empty: pass --force to replace it")
    tables = cfg.tables or [t for t in DEFAULT_TABLES if (in_dir / "data" / t).is_dir()]
    unknown = [t for t in tables if t not in TABLE_TYPES]
    if unknown:
        raise FilterError(f"unknown table(s) {unknown}; known: {sorted(TABLE_TYPES)}")
    if not tables:
        raise FilterError(f"{in_dir}: no consultations, problems, reasoning or cases records to filter")

    ctx = StageContext(teachers=teachers or {}, work_dir=out_dir, seed=seed, concurrency=cfg.concurrency)
    funnel: list[dict[str, Any]] = []
    docs: list[Doc] = []
    read: dict[str, int] = {}
    for table in tables:
        t = read_table(in_dir, table, ctx)
        docs += t.docs
        read[table] = t.read
    funnel.append(
        {
            "stage": "input",
            "in": sum(read.values()),
            "out": len(docs),
            "by_table": {tb: {"in": read[tb], "out": sum(d.table == tb for d in docs)} for tb in tables},
            "summary": {
                "invalid": sum(1 for d in ctx.drops if d.stage == "validate"),
                "corrupt_shards": [d.record_id for d in ctx.drops if d.stage == "read"],
            },
        }
    )
    for scfg in cfg.stages:
        stage = build_stage(scfg, in_dir, compute)
        before = Counter(d.table for d in docs)
        started = time.perf_counter()
        docs = await stage.run(docs, ctx)
        after = Counter(d.table for d in docs)
        funnel.append(
            {
                "stage": stage.name,
                "kind": scfg.stage,
                "in": sum(before.values()),
                "out": len(docs),
                "by_table": {tb: {"in": before[tb], "out": after[tb]} for tb in before},
                "seconds": round(time.perf_counter() - started, 3),
                "summary": _summary(stage),
            }
        )
        print(f"[filter] {stage.name}: {sum(before.values())} -> {len(docs)}", file=sys.stderr)

    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        kept = _write_outputs(tmp, in_dir, cfg, docs, ctx, funnel)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FilterResult(out_dir, funnel, kept, len(ctx.drops))


def read_ledger(out_dir: Path) -> list[Drop]:
    path = Path(out_dir) / "ledger.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        e = LedgerEntry.model_validate_json(line)
        out.append(Drop(e.record_id, e.table, e.stage, e.reason, e.duplicate_of))
    return out


async def filter_with_teachers(
    in_dir: Path,
    out_dir: Path,
    cfg: FilterConfig,
    teacher_cfgs: dict[str, Any],
    *,
    cache_path: Path | None,
    force: bool = False,
    seed: int = 0,
    compute: Any | None = None,
) -> FilterResult:
    """run_filter with the judge teachers built from their configs (sharing a request cache), closed after."""
    from synth.teachers.cache import RequestCache
    from synth.teachers.registry import build_teacher

    names = sorted({name for _, name in cfg.teacher_refs()})
    cache = RequestCache(cache_path) if (names and cache_path is not None) else None
    teachers = {n: build_teacher(n, teacher_cfgs[n], cache) for n in names}
    try:
        return await run_filter(in_dir, out_dir, cfg, teachers, force=force, seed=seed, compute=compute)
    finally:
        for t in teachers.values():
            await t.aclose()
        if cache is not None:
            cache.close()
