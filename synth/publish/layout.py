"""The Hub's dataset layout: `data/<config>/<split>-NNNNN-of-MMMMM.parquet`, one fixed Arrow schema per config.

Schemas are written out explicitly (never inferred from the rows; the full-record configs' from the record
models, schemas/arrow.py), so every shard of a config, every split and every later publish share one set of
features, and `datasets.load_dataset` types the columns the same
way whatever optional fields the records fill. A shard is bounded by the JSON size of its rows, written to
a temporary name, fsynced and renamed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from synth.labels import label_fields
from synth.publish.rm import arrow_fields as rm_arrow_fields

#: full-record configs, named after the run's tables
RECORD_CONFIGS = ("consultations", "problems", "reasoning", "cases", "preferences")
VIEW_CONFIGS = ("sft", "dpo", "rl", "rm")
CONFIGS = VIEW_CONFIGS + RECORD_CONFIGS


def record_models() -> dict[str, Any]:
    """The record type of each full-record config."""
    from schemas import CaseCard, Consultation, PreferencePair, ReasoningTrace, VerifiableProblem

    return {"consultations": Consultation, "problems": VerifiableProblem, "reasoning": ReasoningTrace,
            "cases": CaseCard, "preferences": PreferencePair}  # fmt: skip


def arrow_schema(config: str) -> Any:
    import pyarrow as pa

    from schemas.arrow import arrow_schema as record_schema

    msgs = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    s, i, b = pa.string(), pa.int32(), pa.bool_()
    strings = pa.list_(pa.string())
    view_head = [("id", s), ("source_id", s), ("group", s), ("source", s)]
    views: dict[str, list[tuple[str, Any]]] = {
        "sft": [*view_head, ("messages", msgs)],
        "dpo": [*view_head, ("prompt", msgs), ("chosen", msgs), ("rejected", msgs)],
        "rl": [*view_head, ("prompt", msgs), ("answer", s), ("aliases", strings)],
    }
    views.update(rm_arrow_fields(msgs))  # the rm view (rm.py)
    views = {k: [*v, *label_fields()] for k, v in views.items()}  # curriculum labels (synth/labels.py)
    if config in views:
        return pa.schema(views[config])
    # The full records' own fields as nested typed columns (schemas/arrow.py), then flat convenience columns.
    flat: dict[str, list[tuple[str, Any]]] = {
        "consultations": [("correct", b), ("final_diagnosis", s), ("termination_reason", s), ("n_turns", i),
                          ("teacher_models", strings)],
        "problems": [("source_dataset", s), ("teacher_models", strings)],
        "reasoning": [("n_steps", i), ("teacher_models", strings)],
        "cases": [("diagnosis", s), ("source_dataset", s), ("source_licence", s), ("teacher_models", strings)],
        "preferences": [],  # every column is the record's own (rm.py)
    }  # fmt: skip
    extra = tuple(pa.field(n, t) for n, t in flat[config])
    return record_schema(record_models()[config], extra=extra, lead=(pa.field("id", s),))


def shard_name(split: str, index: int, total: int) -> str:
    return f"{split}-{index:05d}-of-{total:05d}.parquet"


def _chunks(rows: list[dict[str, Any]], max_bytes: int) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for r in rows:
        n = len(json.dumps(r, ensure_ascii=False, default=str))
        if chunks[-1] and size + n > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(r)
        size += n
    return chunks


def write_split(
    root: Path, config: str, split: str, rows: list[dict[str, Any]], max_bytes: int
) -> tuple[list[Path], int]:
    """Shards of one split of one config under root/data/<config>/; returns their paths and Arrow bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(config)
    d = root / "data" / config
    d.mkdir(parents=True, exist_ok=True)
    chunks = _chunks(rows, max_bytes)
    paths = []
    nbytes = 0
    for k, chunk in enumerate(chunks):
        table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in chunk], schema=schema)
        final = d / shard_name(split, k, len(chunks))
        tmp = d / f".{final.name}.tmp"
        nbytes += table.nbytes
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        paths.append(final)
    return paths, nbytes


def read_published_records(root: Path, config: str) -> list[str]:
    """The record JSON of every row of a full-record config already published in root (all splits).

    The rows are validated back into their record type (a published folder of an older layout, with the
    record as JSON in `record`, reads too).
    """
    import pyarrow.parquet as pq

    from schemas.arrow import decode_row

    d = root / "data" / config
    if not d.is_dir():
        return []
    model = record_models()[config]
    out: list[str] = []
    for path in sorted(d.glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if isinstance(row.get("record"), str):
                out.append(model.model_validate_json(row["record"]).model_dump_json())
            else:
                out.append(decode_row(model, row).model_dump_json())
    return out
