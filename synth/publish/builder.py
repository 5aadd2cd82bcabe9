"""Build a published folder from one or more run (or `synth filter`) output folders, merging into what is there.

    publish_folder([OUT], DIR, overrides)   reads DIR's published records and publish.json (if any), adds the
                                            inputs' records (union by id: a record id already published is
                                            skipped as a duplicate), rebuilds every config, the plots and the
                                            card in a staging folder beside DIR, then swaps them into DIR.

Every case card is re-checked by the case gates (synth/cases/gates.py) before anything is written: a card a
gate rejects is not published, nor is a consultation held on one; both are listed on stderr and in
`PublishResult.gated` with the gate reason.

Everything is rebuilt from the merged records rather than appended, because a view row can depend on
records from two runs (a DPO pair of two consultations of one case). Splits depend only on (seed, group),
so rebuilding never moves a group. Files in DIR that publish does not manage (a `.git` of a cloned Hub repo,
say) are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.case import CaseCard
from schemas.common import Record
from schemas.consultation import Consultation
from schemas.preference import PreferencePair
from schemas.problem import ReasoningTrace, VerifiableProblem
from synth.publish.layout import CONFIGS, RECORD_CONFIGS, read_published_records, write_split
from synth.publish.options import PublishError, PublishOptions

STATE_FILE = "publish.json"
MANAGED_DIRS = ("data", "plots", "mix")
MANAGED_FILES = ("README.md", STATE_FILE)
TABLE_TYPES: dict[str, type[Record]] = {
    "consultations": Consultation,
    "problems": VerifiableProblem,
    "reasoning": ReasoningTrace,
    "cases": CaseCard,
    "preferences": PreferencePair,
}


@dataclass
class PublishResult:
    dest: Path
    counts: dict[str, dict[str, int]]
    added: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    files: list[tuple[str, int]] = field(default_factory=list)
    gated: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> record id -> gate reason
    mix: list[dict[str, Any]] = field(default_factory=list)  # per mixed source: counts (mix.py)


def _scrub_paths(obj: Any) -> Any:
    """Absolute paths (a run's output folder, a benchmark list) shrink to their last part: no machine paths."""
    if isinstance(obj, dict):
        return {k: _scrub_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub_paths(v) for v in obj]
    if isinstance(obj, str) and (obj.startswith("/") or (len(obj) > 2 and obj[1:3] in (":\\", ":/"))):
        return Path(obj).name
    return obj


def read_state(dest: Path) -> dict[str, Any] | None:
    path = dest / STATE_FILE
    if not path.exists():
        if (dest / "data").is_dir():
            raise PublishError(
                f"{dest}: has data/ but no {STATE_FILE}: not a folder written by synth publish"
            )
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def resolve_options(state: dict[str, Any] | None, overrides: dict[str, Any]) -> PublishOptions:
    """The folder's stored options with the explicit overrides; layout options may not change."""
    stored = PublishOptions.model_validate(state["options"]) if state else None
    base = stored.model_dump() if stored else {}
    try:
        opts = PublishOptions.model_validate({**base, **overrides})
    except ValueError as e:
        raise PublishError(str(e)) from e
    if stored is not None:
        old, new = stored.layout_key(), opts.layout_key()
        changed = [f"{k}: {old[k]} -> {new[k]}" for k in old if old[k] != new[k]]
        if changed:
            raise PublishError(
                "this folder was published with other options (" + "; ".join(changed) + "); changing them "
                "would move groups between splits or mix renderings: publish into a new folder instead"
            )
    return opts


def _source_info(path: Path, counts: dict[str, int]) -> dict[str, Any]:
    manifest: dict[str, Any] = {}
    if (path / "manifest.json").exists():
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    funnel = None
    if (path / "funnel.json").exists():
        funnel = json.loads((path / "funnel.json").read_text(encoding="utf-8"))
    run_ids = [r.get("run_id") for r in manifest.get("runs", []) if r.get("run_id")]
    filt = manifest.get("filter")
    teachers = {
        name: {"backend": t.get("backend"), "model": t.get("model")}
        for name, t in (manifest.get("config", {}).get("teachers") or {}).items()
        if isinstance(t, dict)
    }
    return {
        "name": path.resolve().name,
        "kind": "filter" if (filt is not None or funnel is not None) else "run",
        "run_ids": run_ids,
        "engine_version": manifest.get("engine_version"),
        "records": counts,
        "teachers": teachers,
        "prompts": manifest.get("prompts", {}),
        "config": _scrub_paths(manifest.get("config")),
        "filter_config": _scrub_paths(filt.get("config")) if isinstance(filt, dict) else None,
        "funnel": funnel,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _filter_input(path: Path) -> Path | None:
    """The run folder a `synth filter` output was made from, if it is still there (for its case cards)."""
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        return None
    filt = json.loads(manifest_path.read_text(encoding="utf-8")).get("filter")
    src = Path(filt["input"]) if isinstance(filt, dict) and filt.get("input") else None
    return src if src is not None and (src / "data").is_dir() else None


def read_input(path: Path) -> tuple[dict[str, list[Record]], dict[str, Any], list[CaseCard]]:
    """An input folder's records by table, its source description, and extra cards (its filter input's)."""
    from synth.store.shards import iter_records

    if not (path / "data").is_dir():
        raise PublishError(f"{path}: not a run or filter output folder (no data/)")
    tables = {t: list(iter_records(path, t, m)) for t, m in TABLE_TYPES.items()}
    extra: list[CaseCard] = []
    src = _filter_input(path)
    if src is not None:
        extra = list(iter_records(src, "cases", CaseCard))
    return tables, _source_info(path, {t: len(v) for t, v in tables.items() if v}), extra


def _add_referenced_cases(merged: dict[str, dict[str, Any]], extra: list[CaseCard]) -> None:
    """The cards that consultations refer to but no cases table holds: a filter input's, then the seeds."""
    wanted = {c.case_id for c in merged["consultations"].values()} - set(merged["cases"])
    if not wanted:
        return
    from synth.cases.seeds import load_seed_cases

    for card in [*extra, *load_seed_cases()]:
        if card.id in wanted and card.id not in merged["cases"]:
            merged["cases"][card.id] = card


def _gate_cases(merged: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Remove every card a case gate rejects (synth/cases/gates.py), and the consultations held on one: a card
    is re-checked at publish time whatever run, filter or earlier publish it came from. table -> id -> reason."""
    from synth.cases.gates import format_problems, gate_card

    gated: dict[str, dict[str, str]] = {"cases": {}, "consultations": {}}
    for cid, card in list(merged["cases"].items()):
        problems = gate_card(card)
        if problems:
            gated["cases"][cid] = format_problems(problems)
            del merged["cases"][cid]
    for rid, c in list(merged["consultations"].items()):
        if c.case_id in gated["cases"]:
            gated["consultations"][rid] = (
                f"its case card {c.case_id} fails a gate: {gated['cases'][c.case_id]}"
            )
            del merged["consultations"][rid]
    for table, rows in gated.items():
        for rid, reason in rows.items():
            print(f"[publish] skipped {table} record {rid}: {reason}", file=sys.stderr)
    return {t: rows for t, rows in gated.items() if rows}


def _merge_sources(old: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per source: the same runs (or folder, without a manifest) published again replace theirs."""

    def key(s: dict[str, Any]) -> tuple[str, ...]:
        return (s["kind"], *sorted(s["run_ids"])) if s["run_ids"] else (s["kind"], "folder", s["name"])

    return [s for s in old if key(s) != key(new)] + [new]


def build(inputs: list[Path], dest: Path, stage: Path, overrides: dict[str, Any]) -> PublishResult:
    """Write the complete published folder into `stage` (empty), merging `dest`'s published content."""
    from synth.publish.card import SecretGuard, write_card, write_plots_for
    from synth.publish.splits import assign
    from synth.publish.views import build_rows

    state = read_state(dest) if dest.exists() else None
    opts = resolve_options(state, overrides)
    guard = SecretGuard()
    merged: dict[str, dict[str, Any]] = {t: {} for t in TABLE_TYPES}
    for table in RECORD_CONFIGS:
        for js in read_published_records(dest, table):
            rec: Any = TABLE_TYPES[table].model_validate_json(js)
            merged[table][rec.id] = rec
    sources: list[dict[str, Any]] = list(state["sources"]) if state else []
    added = dict.fromkeys(TABLE_TYPES, 0)
    dups = dict.fromkeys(TABLE_TYPES, 0)
    extra: list[CaseCard] = []
    for path in inputs:
        tables, info, more = read_input(path)
        extra += more
        for table, recs in tables.items():
            records: list[Any] = recs  # every table's record type has an `id`
            for r in records:
                rid = r.id
                if rid in merged[table]:
                    dups[table] += 1
                    continue
                guard.check(r.model_dump_json(), f"{path.name}: {table} record {rid}")
                merged[table][rid] = r
                added[table] += 1
        sources = _merge_sources(sources, info)
    _add_referenced_cases(merged, extra)
    gated = _gate_cases(merged)
    from synth.quality.phi_publish import check_publishable

    check_publishable(merged, allow=opts.allow_phi)  # refuses a record in which PHI is still found

    rows = build_rows(merged, opts)
    mix: list[dict[str, Any]] = []
    if opts.mix is not None:  # external corpora into sft / dpo, cleaned; mix/ holds the ledger (mix.py)
        from synth.publish.mix import apply_mix, write_ledger

        mix, mix_ledger = apply_mix(rows, opts.mix, opts.seed, guard.check)
        write_ledger(stage, mix, mix_ledger)
    counts: dict[str, dict[str, int]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for config in CONFIGS:
        for split, split_rows in assign(rows[config], opts.seed, opts.fractions).items():
            _, nbytes = write_split(stage, config, split, split_rows, opts.max_shard_bytes)
            counts.setdefault(config, {})[split] = len(split_rows)
            sizes.setdefault(config, {})[split] = nbytes
    if not counts:
        if gated:
            n = sum(len(v) for v in gated.values())
            raise PublishError(f"nothing to publish: all {n} records failed a case gate (reasons above)")
        raise PublishError("nothing to publish: the inputs hold no records")
    plots = write_plots_for(stage, sources)
    new_state = {
        "options": opts.model_dump(mode="json"),
        "sources": sources,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    state_text = json.dumps(new_state, indent=2, default=str) + "\n"
    guard.check(state_text, STATE_FILE)
    (stage / STATE_FILE).write_text(state_text, encoding="utf-8")
    write_card(stage, opts, merged, rows, counts, sizes, sources, plots, guard, mix=mix)
    files = sorted((str(p.relative_to(stage)), p.stat().st_size) for p in stage.rglob("*") if p.is_file())
    return PublishResult(dest, counts, added, dups, files, gated, mix)


def install(stage: Path, dest: Path) -> None:
    """Swap the staged folders and files into dest: each by one rename; stale ones of dest removed."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in MANAGED_DIRS:
        old = dest / f".{name}.old-{os.getpid()}"
        if (dest / name).exists():
            os.replace(dest / name, old)
        if (stage / name).exists():
            os.replace(stage / name, dest / name)
        shutil.rmtree(old, ignore_errors=True)
    for name in MANAGED_FILES:
        os.replace(stage / name, dest / name)


def publish_folder(
    inputs: list[Path], dest: Path, overrides: dict[str, Any] | None = None, *, dry_run: bool = False
) -> PublishResult:
    """Publish inputs into dest (merging); with dry_run, build in a temporary folder and write nothing."""
    inputs = [Path(p) for p in inputs]
    dest = Path(dest)
    if not inputs:
        raise PublishError("no input folder given")
    parent = Path(tempfile.gettempdir()) if dry_run else dest.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.publish-", dir=parent))
    try:
        result = build(inputs, dest, stage, overrides or {})
        if not dry_run:
            install(stage, dest)
        return result
    finally:
        shutil.rmtree(stage, ignore_errors=True)
