"""The publish gate: `synth publish` refuses to write a record in which the PHI scrubber still finds an
identifier.

The phi stage of `synth filter` replaces identifiers; records that skipped it (a filter config without the
stage, an external corpus, an older run) would otherwise reach the Hub as they are. `check_publishable` scans
every generated string of every record to be published with the same scrubber (the combined engine, each
distinct string once, the model in batches) and
raises `PhiLeakError` naming each offending record, the field and the kind of identifier; the identifier
itself is never echoed, so the error is safe to log. `allow=True` (an explicit override, which the dataset
card records) turns the refusal into a returned list of findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synth.publish.options import PublishError
from synth.quality.phi import Engine, find_phi_many, record_strings

MAX_LISTED = 20


class PhiLeakError(PublishError):
    """Records still hold identifiers; `findings` has (table, record id, field, kind) for each."""

    def __init__(self, findings: list[tuple[str, str, str, str]]):
        self.findings = findings
        lines = [f"  {t} record {rid}: {kind} in {field}" for t, rid, field, kind in findings[:MAX_LISTED]]
        more = len(findings) - MAX_LISTED
        super().__init__(
            f"refusing to publish: the PHI scrubber still finds {len(findings)} identifier(s) "
            f"in {len({(t, r) for t, r, _, _ in findings})} record(s):\n"
            + "\n".join(lines)
            + (f"\n  ... and {more} more" if more > 0 else "")
            + "\nRun `synth filter` with the phi stage first, or pass the explicit override (recorded on the card)."
        )


def scan_records(
    tables: Mapping[str, Mapping[str, Any]], engine: Engine = "combined"
) -> list[tuple[str, str, str, str]]:
    """(table, record id, field path, kind) for every identifier found in the records' generated strings.

    All strings are gathered first and scanned in one `find_phi_many` call: each distinct string once (the
    differential and option texts repeat on every turn and record), the model in batches and only where it
    could find something the rules cannot (synth/quality/phi.py `needs_model`)."""
    where: list[tuple[str, str, str, str]] = []
    for table, records in tables.items():
        for rid, record in records.items():
            dump = record.model_dump() if hasattr(record, "model_dump") else record
            where += [(table, str(rid), field, text) for field, text in record_strings(dump)]
    spans = find_phi_many([text for *_, text in where], engine=engine)
    return [
        (t, rid, field, s.kind) for (t, rid, field, _), found in zip(where, spans, strict=True) for s in found
    ]


def check_publishable(
    tables: Mapping[str, Mapping[str, Any]], *, allow: bool = False, engine: Engine = "combined"
) -> list[tuple[str, str, str, str]]:
    """Raise PhiLeakError when any record still holds an identifier, unless `allow` (then return them)."""
    findings = scan_records(tables, engine)
    if findings and not allow:
        raise PhiLeakError(findings)
    return findings
