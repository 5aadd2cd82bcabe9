"""PHI scrubbing: recall, precision and clean-sentence damage per class, for three engines side by side.

The engines (synth/quality/phi.py `find_phi(engine=...)`): `rules` (the project's regular expressions),
`presidio` (Presidio + spaCy NER behind the clinical allow-list) and `combined` (both; the default).

Sets (benchmarks/data/):
- `phi_gen_dev.jsonl` / `phi_gen_heldout.jsonl`: synthetic identifiers of every Safe Harbor class injected
  into seed sentences, plus clean seed sentences and hand-written hard negatives (eponyms, drugs, doses,
  vitals, scores, durations); built by benchmarks/make_phi_set.py, the two parts disjoint in templates,
  surrogate pools and carriers. The held-out part is measured once, after the rules were fixed.
- `phi_labelled.jsonl` / `phi_heldout.jsonl`: hand-written sentences (hard positives and negatives).
- `phi_terms_dev.jsonl` / `phi_terms_heldout.jsonl`: capitalised medical terms (seed MCQ options and answers,
  seed case diagnoses and findings, the verifier data, ICD-10-CM descriptions) in the frames generated text
  uses; all clean, split by term (benchmarks/make_phi_terms.py). Their damage is reported per source too.
- `--fresh`: a second held-out term set from sources neither the filter nor the earlier parts use (the public
  sample cases, the case-gate cards), in new frames, with names in the same frames as positives and the
  samples' clinical sentences as a clean class; built when measured by benchmarks/make_phi_terms.py
  `build_fresh()` from ../shared/samples (the samples are read where they are, never copied into the
  repository), its sha256 reported; defined before the wide vocabulary was fitted, measured once.

`--before` adds the column `combined-before`: the combined engine as it was before the medical-term filter
(synth/quality/phi_allow.py `medical_term`) and the model pre-filter (phi.py `needs_model`), so the two are
measured side by side in one run.

Scoring is about what would leak, so kinds need not agree:
- a gold span is found when predicted spans (any kind) cover at least 80 % of its characters; recall per
  gold kind = found / gold spans;
- a predicted span is correct when it overlaps a gold span; precision = correct / predicted;
- damage: the share of clean sentences (no gold span) in which anything was replaced, per clean class;
- leak rate: the share of gold identifier characters left uncovered.
Speed: sentences per second of each engine on this machine (the model engine's one-off load time apart),
scanned as the publish gate scans them (`find_phi_many`: batched, the cache cleared first).

Run from the repository root:
    python benchmarks/phi_accuracy.py                 # development sets
    python benchmarks/phi_accuracy.py --heldout       # held-out sets (report these, never tune on them)
    python benchmarks/phi_accuracy.py --fresh         # the second held-out term set (the same rule)
Prints a Markdown report with the errors of the combined engine and writes it, with the JSON, to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth.quality import phi, phi_presidio  # noqa: E402
from synth.quality.phi import ENGINES, find_phi, find_phi_many  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
DEV = [DATA / "phi_gen_dev.jsonl", DATA / "phi_labelled.jsonl", DATA / "phi_terms_dev.jsonl"]
HELDOUT = [DATA / "phi_gen_heldout.jsonl", DATA / "phi_heldout.jsonl", DATA / "phi_terms_heldout.jsonl"]
FRESH = "phi_terms_heldout2 (built from ../shared/samples and the case-gate cards)"
BEFORE = "combined-before"  # the combined engine without the medical-term filter and the model pre-filter
SEEDS = ROOT / "datasets" / "seeds"


def load(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The labelled rows and the sha256 of the file."""
    raw = path.read_bytes()
    rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return rows, hashlib.sha256(raw).hexdigest()


def _fresh_rows() -> list[dict[str, Any]]:
    """The second held-out term set, built now (deterministic) by benchmarks/make_phi_terms.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_phi_terms", ROOT / "benchmarks" / "make_phi_terms.py")
    assert spec is not None and spec.loader is not None
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    rows: list[dict[str, Any]] = mk.build_fresh()
    return rows


@contextmanager
def _variant(engine: str) -> Iterator[str]:
    """The engine to call, with `combined-before` undoing the term filter and the pre-filter meanwhile."""
    if engine != BEFORE:
        yield engine
        return
    term, needs = phi_presidio.medical_term, phi.needs_model
    phi_presidio.medical_term = lambda *a: False  # type: ignore[assignment]
    phi.needs_model = lambda text: True  # type: ignore[assignment]
    try:
        yield "combined"
    finally:
        phi_presidio.medical_term = term
        phi.needs_model = needs


def term_damage(rows: list[dict[str, Any]], result: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(damaged, rows) per source of the term sets."""
    damaged = {e["id"] for e in result["errors"] if e["error"].startswith("damaged (term")}
    out: dict[str, tuple[int, int]] = {}
    for row in rows:
        if "source" in row:
            d, n = out.get(row["source"], (0, 0))
            out[row["source"]] = (d + (row["id"] in damaged), n + 1)
    return out


def measure(rows: list[dict[str, Any]], engine: str) -> dict[str, Any]:
    """Per-kind recall, precision, per-class damage, leak rate, speed and every error of one engine."""
    gold_n: dict[str, int] = defaultdict(int)
    found_n: dict[str, int] = defaultdict(int)
    pred_n = pred_ok = gold_chars = leaked = 0
    clean_n: dict[str, int] = defaultdict(int)
    damaged_n: dict[str, int] = defaultdict(int)
    errors: list[dict[str, Any]] = []
    with _variant(engine) as eng:
        phi._CACHE.clear()
        t0 = time.perf_counter()
        preds = find_phi_many([row["text"] for row in rows], engine=eng)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t0
    phi._CACHE.clear()
    for row, spans in zip(rows, preds, strict=True):
        text, gold = row["text"], row["spans"]
        covered = {i for p in spans for i in range(p.start, p.end)}
        for p in spans:
            pred_n += 1
            if any(p.start < g["end"] and g["start"] < p.end for g in gold):
                pred_ok += 1
            elif gold:
                errors.append({"id": row["id"], "error": "false positive", "kind": p.kind,
                               "span": text[p.start : p.end], "text": text})  # fmt: skip
        for g in gold:
            gold_n[g["kind"]] += 1
            n = g["end"] - g["start"]
            miss = sum(i not in covered for i in range(g["start"], g["end"]))
            gold_chars += n
            leaked += miss
            if miss <= 0.2 * n:
                found_n[g["kind"]] += 1
            else:
                errors.append({"id": row["id"], "error": "missed", "kind": g["kind"],
                               "span": text[g["start"] : g["end"]], "text": text})  # fmt: skip
        if not gold:
            cls = row.get("class", "hand-written")
            clean_n[cls] += 1
            if spans:
                damaged_n[cls] += 1
                for p in spans:
                    errors.append({"id": row["id"], "error": f"damaged ({cls})", "kind": p.kind,
                                   "span": text[p.start : p.end], "text": text})  # fmt: skip
    total_gold = sum(gold_n.values())
    total_clean = sum(clean_n.values())
    return {
        "engine": engine,
        "recall": {k: found_n[k] / gold_n[k] for k in sorted(gold_n)},
        "gold": dict(sorted(gold_n.items())),
        "overall_recall": sum(found_n.values()) / total_gold if total_gold else 1.0,
        "precision": pred_ok / pred_n if pred_n else 1.0,
        "predicted": pred_n,
        "damage": {c: damaged_n[c] / clean_n[c] for c in sorted(clean_n)},
        "clean": dict(sorted(clean_n.items())),
        "overall_damage": sum(damaged_n.values()) / total_clean if total_clean else 0.0,
        "leak_rate": leaked / gold_chars if gold_chars else 0.0,
        "sentences_per_s": len(rows) / elapsed if elapsed else 0.0,
        "errors": errors,
    }


def audit_seeds(engine: str) -> list[dict[str, str]]:
    """Every hit in the shipped seed cards and MCQs (no identifiers in them, so every hit is damage)."""
    from benchmarks.make_phi_set import _strings_of

    hits = []
    for path in sorted(SEEDS.glob("*/*.jsonl")):
        for text in _strings_of(path):
            hits += [{"file": path.name, "kind": s.kind, "span": text[s.start : s.end]}
                     for s in find_phi(text, engine=engine)]  # type: ignore[arg-type]  # fmt: skip
    return hits


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render(results: dict[str, dict[str, Any]], names: str) -> str:
    engines = list(results)
    first = results[engines[0]]
    head = "| | " + " | ".join(engines) + " |"
    sep = "|---|" + "---:|" * len(engines)
    lines = [f"PHI scrubbing — {names}", "", "Recall per gold kind (spans):", "", head, sep]
    for k, n in first["gold"].items():
        lines.append(f"| {k} ({n}) | " + " | ".join(_pct(results[e]["recall"][k]) for e in engines) + " |")
    lines.append("| **overall** | " + " | ".join(_pct(results[e]["overall_recall"]) for e in engines) + " |")
    lines.append("| precision | " + " | ".join(_pct(results[e]["precision"]) for e in engines) + " |")
    lines.append("| leak rate (chars) | " + " | ".join(_pct(results[e]["leak_rate"]) for e in engines) + " |")
    lines += ["", "Clean sentences changed, per class:", "", head, sep]
    for c, n in first["clean"].items():
        lines.append(f"| {c} ({n}) | " + " | ".join(_pct(results[e]["damage"][c]) for e in engines) + " |")
    lines.append("| **overall** | " + " | ".join(_pct(results[e]["overall_damage"]) for e in engines) + " |")
    lines.append(
        "| speed (sentences/s) | "
        + " | ".join(f"{results[e]['sentences_per_s']:.0f}" for e in engines)
        + " |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldout", action="store_true", help="measure the held-out sets")
    ap.add_argument("--fresh", action="store_true", help="measure the second held-out term set")
    ap.add_argument("--data", type=Path, nargs="*", help="other labelled files instead")
    ap.add_argument("--engines", nargs="*", default=list(ENGINES))
    ap.add_argument("--before", action="store_true", help=f"add the column {BEFORE} (see above)")
    ap.add_argument("--seed-audit", action="store_true", help="also scan every string of the seed files")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    paths = args.data or ([] if args.fresh else HELDOUT if args.heldout else DEV)
    rows: list[dict[str, Any]] = []
    digests = {}
    for p in paths:
        r, digests[p.name] = load(p)
        rows += r
    if args.fresh and not args.data:
        rows = _fresh_rows()
        digests[FRESH] = hashlib.sha256(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        ).hexdigest()
    t0 = time.perf_counter()
    find_phi("warm up the model engine", engine="combined")
    load_s = time.perf_counter() - t0
    engines = [*args.engines, *([BEFORE] if args.before else [])]
    results = {e: measure(rows, e) for e in engines}
    names = ", ".join(f"{name} (sha256 {digest[:12]})" for name, digest in digests.items())
    report = render(results, f"{names}; {len(rows)} sentences")
    report += f"\nModel engine load (once per process): {load_s:.1f} s.\n"
    if any("source" in r for r in rows):
        report += (
            "\nTerm rows changed, per source:\n\n| | "
            + " | ".join(engines)
            + " |\n|---|"
            + "---:|" * len(engines)
            + "\n"
        )
        per = {e: term_damage(rows, results[e]) for e in engines}
        for src in per[engines[0]]:
            cells = [
                f"{per[e][src][0]}/{per[e][src][1]} ({_pct(per[e][src][0] / per[e][src][1])})"
                for e in engines
            ]
            report += f"| {src} | " + " | ".join(cells) + " |\n"
    if args.seed_audit:
        for e in args.engines:
            hits = audit_seeds(e)
            report += f"\nSeed audit ({e}): {len(hits)} hits in the shipped seed cards and MCQs.\n"
            report += "".join(f"- {h['file']}: {h['kind']} `{h['span']}`\n" for h in hits[:40])
    errs = results.get("combined", next(iter(results.values())))["errors"]
    report += f"\nErrors of the {'combined' if 'combined' in results else args.engines[0]} engine ({len(errs)}):\n\n"
    report += "| id | error | kind | span | text |\n|---|---|---|---|---|\n"
    for e in errs[:300]:
        cells = [e["id"], e["error"], e["kind"], e["span"], e["text"]]
        report += "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |\n"
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    part = "fresh-" if args.fresh else "heldout-" if args.heldout else ""
    stem = args.out / f"phi_accuracy-{part}{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(json.dumps({"data_sha256": digests, **results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
