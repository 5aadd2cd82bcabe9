"""`synth cases import`: turn a public case file into validated CaseCards written atomically to a folder.

The output is DIR/cases.jsonl (one card per line) or DIR/cases.parquet (columns id, schema_version and the
card as JSON in `record`, the layout of the store's shards). It is written to a temp file and renamed only
once the whole input has been read, so a failed or strict-aborted import never leaves a half file behind.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from schemas.case import CaseCard

cases_app = typer.Typer(help="Hidden cases: import public case files.", no_args_is_help=True)

_PARQUET_BATCH = 1024


@cases_app.callback()
def _group() -> None:
    """Hidden cases: import public case files."""
    # A callback keeps `cases_app` a command group even with one command, as under `synth cases`.


class InputFormat(StrEnum):
    agentclinic = "agentclinic"
    mediq = "mediq"
    medqa = "medqa"
    casecard = "casecard"


class OutputFormat(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_jsonl(cards: Iterable[CaseCard], tmp: Path) -> None:
    with tmp.open("w", encoding="utf-8") as f:
        for card in cards:
            f.write(card.model_dump_json() + "\n")


def _write_parquet(cards: Iterable[CaseCard], tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("schema_version", pa.string()), ("record", pa.large_string())])
    cols: dict[str, list[str]] = {name: [] for name in schema.names}
    # A writer with no batch still closes into a valid file with the schema: an import of zero cards.
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for card in cards:
            cols["id"].append(card.id)
            cols["schema_version"].append(card.schema_version)
            cols["record"].append(card.model_dump_json())
            if len(cols["id"]) >= _PARQUET_BATCH:
                writer.write_table(pa.Table.from_pydict(cols, schema=schema))
                cols = {name: [] for name in schema.names}
        if cols["id"]:
            writer.write_table(pa.Table.from_pydict(cols, schema=schema))


def write_cards(cards: Iterable[CaseCard], out_dir: Path, output_format: str) -> Path:
    """Stream cards into DIR/cases.<format> via a temp file and an atomic rename; returns the final path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"cases.{output_format}"
    tmp = out_dir / f".{final.name}.tmp"
    try:
        (_write_parquet if output_format == "parquet" else _write_jsonl)(cards, tmp)
        _fsync_file(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def read_cards(path: Path) -> list[CaseCard]:
    """Cards back from a file `write_cards` made, validated."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [
            CaseCard.model_validate_json(js)
            for js in pq.read_table(path, columns=["record"])["record"].to_pylist()
        ]
    with path.open(encoding="utf-8") as f:
        return [CaseCard.model_validate_json(line) for line in f if line.strip()]


@cases_app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(help="case file: .jsonl, .json (a list) or .parquet", exists=True, dir_okay=False),
    ],
    format: Annotated[InputFormat, typer.Option("--format", help="shape of the records")],
    out: Annotated[Path, typer.Option("--out", help="folder for cases.jsonl / cases.parquet")],
    output_format: Annotated[OutputFormat, typer.Option("--output-format")] = OutputFormat.jsonl,
    strict: Annotated[
        bool, typer.Option("--strict", help="stop at the first bad line (exit code 2)")
    ] = False,
    allow_non_diagnostic: Annotated[
        bool,
        typer.Option("--allow-non-diagnostic", help="keep MCQs that do not ask for a diagnosis"),
    ] = False,
) -> None:
    """Import FILE as hidden CaseCards; every skipped line is listed with its reason."""
    from synth.cases.importers import CaseImportError, ImportCounter, iter_cases

    counter = ImportCounter()
    cards = iter_cases(file, format.value, counter, strict=strict, allow_non_diagnostic=allow_non_diagnostic)
    try:
        final = write_cards(cards, out, output_format.value)
    except CaseImportError as e:
        typer.echo(f"error: {e} (nothing written)", err=True)
        raise typer.Exit(2) from e
    typer.echo(
        f"{file}: read {counter.read}, written {counter.written}, skipped {len(counter.skips)} -> {final}"
    )
    for code, n in sorted(Counter(s.code for s in counter.skips).items()):
        typer.echo(f"  {code}: {n}")
    for s in counter.skips:
        typer.echo(f"{file}:{s.line}: skipped: {s.reason}")
