"""`synth migrate OUT/`: a run written in the JSON-column layout (by the older writer, tests/test_shards.py) is
rewritten in the typed layout in place — same records, same shard names, state and manifest updated — and an
interrupted migration leaves a readable run that a second `synth migrate` finishes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas import CaseCard, Consultation, ReasoningTrace, VerifiableProblem
from synth.cli import app
from synth.store import migrate as migrate_mod
from synth.store.migrate import MigrateError, migrate_run
from synth.store.shards import iter_records, scan_table, shard_layout, shard_paths
from synth.store.state import RunState
from tests.test_publish import card, problem, trace
from tests.test_shards import corpus_consultations, write_legacy_shard

TABLES = {"cases": CaseCard, "consultations": Consultation, "problems": VerifiableProblem,
          "reasoning": ReasoningTrace}  # fmt: skip


def legacy_run(root: Path) -> dict[str, list]:
    """A run folder as the JSON-column engine left it: shards registered in state.sqlite, a manifest."""
    probs = [problem(i) for i in range(3)]
    recs = {"cases": [card(i) for i in range(6)], "consultations": corpus_consultations(),
            "problems": probs, "reasoning": [trace(p) for p in probs]}  # fmt: skip
    state = RunState(root / "state.sqlite")
    for table, rs in recs.items():
        for k in range(0, len(rs), 4):  # several shards per table
            path = write_legacy_shard(root, table, rs[k : k + 4], seq=k // 4)
            state.commit_shard(table, path.name, len(rs[k : k + 4]), path.stat().st_size,
                               [(table, r.id) for r in rs[k : k + 4]])  # fmt: skip
    state.close()
    (root / "manifest.json").write_text(json.dumps({"engine_version": "0.1.0", "schema_version": "1.1"}))
    return recs


def shard_bytes(root: Path) -> dict[tuple[str, str], int]:
    con = sqlite3.connect(root / "state.sqlite")
    try:
        return {(t, n): b for t, n, b in con.execute("SELECT tbl, name, bytes FROM shards")}
    finally:
        con.close()


def test_migrate_converts_a_legacy_run_in_place(tmp_path):
    recs = legacy_run(tmp_path)
    names = {t: [p.name for p in shard_paths(tmp_path, t)] for t in TABLES}
    r = CliRunner().invoke(app, ["report", str(tmp_path), "--no-plots"])
    assert r.exit_code == 2 and "synth migrate" in r.output  # a columnar read says what to do

    r = CliRunner().invoke(app, ["migrate", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "consultations: 2 shard(s), 6 records" in r.output and "0 shard(s) already typed" in r.output
    for table, model in TABLES.items():
        assert [p.name for p in shard_paths(tmp_path, table)] == names[table]  # the state's names stay true
        assert all(shard_layout(p) == "2.0" for p in shard_paths(tmp_path, table))
        assert list(iter_records(tmp_path, table, model)) == recs[table]
        assert scan_table(tmp_path, table) is not None
    sizes = shard_bytes(tmp_path)
    assert sizes == {(t, p.name): p.stat().st_size for t in TABLES for p in shard_paths(tmp_path, t)}
    assert json.loads((tmp_path / "manifest.json").read_text())["layout"] == "2.0"
    assert not (tmp_path / ".migrate-tmp").exists()

    r = CliRunner().invoke(app, ["report", str(tmp_path), "--no-plots", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["consultations"]["n"] == 6

    again = migrate_run(tmp_path)  # idempotent
    assert again.converted == {} and again.already == sum(len(v) for v in names.values())


def test_an_interrupted_migration_leaves_a_readable_run_and_a_rerun_finishes(tmp_path, monkeypatch):
    recs = legacy_run(tmp_path)
    real = migrate_mod.os.replace
    calls = {"n": 0}

    def crash_after_one(src, dst):  # type: ignore[no-untyped-def]
        if ".migrate-tmp" in str(src) and ".migrate-tmp" not in str(dst):  # a typed copy over an old shard
            if calls["n"] == 1:
                raise KeyboardInterrupt  # killed between two renames
            calls["n"] += 1
        real(src, dst)

    monkeypatch.setattr(migrate_mod.os, "replace", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        migrate_run(tmp_path)
    monkeypatch.setattr(migrate_mod.os, "replace", real)
    layouts = [shard_layout(p) for t in TABLES for p in shard_paths(tmp_path, t)]
    assert layouts.count("2.0") == 1 and "1.0" in layouts  # each file wholly old or wholly new
    for table, model in TABLES.items():  # every record still reads, once
        assert list(iter_records(tmp_path, table, model)) == recs[table]
    res = migrate_run(tmp_path)
    assert res.already == 1 and sum(res.converted.values()) == len(layouts) - 1
    for table, model in TABLES.items():
        assert list(iter_records(tmp_path, table, model)) == recs[table]
    assert not (tmp_path / ".migrate-tmp").exists()


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(MigrateError, match="no data/"):
        migrate_run(tmp_path)
    write_legacy_shard(tmp_path, "mystery", [card(0)])
    with pytest.raises(MigrateError, match="no known record type"):
        migrate_run(tmp_path)
    r = CliRunner().invoke(app, ["migrate", str(tmp_path)])
    assert r.exit_code == 2 and "mystery" in r.output
