"""Multiple-choice questions in: MedQA / MedMCQA shapes from JSONL, JSON, Parquet or a datasets folder.

Every record becomes either a `SourceMCQ` or a `BadMCQ` that names the file, the line (or row) and what is
wrong — options missing, answer_idx not among the options, answer text different from its option, an empty
question, an id seen before. Bad records are not dropped here: the job turns each into a quarantined item,
so a run's quarantine lists them and its status counts them. Unknown extra fields are tolerated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.common import content_id
from schemas.problem import SourceMCQ
from synth.cases.importers import SkipRecord, _options, iter_raw
from synth.problems.config import MCQSource

_MEDMCQA_LETTERS = {"opa": "A", "opb": "B", "opc": "C", "opd": "D", "ope": "E"}


class SourceError(ValueError):
    """The source as a whole cannot be read (missing, no data files, an unnamed split): the run stops."""


@dataclass(frozen=True)
class BadMCQ:
    path: str
    line: int
    reason: str  # starts with a code: missing_field, bad_answer, answer_mismatch, duplicate_id, ...
    record_id: str | None = None

    @property
    def code(self) -> str:
        return self.reason.split(":", 1)[0]

    def __str__(self) -> str:
        rid = f" (id {self.record_id})" if self.record_id else ""
        return f"{self.path}:{self.line}{rid}: {self.reason}"


def _text(rec: dict[str, Any], key: str) -> str:
    v = rec.get(key)
    if v is None:
        raise SkipRecord(f"missing_field: {key}")
    if not isinstance(v, str | int | float):
        raise SkipRecord(f"wrong_type: {key}: expected text, got {type(v).__name__}")
    return str(v).strip()


def _medmcqa(rec: dict[str, Any]) -> tuple[dict[str, str], str]:
    """MedMCQA: options in opa..opd, `cop` the correct one (1-based in the public release; 0-based in some
    exports — a 0 can only be 0-based)."""
    opts = {
        letter: str(rec[k]).strip()
        for k, letter in _MEDMCQA_LETTERS.items()
        if rec.get(k) is not None and str(rec[k]).strip()
    }
    cop = rec.get("cop")
    if not isinstance(cop, int) or isinstance(cop, bool):
        raise SkipRecord(f"bad_answer: cop {cop!r} is not an option number")
    letters = list(opts)
    index = cop if cop == 0 else cop - 1
    if not 0 <= index < len(letters):
        raise SkipRecord(f"bad_answer: cop {cop} is not one of the {len(letters)} options")
    idx = letters[index]
    return opts, idx


def parse_mcq(rec: Any, dataset: str, line: int) -> SourceMCQ:
    """One raw record → SourceMCQ; raises SkipRecord with a coded reason."""
    if isinstance(rec, SkipRecord):
        raise rec
    if not isinstance(rec, dict):
        raise SkipRecord(f"wrong_type: record: expected a JSON object, got {type(rec).__name__}")
    question = _text(rec, "question")
    if not question:
        raise SkipRecord("empty_question: question is empty")
    if "options" not in rec and "opa" in rec:
        opts, idx = _medmcqa(rec)
        answer = opts[idx]
    else:
        if rec.get("options") is None:
            raise SkipRecord("missing_field: options")
        opts = _options(rec["options"])
        idx = _text(rec, "answer_idx")
        if idx not in opts:
            raise SkipRecord(f"bad_answer: answer_idx {idx!r} is not one of the options {sorted(opts)}")
        answer = _text(rec, "answer") if rec.get("answer") is not None else opts[idx]
        if answer != opts[idx]:
            # Sources restate the answer in their own words (a misspelling, an eponym): the shared matcher
            # decides, and the option's own text is what the problem keeps as its answer.
            from synth.cases.importers import answer_mismatch

            mismatch = answer_mismatch(answer, opts, idx)
            if mismatch:
                raise SkipRecord(mismatch)
            answer = opts[idx]
    if len(opts) < 2:
        raise SkipRecord(f"missing_field: options: only {len(opts)} option(s)")
    if any(not v for v in opts.values()):
        raise SkipRecord("missing_field: options: an option is empty")
    rid = rec.get("id")
    return SourceMCQ(
        dataset=dataset,
        source_id=str(rid) if rid is not None else None,
        line=line,
        question=question,
        options=opts,
        answer_idx=idx,
        answer=answer,
    )


def _iter_datasets_folder(path: Path, split: str | None) -> Iterator[tuple[int, Any]]:
    """A folder from `Dataset.save_to_disk` / `DatasetDict.save_to_disk`, or a folder of data files."""
    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        import importlib

        # By name: type checkers run from the repository root see its datasets/ data folder instead.
        datasets: Any = importlib.import_module("datasets")
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split is None:
                if len(ds) != 1:
                    raise SourceError(f"{path}: splits {sorted(ds)}: name one with `split:`")
                split = next(iter(ds))
            ds = ds[split]
        yield from enumerate(ds, start=1)
        return
    files = sorted(
        f for f in path.rglob("*") if f.suffix.lower() in {".jsonl", ".json", ".parquet"} and f.is_file()
    )
    if split:
        files = [f for f in files if f.name.startswith(split) or f.parent.name == split]
    if not files:
        raise SourceError(f"{path}: no dataset (save_to_disk) and no .jsonl/.json/.parquet files")
    # Row numbers run on across the files so every record keeps a unique, reportable position.
    offset = 0
    for f in files:
        n = 0
        for n, rec in iter_raw(f):
            yield offset + n, rec
        offset += n


def iter_mcq_records(src: MCQSource) -> Iterator[tuple[int, Any]]:
    path = src.path
    if not path.exists():
        raise SourceError(f"MCQ source {path} does not exist")
    fmt: str = src.format
    if fmt == "auto":
        fmt = "datasets" if path.is_dir() else path.suffix.lower().lstrip(".")
        if fmt not in {"jsonl", "json", "parquet"} and not path.is_dir():
            fmt = "jsonl"
    if fmt == "datasets":
        yield from _iter_datasets_folder(path, src.split)
    else:
        yield from iter_raw(path)


def load_mcqs(src: MCQSource | None) -> list[SourceMCQ | BadMCQ]:
    """Every record of the source in order (None: the shipped seed questions), good or bad, duplicates marked."""
    if src is None:
        from synth.resources import resource_dir

        src = MCQSource(path=resource_dir("datasets/seeds") / "mcqs" / "medqa_style.jsonl", name="seeds")
    dataset = src.name or src.path.name
    out: list[SourceMCQ | BadMCQ] = []
    seen_ids: dict[str, int] = {}
    seen_content: dict[str, int] = {}
    for line, rec in iter_mcq_records(src):
        rid = str(rec["id"]) if isinstance(rec, dict) and rec.get("id") is not None else None
        try:
            mcq = parse_mcq(rec, dataset, line)
        except SkipRecord as e:
            out.append(BadMCQ(str(src.path), line, e.reason, rid))
            continue
        key = mcq_key(mcq)
        if mcq.source_id is not None and mcq.source_id in seen_ids:
            out.append(
                BadMCQ(
                    str(src.path),
                    line,
                    f"duplicate_id: id {mcq.source_id!r} already used at line {seen_ids[mcq.source_id]}",
                    rid,
                )
            )
            continue
        if key in seen_content:
            out.append(
                BadMCQ(str(src.path), line, f"duplicate: same question as line {seen_content[key]}", rid)
            )
            continue
        if mcq.source_id is not None:
            seen_ids[mcq.source_id] = line
        seen_content[key] = line
        out.append(mcq)
    return out


def mcq_key(mcq: SourceMCQ) -> str:
    """A stable item id from the question's content (not its position: editing the file keeps ids)."""
    return content_id("mcq", mcq.question, mcq.options, mcq.answer_idx)
