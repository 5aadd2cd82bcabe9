"""PHI scrubbing: span-level precision and recall of the detector on a labelled set, and the leak rate.

benchmarks/data/phi_labelled.jsonl holds original sentences in the style of generated consultations, vignettes
and problems; about half carry identifiers (gold spans with their kind), the rest are hard negatives (eponyms,
lab values, doses, vitals, dates of onset, ages, ICD codes, brand names, "Dr." with no name).

- A predicted span is a true positive when it overlaps a gold span of the same kind; precision = true
  positives / predicted spans, per kind and overall.
- A gold span is found when a predicted span of its kind overlaps it; recall = found / gold spans.
- Leak rate: the share of gold identifier characters that no predicted span (of any kind) covers, i.e. what
  would survive scrubbing.
- Sentences: the share of hard negatives left untouched, and of positives with every identifier found.
- Seed audit: every string of the shipped seed case cards and MCQs (text this set's author did not write, with
  no identifiers in it) is scanned; every hit is a false positive and is listed.

Run from the repository root:
    python benchmarks/phi_accuracy.py [--data benchmarks/data/phi_labelled.jsonl]
    python benchmarks/phi_accuracy.py --data benchmarks/data/phi_heldout.jsonl   # written after the rules
Prints a Markdown report (with every miss and false positive) and writes it, with the raw JSON, to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth.quality.phi import KINDS, find_phi  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "phi_labelled.jsonl"
SEEDS = ROOT / "datasets" / "seeds"


def load(path: Path = DATA) -> tuple[list[dict[str, Any]], str]:
    """The labelled rows and the sha256 of the file."""
    raw = path.read_bytes()
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()], hashlib.sha256(
        raw
    ).hexdigest()


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def measure(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-kind and overall span precision/recall, the character leak rate, and every error."""
    tp_pred = {k: 0 for k in KINDS}
    n_pred = {k: 0 for k in KINDS}
    found = {k: 0 for k in KINDS}
    n_gold = {k: 0 for k in KINDS}
    gold_chars = leaked_chars = 0
    negatives = clean_negatives = positives = full_positives = 0
    errors: list[dict[str, Any]] = []
    for row in rows:
        text, gold = row["text"], row["spans"]
        pred: list[dict[str, Any]] = [
            {"start": s.start, "end": s.end, "kind": s.kind} for s in find_phi(text)
        ]
        covered = {i for p in pred for i in range(p["start"], p["end"])}
        for p in pred:
            n_pred[p["kind"]] += 1
            if any(_overlaps(p, g) and g["kind"] == p["kind"] for g in gold):
                tp_pred[p["kind"]] += 1
            else:
                errors.append(
                    {"id": row["id"], "error": "false positive", "kind": p["kind"], "text": text, **p}
                )
        all_found = True
        for g in gold:
            n_gold[g["kind"]] += 1
            if any(_overlaps(p, g) and g["kind"] == p["kind"] for p in pred):
                found[g["kind"]] += 1
            else:
                all_found = False
                errors.append({"id": row["id"], "error": "missed", "kind": g["kind"], "text": text, **g})
            gold_chars += g["end"] - g["start"]
            leaked_chars += sum(i not in covered for i in range(g["start"], g["end"]))
        if gold:
            positives += 1
            full_positives += all_found
        else:
            negatives += 1
            clean_negatives += not pred

    def pr(tp: int, npred: int, fnd: int, ngold: int) -> dict[str, Any]:
        return {
            "gold": ngold,
            "predicted": npred,
            "precision": tp / npred if npred else 1.0,
            "recall": fnd / ngold if ngold else 1.0,
        }

    per_kind = {k: pr(tp_pred[k], n_pred[k], found[k], n_gold[k]) for k in KINDS}
    overall = pr(sum(tp_pred.values()), sum(n_pred.values()), sum(found.values()), sum(n_gold.values()))
    return {
        "per_kind": per_kind,
        "overall": overall,
        "leak_rate": leaked_chars / gold_chars if gold_chars else 0.0,
        "negatives_clean": clean_negatives / negatives if negatives else 1.0,
        "positives_complete": full_positives / positives if positives else 1.0,
        "sentences": {"positive": positives, "negative": negatives},
        "errors": errors,
    }


def _strings(value: Any, key: str = "") -> list[str]:
    if key == "id" or key.endswith("_id"):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, str(k))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, key)]
    return []


def audit_seeds(root: Path = SEEDS) -> dict[str, Any]:
    """Scan every string of the shipped seed cards and MCQs; they hold no identifiers, so every hit is wrong."""
    n = chars = 0
    hits = []
    for path in sorted(root.glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            for text in _strings(json.loads(line)) if line.strip() else []:
                n += 1
                chars += len(text)
                hits += [
                    {"file": path.name, "kind": s.kind, "span": text[s.start : s.end]} for s in find_phi(text)
                ]
    return {"strings": n, "chars": chars, "hits": hits}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render(result: dict[str, Any], data: Path, digest: str) -> str:
    s = result["sentences"]
    lines = [
        f"PHI detector — {data.name} (sha256 {digest[:12]}; {s['positive']} sentences with identifiers, "
        f"{s['negative']} hard negatives)",
        "",
        "| kind | gold spans | predicted | precision | recall |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, r in [*result["per_kind"].items(), ("**overall**", result["overall"])]:
        lines.append(
            f"| {k} | {r['gold']} | {r['predicted']} | {_pct(r['precision'])} | {_pct(r['recall'])} |"
        )
    lines += [
        "",
        f"Leak rate (gold identifier characters left unscrubbed): {_pct(result['leak_rate'])}; "
        f"hard negatives untouched: {_pct(result['negatives_clean'])}; "
        f"sentences with every identifier found: {_pct(result['positives_complete'])}.",
        "",
        f"Errors ({len(result['errors'])}):",
        "",
        "| id | error | kind | span | text |",
        "|---|---|---|---|---|",
    ]
    for e in result["errors"]:
        cells = [e["id"], e["error"], e["kind"], e["text"][e["start"] : e["end"]], e["text"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    rows, digest = load(args.data)
    t0 = time.perf_counter()
    result = measure(rows)
    elapsed = time.perf_counter() - t0
    report = render(result, args.data, digest)
    report += (
        f"\n{len(rows)} sentences in {elapsed:.3f} s ({1e3 * elapsed / len(rows):.2f} ms per sentence).\n"
    )
    audit = audit_seeds()
    report += (
        f"\nSeed audit: {audit['strings']} strings ({audit['chars']} characters) of shipped seed cards and MCQs, "
        f"{len(audit['hits'])} false positives.\n"
    )
    report += "".join(f"- {h['file']}: {h['kind']} `{h['span']}`\n" for h in audit["hits"])
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"phi_accuracy-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(
        json.dumps({"data_sha256": digest, **result, "seed_audit": audit}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
