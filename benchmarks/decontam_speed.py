"""Decontamination: time and correctness at 100k records (~2,000 chars) × 10k benchmark questions (~600 chars).

Synthetic text: records and questions are drawn from two disjoint vocabularies of pseudo-words, so the only text
they share is what is planted:
- `--planted` records carry a 64-140 character run of a random question (upper-cased, with commas and double
  spaces thrown in, so normalisation must undo them): all must be found, each against the right question;
- as many records carry a 63-character run, glued between letters that differ from the question's own
  neighbours, so the longest shared run is exactly one short: none may be found;
- `--common` of all records and of all questions contain the stock phrase "which of the following is the most
  likely diagnosis" (53 chars): it shares aligned windows and so makes candidates, never a 64-char run.
Any flagged record outside the planted set is a false positive.

Timed phases (generation excluded): loading + indexing the questions, normalising the records, the aligned-window
scan, and the exact confirmation of the candidates; the whole `DecontaminationFilter.run` is timed too.

Run from the repository root:
    python benchmarks/decontam_speed.py [--records 100000] [--questions 10000] [--planted 1000] [--common 0.1]
Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._procs import write_results  # noqa: E402
from schemas.problem import VerifiableProblem  # noqa: E402
from synth.quality.base import StageContext, make_doc  # noqa: E402
from synth.quality.config import DecontaminationConfig  # noqa: E402
from synth.quality.decontam import DecontaminationFilter  # noqa: E402
from synth.quality.text import normalise  # noqa: E402

PHRASE = "Which of the following is the most likely diagnosis?"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocab(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = "".join(rng.choices(LETTERS, k=rng.randint(3, 10)))
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def sentence_text(rng: random.Random, words: list[str], chars: int) -> str:
    parts, n = [], 0
    while n < chars:
        s = " ".join(rng.choices(words, k=rng.randint(6, 14))).capitalize() + rng.choice([".", ",", ";", "?"])
        parts.append(s)
        n += len(s) + 1
    return " ".join(parts)


def perturb(rng: random.Random, text: str) -> str:
    """What normalisation must undo: case, punctuation after words, doubled spaces."""
    out = []
    for w in text.upper().split(" "):
        out.append(w + rng.choice(["", "", ",", ":", " "]))
    return " ".join(out)


def build(args: argparse.Namespace) -> tuple[list[str], list[dict[str, Any]], dict[int, int], set[int]]:
    rng = random.Random(args.seed)
    taken: set[str] = set(normalise(PHRASE).split())
    qwords, rwords = vocab(rng, 5000, taken), vocab(rng, 5000, taken)
    questions = []
    for i in range(args.questions):
        text = sentence_text(rng, qwords, args.question_chars)
        if rng.random() < args.common:
            text += " " + PHRASE
        questions.append({"id": f"bq-{i}", "question": text})
    records = []
    for _ in range(args.records):
        text = sentence_text(rng, rwords, args.record_chars)
        if rng.random() < args.common:
            cut = rng.randrange(len(text))
            text = f"{text[:cut]} {PHRASE} {text[cut:]}"
        records.append(text)
    norm_q = [normalise(q["question"]) for q in questions]
    chosen = rng.sample(range(args.records), 2 * args.planted)
    planted: dict[int, int] = {}
    near: set[int] = set()
    for k, r in enumerate(chosen):
        j = rng.randrange(args.questions)
        q = norm_q[j]
        if k < args.planted:
            n = rng.randint(args.chars, args.chars + 76)
            s = rng.randrange(0, len(q) - n)
            insert = " " + perturb(rng, q[s : s + n]) + " "
            planted[r] = j
        else:
            n = args.chars - 1
            s = rng.randrange(1, len(q) - n - 1)
            # Neighbours that differ from the question's: the shared run is exactly n characters.
            left = "q" if q[s - 1] != "q" else "z"
            right = "q" if q[s + n] != "q" else "z"
            insert = " zz" + left + q[s : s + n] + right + "zz "
            near.add(r)
        text = records[r]
        cut = rng.randrange(len(text))
        records[r] = text[:cut] + insert + text[cut:]
    return records, questions, planted, near


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--questions", type=int, default=10_000)
    ap.add_argument("--record-chars", type=int, default=2000)
    ap.add_argument("--question-chars", type=int, default=600)
    ap.add_argument("--planted", type=int, default=1000)
    ap.add_argument("--common", type=float, default=0.1, help="share of texts with the stock phrase")
    ap.add_argument("--chars", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    records, questions, planted, near = build(args)
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        bench = Path(tmp) / "bench.jsonl"
        bench.write_text("".join(json.dumps(q) + "\n" for q in questions))
        cfg = DecontaminationConfig(stage="decontaminate", benchmarks=[bench], chars=args.chars)

        # Phases, on the stage's own pieces.
        stage = DecontaminationFilter(cfg)
        t = time.perf_counter()
        index = stage.index
        index_s = time.perf_counter() - t
        t = time.perf_counter()
        norm = [normalise(r) for r in records]
        norm_s = time.perf_counter() - t
        t = time.perf_counter()
        cands = index.candidates(norm)
        scan_s = time.perf_counter() - t
        t = time.perf_counter()
        found = index.confirm(norm, cands)
        confirm_s = time.perf_counter() - t

        # The whole stage as the pipeline runs it (index build included), over Docs.
        docs = [
            make_doc("problems", VerifiableProblem(id=f"p{i}", question=r, ground_truth="x"))
            for i, r in enumerate(records)
        ]
        docs_text = [d.text for d in docs]
        assert all(d.endswith("\nx") for d in docs_text[:10])
        ctx = StageContext()
        t = time.perf_counter()
        kept = asyncio.run(DecontaminationFilter(cfg).run(docs, ctx))
        stage_s = time.perf_counter() - t

    flagged = set(found)
    right = sum(1 for r, j in planted.items() if r in found and found[r].question.id == f"bq-{j}")
    missed = [r for r in planted if r not in found]
    fp = sorted(flagged - set(planted))
    stage_flagged = {int(d.record_id[1:]) for d in ctx.drops}
    result = {
        "records": args.records,
        "questions": args.questions,
        "record_chars": args.record_chars,
        "question_chars": args.question_chars,
        "chars": args.chars,
        "common_phrase_share": args.common,
        "generate_s": round(gen_s, 1),
        "index_s": round(index_s, 2),
        "normalise_s": round(norm_s, 2),
        "scan_s": round(scan_s, 2),
        "candidates": len(cands),
        "confirm_s": round(confirm_s, 2),
        "total_phases_s": round(index_s + norm_s + scan_s + confirm_s, 2),
        "stage_run_s": round(stage_s, 2),
        "planted": len(planted),
        "found_right_question": right,
        "missed": len(missed),
        "near_misses": len(near),
        "near_misses_flagged": len(flagged & near),
        "false_positives": len(fp),
        "stage_agrees": stage_flagged == flagged and len(kept) == args.records - len(flagged),
    }
    md = [
        f"### Decontamination: {args.records:,} records × {args.questions:,} questions",
        "",
        "| phase | seconds |",
        "|---|---:|",
        f"| load + index questions | {result['index_s']} |",
        f"| normalise records | {result['normalise_s']} |",
        f"| aligned-window scan | {result['scan_s']} |",
        f"| confirm {len(cands):,} candidates | {result['confirm_s']} |",
        f"| **sum of phases** | **{result['total_phases_s']}** |",
        f"| whole stage (`run`, over Docs) | {result['stage_run_s']} |",
        "",
        f"planted {len(planted)}: found {right} against the right question, missed {len(missed)}; "
        f"near misses (63 chars) flagged {result['near_misses_flagged']} of {len(near)}; "
        f"false positives {len(fp)}; stage run agrees: {result['stage_agrees']}",
    ]
    print("\n".join(md))
    write_results("decontam_speed", "\n".join(md), result)
    if missed or fp or result["near_misses_flagged"] or right != len(planted):
        sys.exit(1)


if __name__ == "__main__":
    main()
