"""Speed of the publish gate's PHI scan (synth/quality/phi_publish.py `scan_records`) on a synthetic publish.

Records are the scripted consultations and MCQ traces of tests/train_corpus.py built from the shipped seeds,
repeated with a per-record variation (a different record id and an opening line with a record number), so a
10,000-record publish has what a real one has: many strings per record, differentials and option texts
that repeat on every turn and record, and a varied rest. Two modes, side by side:

- `before`: every string scanned on its own, the model on every string, no cache (the gate as it was);
- `after`: `find_phi_many` (distinct strings once, spaCy in `nlp.pipe` batches, the model only on strings
  that `needs_model`).

`before` is measured on a prefix (default 300 records) and its rate extrapolated. The findings of both modes
on that prefix are printed: they differ only by the medical terms the old gate flagged (`--before-records 0`
skips the before mode). Prints strings/s and records/s, and every span the gate still flags with its count.

Run from the repository root:  python benchmarks/phi_publish_speed.py [--records 10000] [--before-records 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from synth.quality import phi, phi_presidio  # noqa: E402
from synth.quality.phi import find_phi, find_phi_many, record_strings  # noqa: E402
from synth.quality.phi_publish import scan_records  # noqa: E402


def records(n: int) -> dict[str, dict[str, Any]]:
    import train_corpus

    cards = train_corpus.load_seed_cases()
    base = [train_corpus.consultation(c, ok).model_dump() for c in cards for ok in (True, False)]
    base += [r.model_dump() for m in train_corpus.seed_mcqs() for r in train_corpus.problem_and_trace(m)]
    out: dict[str, dict[str, Any]] = {}
    for i in range(n):
        rec = dict(base[i % len(base)])
        rec["id"] = f"rec-{i:06d}"
        if "turns" in rec:  # vary the opening turn so not every string of a copy is a repeat
            turns = [dict(t) for t in rec["turns"]]
            turns[0]["text"] = f"{turns[0]['text']} (visit {i})"
            rec["turns"] = turns
        out[rec["id"]] = rec
    return {"records": out}


def before(tables: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The gate as it was: one string at a time, the model on all, no term filter, no cache."""
    term, needs = phi_presidio.medical_term, phi.needs_model
    phi_presidio.medical_term = lambda *a: False  # type: ignore[assignment]
    phi.needs_model = lambda text: True  # type: ignore[assignment]
    try:
        found = []
        for table, recs in tables.items():
            for rid, rec in recs.items():
                for field, text in record_strings(rec):
                    phi._CACHE.clear()
                    found += [(table, rid, field, s.kind) for s in find_phi(text)]
        return found
    finally:
        phi_presidio.medical_term = term
        phi.needs_model = needs
        phi._CACHE.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--before-records", type=int, default=300)
    args = ap.parse_args()
    find_phi("warm up the model engine, Maria Lopez", engine="combined")
    phi._CACHE.clear()
    tables = records(args.records)
    n_strings = sum(len(record_strings(r)) for r in tables["records"].values())
    prefix = {"records": dict(list(tables["records"].items())[: args.before_records])}
    p_strings = sum(len(record_strings(r)) for r in prefix["records"].values())
    print(f"{args.records} records, {n_strings} strings "
          f"({len({t for r in tables['records'].values() for _, t in record_strings(r)})} distinct)")  # fmt: skip
    old: list[tuple[str, str, str, str]] = []
    if args.before_records > 0:  # 0: only the gate as it is now (no slow before mode)
        t0 = time.perf_counter()
        old = before(prefix)
        tb = time.perf_counter() - t0
        print(f"before: {p_strings} strings of {args.before_records} records in {tb:.1f} s = "
              f"{p_strings / tb:.0f} strings/s, {args.before_records / tb:.1f} records/s; "
              f"{len(old)} findings; extrapolated to {args.records} records: {tb * args.records / args.before_records / 60:.1f} min")  # fmt: skip
    phi._CACHE.clear()
    new_prefix = scan_records(prefix) if args.before_records > 0 else []
    phi._CACHE.clear()
    t0 = time.perf_counter()
    new = scan_records(tables)
    ta = time.perf_counter() - t0
    print(f"after: {n_strings} strings of {args.records} records in {ta:.1f} s = {n_strings / ta:.0f} strings/s, "
          f"{args.records / ta:.0f} records/s; {len(new)} findings ({len(new_prefix)} on the prefix, "
          f"{len(old)} before: the difference is the medical-term filter)")  # fmt: skip
    flagged = Counter(flagged_spans(tables))
    print(f"spans the gate still flags ({len(flagged)} distinct):")
    for (kind, span), n in flagged.most_common(40):
        print(f"  {kind} {span!r}: {n}")


def flagged_spans(tables: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, text) of every finding, so that what the gate still refuses can be read (all from the cache)."""
    texts = [text for rec in tables["records"].values() for _, text in record_strings(rec)]
    return [
        (s.kind, t[s.start : s.end])
        for t, spans in zip(texts, find_phi_many(texts), strict=True)
        for s in spans
    ]


if __name__ == "__main__":
    main()
