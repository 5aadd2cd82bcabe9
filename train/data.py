"""Load one split of a published dataset (a folder in the Hub layout, or a Hub id) with `datasets`, checked.

Every check happens before a model is loaded: the config must exist (the error lists the ones that do), the
split must exist and hold rows, and the view must have the columns the method reads. A plain file
(`.jsonl`, `.json`, `.parquet`) is read as one table too, for MCQ files in the MedQA shape.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from train.recipe import DataSpec

#: what each method needs from its view (synth publish writes exactly these; see docs/publish.md)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "rl": ("prompt", "answer"),
    "rm": ("prompt", "chosen", "rejected"),
    "cases": ("id", "facts", "answer"),  # the full records' typed columns (schemas/arrow.py)
    "problems": ("id", "question", "source"),
    "mcq": (),  # MedQA (options, answer_idx) or MedMCQA (opa..opd, cop): checked row by row (evaluate.py)
}
_FILE_TYPES = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class DataError(ValueError):
    """The dataset, config, split or columns a recipe names are not there; raised before any training."""


def _where(spec: DataSpec) -> str:
    return f"{spec.dataset} (config {spec.config!r}, split {spec.split!r})"


def load_split(spec: DataSpec, needs: str, split: str | None = None) -> Any:
    """The rows of `split` (default spec.split) as a datasets.Dataset, with the columns `needs` requires."""
    from datasets.load import load_dataset

    split = split or spec.split
    path = Path(spec.dataset)
    local = path.is_absolute()
    if local and not path.exists():
        raise DataError(f"{spec.dataset}: no such dataset folder or file (publish one with `synth publish`)")
    if local and path.is_file():
        kind = _FILE_TYPES.get(path.suffix.lower())
        if kind is None:
            raise DataError(f"{path}: a data file must be .jsonl, .json or .parquet")
        ds = load_dataset(kind, data_files=str(path), split="train")
    else:
        if not local:
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        configs = available_configs(spec)
        if spec.config not in configs:
            raise DataError(
                f"{spec.dataset}: no config {spec.config!r} (it has: {', '.join(configs) or 'none'}); "
                "a config with no rows is left out of a published dataset"
            )
        try:
            ds = load_dataset(spec.dataset, spec.config, split=split, revision=spec.revision)
        except ValueError as e:
            if "split" in str(e).lower():
                raise DataError(f"{_where(spec).replace(spec.split, split)}: no such split ({e})") from None
            raise
    missing = [c for c in REQUIRED_COLUMNS[needs] if c not in ds.column_names]
    if missing:
        raise DataError(
            f"{_where(spec)}: the {needs} view needs columns {list(REQUIRED_COLUMNS[needs])}; "
            f"missing {missing} (has {ds.column_names})"
        )
    if len(ds) == 0:
        raise DataError(f"{_where(spec)}: no rows")
    if spec.limit is not None:
        ds = ds.select(range(min(spec.limit, len(ds))))
    return ds


def available_configs(spec: DataSpec) -> list[str]:
    from datasets.inspect import get_dataset_config_names

    try:
        return list(get_dataset_config_names(spec.dataset, revision=spec.revision))
    except Exception as e:  # the Hub unreachable, not a dataset, ...: say which dataset and why
        where = (
            ""
            if Path(spec.dataset).is_absolute()
            else " (no such folder next to the recipe: read as a Hub id)"
        )
        raise DataError(f"{spec.dataset}{where}: cannot read its configs: {type(e).__name__}: {e}") from None
