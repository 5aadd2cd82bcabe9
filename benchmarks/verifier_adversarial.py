"""Verifier: accuracy, false accepts and unsure share per failure class on the adversarial pairs.

Every line of benchmarks/data/verifier_adversarial.jsonl (written by make_verifier_adversarial.py) is verified
with the lexical stage (`verify_answer_lexical`, what `synth verify` and the rewards use without a judge). A
positive (label true) is right only when it verifies ("true"); a negative is right when it does not ("false"
or "unsure" — which a configured judge would then decide). A *false accept* is a negative that verifies: the
one error a filter or a reward cannot absorb, and the number that must stay at zero.

`--noisy-mcq` also re-runs the 152 MCQs of benchmarks/data/verifier_mcq.jsonl with every option text passed
through one exam-data corruption (chosen by a seeded generator: the "rt" dropped, a one-letter typo in its
longest word, "right"/"left" written "Rt"/"Lt", a patient age appended, nothing) — distractors that the
corruption must not turn into accepts, correct options it should not turn into rejects.

`--cross` is the slow, exhaustive check (minutes): every name of the alias and eponym tables and of the
generator's vocabularies, corrupted (typos, the "rt" dropped, Rt/Lt, an age or a duration appended), against
every other name in both directions; it counts the pairs the corruption turned into an accept that the clean
pair was not.

Run from the repository root:
    python benchmarks/verifier_adversarial.py [--data benchmarks/data/verifier_adversarial.jsonl] [--failures N]
        [--noisy-mcq] [--cross]
Prints Markdown tables (and up to N failures per class) and writes them, with the raw JSON, to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from schemas.matching.verdict import verify_answer_lexical  # noqa: E402


def evaluate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        v = verify_answer_lexical(row["candidate"], row["reference"], row.get("aliases") or [])
        ok = v.verdict == "true" if row["label"] else v.verdict != "true"
        out.append({**row, "verdict": v.verdict, "reason": v.reason, "ok": ok})
    return out


def summary(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in results:
        groups[r["class"]].append(r)
        groups["all"].append(r)
    table = {}
    for cls, rs in groups.items():
        pos = [r for r in rs if r["label"]]
        neg = [r for r in rs if not r["label"]]
        table[cls] = {
            "n": len(rs),
            "positives": len(pos),
            "negatives": len(neg),
            "accuracy": sum(r["ok"] for r in rs) / len(rs),
            "positives_accepted": sum(r["verdict"] == "true" for r in pos) / len(pos) if pos else None,
            "negatives_not_accepted": sum(r["verdict"] != "true" for r in neg) / len(neg) if neg else None,
            "false_accepts": sum(r["verdict"] == "true" for r in neg),
            "unsure_share": sum(r["verdict"] == "unsure" for r in rs) / len(rs),
        }
    return table


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def render(table: dict[str, dict[str, Any]], results: list[dict[str, Any]], failures: int) -> str:
    lines = [
        "| class | n | pos / neg | accuracy | positives accepted | negatives not accepted | false accepts "
        "| unsure |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cls in [*sorted(k for k in table if k != "all"), "all"]:
        s = table[cls]
        name = f"**{cls}**" if cls == "all" else cls
        lines.append(
            f"| {name} | {s['n']} | {s['positives']} / {s['negatives']} | {_pct(s['accuracy'])} "
            f"| {_pct(s['positives_accepted'])} | {_pct(s['negatives_not_accepted'])} | {s['false_accepts']} "
            f"| {_pct(s['unsure_share'])} |"
        )
    if failures:
        lines += [
            "",
            "| class | label | verdict | candidate | reference | reason |",
            "|---|---|---|---|---|---|",
        ]
        shown: collections.Counter[str] = collections.Counter()
        for r in results:
            if not r["ok"] and shown[r["class"]] < failures:
                shown[r["class"]] += 1
                cells = [r["class"], r["label"], r["verdict"], r["candidate"], r["reference"], r["reason"]]
                lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _corrupt(text: str, rng: random.Random) -> tuple[str, str]:
    """One exam-data corruption of an option text, and its name."""
    kind = rng.choice(["rt", "typo", "side", "age", "none"])
    words = text.split()
    if kind == "rt" and any("rt" in w[1:] for w in words):
        from make_verifier_adversarial import drop_rt

        return drop_rt(text), kind
    if kind == "typo":
        longest = max(words, key=len)
        if len(longest) >= 7 and longest.isalpha():
            i = rng.randrange(2, len(longest) - 1)
            return text.replace(longest, longest[:i] + longest[i + 1 :], 1), kind
    if kind == "side" and re.search(r"\b(?:right|left)\b", text, re.IGNORECASE):
        out = re.sub(r"\bright\b", "Rt", text, flags=re.IGNORECASE)
        return re.sub(r"\bleft\b", "Lt", out, flags=re.IGNORECASE), kind
    if kind == "age" and not re.search(r"\d", text):
        return f"{text} in a {rng.randrange(18, 90)}-year-old", kind
    return text, "none"


def noisy_mcq(path: Path, seed: int) -> str:
    """The 152-MCQ benchmark with corrupted option texts (see the module docstring)."""
    import verifier_accuracy

    rng = random.Random(seed)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kinds: collections.Counter[str] = collections.Counter()
    for row in rows:
        for letter in sorted(row["options"]):
            row["options"][letter], kind = _corrupt(row["options"][letter], rng)
            kinds[kind] += 1
    result = verifier_accuracy.evaluate(rows, "answer")
    s = result["summary"]["all"]
    accepts = sum(o["verdict"] == "true" and not o["expected"] for o in result["options"])
    lines = [
        f"Noisy MCQs (seed {seed}; corruptions: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})",
        "",
        "| questions | options | correct accepted | distractors accepted (false accepts) | unsure (all) "
        "| option accuracy | question accuracy |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['questions']} | {s['options']} | {_pct(s['acceptance'])} | {accepts} | {_pct(s['unsure_share'])} "
        f"| {_pct(s['option_accuracy'])} | {_pct(s['question_accuracy'])} |",
    ]
    wrong = [o for o in result["options"] if o["verdict"] == "true" and not o["expected"]]
    lines += [f"- false accept: {o['candidate']!r} for {o['reference']!r}: {o['reason']}" for o in wrong]
    return "\n".join(lines) + "\n"


def cross() -> str:
    """Corruption-induced accepts between distinct names (see the module docstring)."""
    import make_verifier_adversarial as gen
    import wordfreq

    from schemas.matching.aliases import IN_TEXT
    from schemas.matching.eponyms import EPONYMS
    from schemas.matching.lexical import ABBREVIATIONS

    known = set(wordfreq.get_frequency_dict("en", "large"))
    names = {*ABBREVIATIONS.values(), *IN_TEXT.values(), *EPONYMS.values(), *gen.DISEASES, *gen.TYPO_TERMS}
    names |= {
        *gen.RT_TERMS,
        *gen.SIDED,
        *gen.FINDINGS,
        *gen.NUMBERED,
        *(x for p in gen.MINIMAL_PAIRS for x in p),
    }
    rng = random.Random(1)
    clean: dict[tuple[str, str], bool] = {}
    pairs = induced = 0
    examples = []
    for a in sorted(names):
        variants = [f"{a} in a 45-year-old", f"{a} for 3 days"]
        variants += [a.replace("right", "Rt").replace("left", "Lt")] if "right" in a or "left" in a else []
        if any("rt" in w[1:] for w in a.split()):
            variants.append(gen.drop_rt(a))
        words = [w for w in a.split() if len(w) >= 6 and w.isalpha()]
        if words:
            w = max(words, key=len)
            variants += [a.replace(w, t) for t in gen._typos(w, rng) if t not in known]
        for variant in variants:
            for b in sorted(names - {a}):
                for x, y, cx in ((variant, b, a), (b, variant, None)):
                    pairs += 1
                    if verify_answer_lexical(x, y).verdict != "true":
                        continue
                    key = (cx or b, y if cx else a)
                    if key not in clean:
                        clean[key] = verify_answer_lexical(*key).verdict == "true"
                    if not clean[key]:
                        induced += 1
                        examples.append(f"- {x!r} / {y!r}")
    head = f"Cross check: {len(names)} names, {pairs:,} corrupted pairs, {induced} accepts the corruption induced"
    return "\n".join([head, *examples[:20]]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "verifier_adversarial.jsonl")
    ap.add_argument("--failures", type=int, default=5, help="failures listed per class")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--noisy-mcq", action="store_true", help="also the 152 MCQs with corrupted options")
    ap.add_argument("--seed", type=int, default=7, help="seed of the MCQ corruptions")
    ap.add_argument("--cross", action="store_true", help="also the exhaustive cross check (minutes)")
    args = ap.parse_args()
    raw = args.data.read_bytes()
    rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    t0 = time.perf_counter()
    results = evaluate(rows)
    elapsed = time.perf_counter() - t0
    table = summary(results)
    digest = hashlib.sha256(raw).hexdigest()
    report = f"Verifier on adversarial pairs — {args.data.name} (sha256 {digest[:12]})\n\n"
    report += render(table, results, args.failures)
    report += f"\n{len(rows)} pairs verified in {elapsed:.2f} s (vocabulary load included).\n"
    if args.noisy_mcq:
        report += "\n" + noisy_mcq(ROOT / "benchmarks" / "data" / "verifier_mcq.jsonl", args.seed)
    if args.cross:
        report += "\n" + cross()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"verifier_adversarial-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(
        json.dumps({"data_sha256": digest, "summary": table, "results": results}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
