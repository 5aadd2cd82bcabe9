"""Verifier: accuracy of the lexical answer matcher on a held-out labelled set, measured once.

benchmarks/data/verifier_heldout.jsonl (written by benchmarks/make_verifier_heldout.py) holds hand-written pairs
that the matcher was never tuned on.
For every pair, `verify_answer_lexical(candidate, reference, aliases)` is run and its verdict compared with the
label: a pair counts as correct when a positive verifies ("true") or a negative does not ("false" or "unsure").

Printed, per class and in total, as Markdown: n, accuracy, false accepts (label false, verdict true), false
rejects (label true, verdict false), and the unsure share; then every false accept with the verifier's reason.
With --all-errors, every false reject and every unsure positive is listed as well.

Run from the repository root:
    python benchmarks/verifier_heldout.py [--data benchmarks/data/verifier_heldout.jsonl] [--all-errors]
`schemas` is imported from PYTHONPATH first when it is set (so an older checkout can be measured with
PYTHONPATH=/path/to/checkout), from this repository otherwise.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH, so an older checkout given there wins

from schemas.matching.verdict import verify_answer_lexical  # noqa: E402


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "–"


def _source() -> str:
    import schemas

    where = Path(schemas.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "?"
    return f"{where} @ {rev}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "benchmarks" / "data" / "verifier_heldout.jsonl"))
    ap.add_argument("--all-errors", action="store_true", help="also list false rejects and unsure positives")
    args = ap.parse_args()

    raw = Path(args.data).read_bytes()
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    stats: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    false_accepts, false_rejects, unsure_pos = [], [], []
    for r in rows:
        v = verify_answer_lexical(r["candidate"], r["reference"], r.get("aliases") or [])
        s = stats[r["class"]]
        s["n"] += 1
        s["pos"] += r["label"]
        s["unsure"] += v.verdict == "unsure"
        ok = (v.verdict == "true") if r["label"] else (v.verdict != "true")
        s["ok"] += ok
        if not r["label"] and v.verdict == "true":
            s["fa"] += 1
            false_accepts.append((r, v))
        if r["label"] and v.verdict == "false":
            s["fr"] += 1
            false_rejects.append((r, v))
        if r["label"] and v.verdict == "unsure":
            s["unsure_pos"] += 1
            unsure_pos.append((r, v))

    total = collections.Counter()
    for s in stats.values():
        total.update(s)

    print(f"# Verifier held-out set: {len(rows)} pairs, sha256 {hashlib.sha256(raw).hexdigest()[:12]}")
    print(f"\nmatcher: {_source()}\n")
    print("| class | n | positives | accuracy | false accepts | false rejects | unsure share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cls, s in [*stats.items(), ("**total**", total)]:
        print(
            f"| {cls} | {s['n']} | {s['pos']} | {_pct(s['ok'], s['n'])} | {s['fa']} | {s['fr']} | "
            f"{_pct(s['unsure'], s['n'])} |"
        )
    neg = total["n"] - total["pos"]
    print(
        f"\nfalse-accept rate {_pct(total['fa'], neg)} of {neg} negatives; "
        f"positives verified {_pct(total['pos'] - total['fr'] - total['unsure_pos'], total['pos'])}, "
        f"rejected {_pct(total['fr'], total['pos'])}, unsure {_pct(total['unsure_pos'], total['pos'])} "
        f"of {total['pos']}"
    )

    def listing(title: str, items: list) -> None:
        print(f"\n## {title} ({len(items)})\n")
        for r, v in items:
            print(f"- [{r['class']}] {r['candidate']!r} vs {r['reference']!r} → {v.verdict}: {v.reason}")

    listing("False accepts", false_accepts)
    if args.all_errors:
        listing("False rejects", false_rejects)
        listing("Unsure positives", unsure_pos)


if __name__ == "__main__":
    main()
