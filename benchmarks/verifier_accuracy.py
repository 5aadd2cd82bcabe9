"""Verifier: option-level accuracy of the lexical stage on labelled MCQs.

For every MCQ of benchmarks/data/verifier_mcq.jsonl and every one of its options, the option's text is the
candidate and the question's short ground-truth answer (plus its aliases) the reference; the option is expected
to verify ("true") exactly when it is the correct option. A distractor counts as correctly handled when it does
not verify ("false", or "unsure" — which a configured judge would then decide).

Reported, overall and per answer type: correct-option acceptance (recall), distractor rejection ("false"), the
share of "unsure" verdicts (what would go to the judge), option-level accuracy, per-question accuracy (all five
options right), and every failure with the verifier's reason.

Run from the repository root:
    python benchmarks/verifier_accuracy.py [--data benchmarks/data/verifier_mcq.jsonl] [--matcher answer|diagnosis]
`--matcher diagnosis` runs the consultations' diagnosis matcher (verify_lexical) instead, for comparison.
Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth.verify import verify_answer_lexical, verify_lexical  # noqa: E402


def _verdict(matcher: str, candidate: str, reference: str, aliases: list[str]) -> tuple[str, str]:
    if matcher == "diagnosis":
        v = verify_lexical(candidate, reference, aliases)
        return {True: "true", False: "false", None: "unsure"}[v.correct], v.reason
    a = verify_answer_lexical(candidate, reference, aliases)
    return a.verdict, a.reason


def evaluate(rows: list[dict[str, Any]], matcher: str) -> dict[str, Any]:
    per_option = []
    for row in rows:
        for letter, text in sorted(row["options"].items()):
            verdict, reason = _verdict(matcher, text, row["reference"], row.get("aliases", []))
            expected = letter == row["answer_idx"]
            ok = verdict == "true" if expected else verdict != "true"
            per_option.append(
                {
                    "id": row["id"],
                    "type": row.get("type", "?"),
                    "option": letter,
                    "candidate": text,
                    "reference": row["reference"],
                    "expected": expected,
                    "verdict": verdict,
                    "ok": ok,
                    "reason": reason,
                }
            )
    groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for o in per_option:
        groups["all"].append(o)
        groups[o["type"]].append(o)
    return {"options": per_option, "summary": {k: _summary(v) for k, v in groups.items()}}


def _summary(options: list[dict[str, Any]]) -> dict[str, Any]:
    correct = [o for o in options if o["expected"]]
    distractors = [o for o in options if not o["expected"]]
    by_q: dict[str, bool] = {}
    for o in options:
        by_q[o["id"]] = by_q.get(o["id"], True) and o["ok"]
    return {
        "questions": len(by_q),
        "options": len(options),
        "acceptance": sum(o["verdict"] == "true" for o in correct) / len(correct),
        "correct_unsure": sum(o["verdict"] == "unsure" for o in correct) / len(correct),
        "distractor_rejection": sum(o["verdict"] == "false" for o in distractors) / len(distractors),
        "distractor_unsure": sum(o["verdict"] == "unsure" for o in distractors) / len(distractors),
        "distractor_false_accept": sum(o["verdict"] == "true" for o in distractors) / len(distractors),
        "unsure_share": sum(o["verdict"] == "unsure" for o in options) / len(options),
        "option_accuracy": sum(o["ok"] for o in options) / len(options),
        "question_accuracy": sum(by_q.values()) / len(by_q),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render(result: dict[str, Any], data: Path, digest: str, matcher: str) -> str:
    lines = [
        f"Verifier option-level accuracy — matcher `{matcher}`, {data.name} (sha256 {digest[:12]})",
        "",
        "| answer type | questions | options | correct accepted | correct unsure | distractors rejected "
        "| distractors unsure | distractors accepted | unsure (all) | option accuracy | question accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = result["summary"]
    for k in ["all", *sorted(k for k in summary if k != "all")]:
        s = summary[k]
        lines.append(
            f"| {k} | {s['questions']} | {s['options']} | {_pct(s['acceptance'])} | {_pct(s['correct_unsure'])} "
            f"| {_pct(s['distractor_rejection'])} | {_pct(s['distractor_unsure'])} "
            f"| {_pct(s['distractor_false_accept'])} | {_pct(s['unsure_share'])} | {_pct(s['option_accuracy'])} "
            f"| {_pct(s['question_accuracy'])} |"
        )
    fails = [o for o in result["options"] if not o["ok"]]
    lines += ["", f"Failures ({len(fails)}):", ""]
    lines += [
        "| id | option | expected | verdict | candidate | reference | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in fails:
        cell = [o["id"], o["option"], "accept" if o["expected"] else "reject", o["verdict"]]
        cell += [o["candidate"], o["reference"], o["reason"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cell) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "verifier_mcq.jsonl")
    ap.add_argument("--matcher", choices=["answer", "diagnosis"], default="answer")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    raw = args.data.read_bytes()
    rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    t0 = time.perf_counter()
    result = evaluate(rows, args.matcher)
    elapsed = time.perf_counter() - t0
    digest = hashlib.sha256(raw).hexdigest()
    report = render(result, args.data, digest, args.matcher)
    n = result["summary"]["all"]["options"]
    report += f"\n{n} options verified in {elapsed:.2f} s ({1e3 * elapsed / n:.2f} ms per option).\n"
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"verifier_accuracy-{args.matcher}-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(json.dumps({"data_sha256": digest, **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
