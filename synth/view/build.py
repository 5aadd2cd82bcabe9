"""`synth view`: a static site over a run, filter output or published folder, written while streaming.

Layout of DIR:

- index.html, assets/ (one stylesheet, one script), index/meta.js and index/chunk-NNNNN.js: the per-record
  index as plain scripts that hand their rows to the page (fetch() of file:// is blocked in Chromium; a script
  tag is not). A row is a few short fields, so the browser filters 100k of them in memory and shows one page
  of 50 at a time;
- c/, r/, p/, k/: one page per consultation, reasoning trace, problem and case card.

Records are streamed one shard at a time; each page is written as its record is read and each index chunk as
it fills, so memory holds one shard, one chunk, and per case card its answer (consultation pages highlight it).
The site refers to nothing outside DIR: no CDN, no font, no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.case import CaseCard
from schemas.consultation import Consultation
from schemas.problem import ReasoningTrace, VerifiableProblem
from synth.view import pages
from synth.view.source import TABLES, Folder, Item, items, ledger_tables, open_folder, quarantine

ASSETS = Path(__file__).parent / "assets"
CHUNK_ROWS = 5000
#: table -> (page folder, index kind)
KINDS = {"consultations": ("c", "consultation"), "reasoning": ("r", "reasoning"),
         "problems": ("p", "problem"), "cases": ("k", "case")}  # fmt: skip
#: index columns offered as filters: (name, label, column)
FACETS = (("kind", "kind", 0), ("specialty", "specialty", 4), ("correct", "correct", 5),
          ("termination", "termination", 6), ("complexity", "complexity band", 7), ("status", "status", 8))  # fmt: skip
NA = "n/a"


def complexity_band(scores: dict[str, float] | None) -> str:
    """The `complexity` score (1-10, synth filter) in three bands; "unscored" when no stage scored it."""
    v = (scores or {}).get("complexity")
    if v is None:
        return "unscored"
    return "low (<4)" if v < 4 else "medium (4-7)" if v < 7 else "high (>=7)"


def page_name(record_id: str, dropped: bool) -> str:
    """A file name from a record id: ids are content hashes, but anything outside [A-Za-z0-9_.-] is replaced
    and the name then gets a hash of the id, so two ids never share a page. A dropped record's page is apart
    (a duplicate can carry the id of the record it duplicates)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", record_id)[:120] or "record"
    if safe != record_id:
        safe += "-" + hashlib.sha256(record_id.encode()).hexdigest()[:10]
    return f"{safe}{'.dropped' if dropped else ''}.html"


@dataclass
class IndexWriter:
    """Index rows, written out CHUNK_ROWS at a time as `index/chunk-NNNNN.js`; the facets are counted."""

    dir: Path
    rows: list[list[Any]] = field(default_factory=list)
    chunks: int = 0
    total: int = 0
    facets: dict[int, Counter[str]] = field(default_factory=dict)

    def add(self, row: list[Any]) -> None:
        self.rows.append(row)
        self.total += 1
        for _, _, col in FACETS:
            self.facets.setdefault(col, Counter())[row[col]] += 1
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        body = json.dumps(self.rows, ensure_ascii=False, separators=(",", ":"))
        # "</" would end an inline script; these are script files, but escaping it costs nothing
        body = body.replace("</", "<\\/")
        _write(self.dir / f"chunk-{self.chunks:05d}.js", f"VIEW.addChunk({self.chunks},{body});\n")
        self.chunks += 1
        self.rows = []


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@dataclass
class ViewResult:
    index: Path
    rows: int
    pages: int
    by_kind: dict[str, int]


def _short(s: str | None, n: int = 90) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _correct(v: bool | None) -> str:
    return "correct" if v is True else "incorrect" if v is False else "unknown"


class SiteBuilder:
    def __init__(self, folder: Folder, out: Path):
        self.folder = folder
        self.out = out
        self.index = IndexWriter(out / "index")
        self.pages = 0
        self.kinds: Counter[str] = Counter()
        self.cases: dict[str, pages.CaseInfo] = {}
        self.problems: dict[str, str] = {}  # problem id -> its page (relative to DIR)
        self.traces: dict[str, list[tuple[str, str, bool]]] = {}  # problem id -> (href, trace id, success)
        label = f"{folder.kind} folder {folder.root.name}"
        self.base = {"up": "../", "folder_label": label}
        self.label = label

    def _row(self, item: Item, kind: str, href: str, title: str, specialty: str | None = None,
             correct: str = NA, termination: str = NA, band: str = NA) -> None:  # fmt: skip
        self.kinds[kind] += 1
        self.index.add([kind, item.record_id, href, _short(title), specialty or NA, correct, termination, band,
                        item.status, _short(item.reason, 300) if item.reason else ""])  # fmt: skip

    def _href(self, table: str, item: Item) -> str:
        sub, _ = KINDS[table]
        return f"{sub}/{page_name(item.record_id, item.status != 'kept')}"

    def _page(self, table: str, item: Item, html: str) -> str:
        href = self._href(table, item)
        _write(self.out / href, html)
        self.pages += 1
        return href

    def build(self) -> None:
        tables = [t for t in TABLES if t in self.folder.tables() or t in ledger_tables(self.folder)]
        for sub, _ in KINDS.values():
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self._seed_cases()
        if "problems" in tables:  # trace pages link to their problem: learn which problems have a page
            for it in items(self.folder, "problems"):
                if it.record is not None:
                    self.problems.setdefault(it.record_id, self._href("problems", it))
        for table in tables:
            for it in items(self.folder, table):
                self._item(table, it)
        for it in quarantine(self.folder):
            self._row(it, "quarantine", "", f"{it.table} item {it.record_id}")
        self.index.flush()

    def _seed_cases(self) -> None:
        """Consultations may run on the shipped seed cards: their answers, unless the folder has the card."""
        try:
            from synth.cases.seeds import load_seed_cases  # type: ignore[import-not-found,unused-ignore]

            seeds: Iterable[CaseCard] = load_seed_cases()
        except Exception as e:  # the seeds are a convenience here: say so, and go on without them
            print(f"[view] seed cases not loaded ({type(e).__name__}: {e})", file=sys.stderr)
            seeds = []
        for c in seeds:
            self.cases[c.id] = pages.CaseInfo(c.specialty, c.answer.diagnosis, tuple(c.answer.aliases), None)

    def _item(self, table: str, it: Item) -> None:
        _, kind = KINDS[table]
        r = it.record
        if r is None:
            self._row(it, kind, "", f"{it.record_id} (record not readable here)")
            return
        if isinstance(r, CaseCard):
            href = self._page(table, it, pages.case_page(r, it, **self.base))
            if it.status == "kept" or r.id not in self.cases or self.cases[r.id].href is None:
                self.cases[r.id] = pages.CaseInfo(
                    r.specialty, r.answer.diagnosis, tuple(r.answer.aliases), href
                )
            self._row(it, kind, href, r.answer.diagnosis, r.specialty)
        elif isinstance(r, ReasoningTrace):
            p_href = self.problems.get(r.problem_id)
            href = self._page(
                table, it, pages.trace_page(r, it, ("../" + p_href) if p_href else None, **self.base)
            )
            self.traces.setdefault(r.problem_id, []).append(("../" + href, r.id, r.success))
            self._row(it, kind, href, r.question, correct=_correct(r.success), band=complexity_band(r.scores))
        elif isinstance(r, VerifiableProblem):
            traces = self.traces.get(r.id, [])
            href = self._page(table, it, pages.problem_page(r, it, traces, **self.base))
            self._row(it, kind, href, r.question, band=complexity_band(r.scores))
        elif isinstance(r, Consultation):
            info = self.cases.get(r.case_id)
            href = self._page(table, it, pages.consultation_page(r, it, info, **self.base))
            title = f"{r.final.diagnosis if r.final else 'no final diagnosis'} \u2014 case {r.case_id}"
            self._row(it, kind, href, title, info.specialty if info else None, _correct(r.evaluation.correct),
                      r.termination.reason, complexity_band(r.scores))  # fmt: skip

    def finish(self) -> Path:
        facets = []
        for name, label, col in FACETS:
            values = sorted(self.index.facets.get(col, Counter()).items())
            facets.append({"name": name, "label": label, "col": col, "values": values})
        meta = {"chunks": self.index.chunks, "total": self.index.total, "kinds": dict(self.kinds)}
        _write(self.out / "index" / "meta.js", f"VIEW.meta={json.dumps(meta)};\n")
        assets = self.out / "assets"
        assets.mkdir(exist_ok=True)
        for name in ("style.css", "viewer.js"):
            shutil.copyfile(ASSETS / name, assets / name)
        html = pages.render(
            "index.html",
            up="",
            folder_label=self.label,
            facets=facets,
            total=self.index.total,
            kinds=dict(self.kinds),
            built=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        _write(self.out / "index.html", html)
        return self.out / "index.html"


def build_site(root: Path, out: Path, *, force: bool = False) -> ViewResult:
    """Write the viewer for folder `root` into `out` (replaced whole; a temp folder beside it until done)."""
    folder = open_folder(Path(root))
    out = Path(out)
    if out.resolve() == folder.root.resolve() or out.resolve() in folder.root.resolve().parents:
        raise FileExistsError(f"{out} holds the folder it would show: write the viewer elsewhere")
    if out.exists() and any(out.iterdir()) and not force and not (out / "index.html").exists():
        raise FileExistsError(f"{out} exists, is not empty and is not a viewer: pass --force to replace it")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "index").mkdir(parents=True)
    try:
        b = SiteBuilder(folder, tmp)
        b.build()
        b.finish()
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ViewResult(out / "index.html", b.index.total, b.pages, dict(b.kinds))
