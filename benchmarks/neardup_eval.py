"""Near-duplicate detection: precision and recall of semantic dedup (and MinHash, for comparison) on a labelled set.

The set is built here, deterministically, from the shipped seeds (nothing is downloaded, nothing committed):
- originals: a consultation-like dialogue per seed case (doctor questions from a fixed template, the patient's
  lay answers, exam and test results, the diagnosis; ~350-500 words, longer than MiniLM's 256-token window) and
  a vignette per seed MCQ (question + answer; ~60-90 words);
- duplicates of each original: sentences / question-answer blocks reordered, synonym swaps, truncation (the
  last ~30% cut), dropped turns (two Q/A blocks, or one sentence of a vignette), and all of these at once;
- hard negatives: every pair of originals of the same specialty (for dialogues: the same doctor template over
  a different patient and diagnosis), and each perturbed copy against another original of its specialty;
  easy negatives: a sample of cross-specialty pairs.

A pair is "predicted duplicate" when the embedding cosine reaches the threshold (the edge rule of
FaissDedupFilter); MinHash pairs use datasketch's estimated Jaccard on word 5-grams, as the near_dedup stage.
Then the whole pool goes through FaissDedupFilter at the chosen threshold: a drop is right when its
`duplicate_of` is in the same family (an original and its copies).

Run from the repository root:
    python benchmarks/neardup_eval.py [--models all-MiniLM-L6-v2,minilm-first-window,minilm-static] [--dump FILE]
(all-MiniLM-L6-v2 is the default runtime; minilm-torch and minilm-onnx-int8 name one runtime each)
Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks._procs import write_results  # noqa: E402
from schemas.embedded import embedded_minilm_path  # noqa: E402
from schemas.problem import VerifiableProblem  # noqa: E402
from synth.quality.base import Doc, StageContext  # noqa: E402
from synth.quality.config import SemanticDedupConfig  # noqa: E402
from synth.quality.dedup import shingles  # noqa: E402
from synth.quality.embed import TransformerEmbedder, load_embedder  # noqa: E402
from synth.quality.semantic import FaissDedupFilter  # noqa: E402

SEEDS = ROOT / "datasets" / "seeds"
THRESHOLDS = [0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96]
MINHASH_THRESHOLDS = [0.3, 0.5, 0.7, 0.8]
POOL_THRESHOLDS = [0.85, 0.88, 0.90, 0.92, 0.94]

QUESTIONS = {
    "history_present_illness": [
        "Can you tell me more about how it started?",
        "What exactly have you noticed?",
    ],
    "past_medical_history": ["Do you have any medical conditions?", "Have you had any illnesses before?"],
    "medications": ["Do you take any medicines?", "Are you on any regular tablets?"],
    "social_history": [
        "Do you smoke or drink, and what do you do for work?",
        "Tell me about your lifestyle.",
    ],
    "family_history": ["Does anything run in your family?", "Any illnesses in your family?"],
    "review_of_systems": ["Have you noticed anything else?", "Any other symptoms at all?"],
    "allergies": ["Are you allergic to anything?", "Any allergies to medicines?"],
}
SYNONYMS = {
    "pain": "ache",
    "started": "began",
    "sick": "unwell",
    "days": "days now",
    "weeks": "weeks now",
    "tablets": "pills",
    "medicines": "medications",
    "doctor": "physician",
    "tired": "exhausted",
    "breathless": "short of breath",
    "throw up": "vomit",
    "threw up": "vomited",
    "stomach": "tummy",
    "big": "large",
    "small": "little",
    "fast": "quick",
    "bad": "severe",
    "worse": "more severe",
    "noticed": "seen",
    "feel": "am feeling",
    "mother": "mum",
    "father": "dad",
    "high": "raised",
    "low": "reduced",
    "increased": "raised",
    "decreased": "reduced",
    "shows": "reveals",
    "has had": "has been having",
    "examination": "exam",
    "patient": "individual",
    "woman": "female",
    "man": "male",
    "child": "kid",
    "fever": "temperature",
    "most likely": "most probable",
    "appropriate": "suitable",
    "swelling": "puffiness",
    "headache": "head pain",
    "blood pressure": "BP",
    "heart rate": "pulse",
    "normal": "unremarkable",
}
SPEAKER = re.compile(r"^(doctor|patient|examiner): ")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


def consultation(card: dict[str, Any], rng: random.Random) -> list[list[str]]:
    """Blocks of turns: the opening, one Q/A block per fact, exam, tests, the diagnosis."""
    blocks = [
        [
            "doctor: Hello, I'm the doctor on duty today. What brings you in?",
            f"patient: {card['opening_statement']}",
        ]
    ]
    for f in card["facts"]:
        q = rng.choice(QUESTIONS.get(f["category"], ["Can you tell me more?"]))
        blocks.append([f"doctor: {q}", f"patient: {f['lay_text']}"])
    for e in card["exam"]:
        blocks.append([f"doctor: I'd like to check your {e['name'].lower()}.", f"examiner: {e['result']}"])
    for t in card["tests"][:4]:
        blocks.append([f"doctor: Let's get a {t['name']}.", f"examiner: {t['result']}"])
    blocks.append([f"doctor: I think this is {card['answer']['diagnosis']}; we'll start treatment now."])
    return blocks


def synonym_swap(text: str) -> str:
    for a, b in SYNONYMS.items():
        text = re.sub(rf"\b{re.escape(a)}\b", b, text)
    return text


def perturb(kind: str, blocks: list[list[str]], rng: random.Random) -> str:
    """A duplicate of a dialogue (blocks > 1) or a vignette (one block of sentences)."""
    vignette = len(blocks) == 1
    units = list(blocks[0]) if vignette else [list(b) for b in blocks]
    if kind in ("reorder", "combo"):
        mid = units[1:-1]
        rng.shuffle(mid)
        units = [units[0], *mid, units[-1]]
    if kind in ("drop_turns", "combo"):
        for _ in range(1 if vignette else 2):
            if len(units) > 3:
                units.pop(rng.randrange(1, len(units) - 1))
    text = " ".join(units) if vignette else "\n".join(t for b in units for t in b)  # type: ignore[misc]
    if kind == "truncate":
        words = text.split(" ")
        text = " ".join(words[: int(len(words) * 0.7)])
    if kind in ("synonym", "combo"):
        text = synonym_swap(text)
    return text


def build_set() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(1234)
    texts: dict[str, dict[str, Any]] = {}
    originals: list[tuple[str, str, list[list[str]]]] = []  # (id, specialty, blocks)
    for path in sorted((SEEDS / "cases").glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines()):
            card = json.loads(line)
            originals.append((f"case-{path.stem}-{n}", card["specialty"], consultation(card, rng)))
    for line in (SEEDS / "mcqs" / "medqa_style.jsonl").read_text().splitlines():
        q = json.loads(line)
        originals.append((q["id"], q["specialty"], [[*_sentences(q["question"]), f"Answer: {q['answer']}."]]))
    pairs: list[dict[str, Any]] = []
    kinds = ["reorder", "synonym", "truncate", "drop_turns", "combo"]
    for oid, spec, blocks in originals:
        text = "\n".join(t for b in blocks for t in b) if len(blocks) > 1 else " ".join(blocks[0])
        texts[oid] = {"id": oid, "family": oid, "specialty": spec, "kind": "original", "text": text}
        for k in kinds:
            pid = f"{oid}~{k}"
            texts[pid] = {
                "id": pid,
                "family": oid,
                "specialty": spec,
                "kind": k,
                "text": perturb(k, blocks, rng),
            }
            pairs.append({"a": oid, "b": pid, "dup": True, "kind": k})
    by_spec: dict[tuple[str, bool], list[str]] = defaultdict(list)
    for oid, spec, blocks in originals:
        by_spec[(spec, len(blocks) > 1)].append(oid)
    for group in by_spec.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                pairs.append({"a": a, "b": b, "dup": False, "kind": "same_specialty"})
                k = rng.choice(kinds)
                pairs.append({"a": f"{a}~{k}", "b": b, "dup": False, "kind": "same_specialty_perturbed"})
    ids = [o[0] for o in originals]
    spec_of = {o[0]: o[1] for o in originals}
    for _ in range(200):
        a, b = rng.sample(ids, 2)
        if spec_of[a] != spec_of[b]:
            pairs.append({"a": a, "b": b, "dup": False, "kind": "other_specialty"})
    return texts, pairs


def prf(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    tp = int((pred & gold).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(gold.sum()), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9), "fp": int((pred & ~gold).sum())}


def embedder(model: str) -> Any:
    if model == "minilm-first-window":
        return TransformerEmbedder(str(embedded_minilm_path()), name=model, max_windows=1)
    if model in ("minilm-torch", "minilm-onnx-int8"):  # the default model on each runtime, side by side
        return load_embedder("all-MiniLM-L6-v2", runtime=model.split("-")[1])
    return load_embedder(model)


def fmt(x: float) -> str:
    return f"{100 * x:.1f}%"


class Precomputed:
    """The vectors already computed for the pairs, served to FaissDedupFilter by text."""

    def __init__(self, name: str, texts: list[str], vecs: np.ndarray):
        self.name, self.dim = name, vecs.shape[1]
        self.rows = dict(zip(texts, vecs, strict=True))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return np.stack([self.rows[t] for t in texts])


async def pool_dedup(texts: dict[str, dict[str, Any]], emb: Any, threshold: float) -> dict[str, Any]:
    """The whole pool through FaissDedupFilter: drops into the right family, and families left with one record.
    Every copy is a duplicate of its original, so a perfect run drops all copies and nothing else."""
    docs = [
        Doc(
            "pool",
            t["id"],
            VerifiableProblem(id=t["id"], question=t["text"], ground_truth="-"),
            t["text"],
            t["family"],
        )
        for t in texts.values()
    ]
    ctx = StageContext()
    kept = await FaissDedupFilter(SemanticDedupConfig(stage="semantic_dedup", threshold=threshold), emb).run(
        docs, ctx
    )
    right = sum(texts[d.record_id]["family"] == texts[d.duplicate_of or ""]["family"] for d in ctx.drops)
    fam_kept: dict[str, int] = defaultdict(int)
    for d in kept:
        fam_kept[d.group] += 1
    families = {t["family"] for t in texts.values()}
    should = len(texts) - len(families)
    return {
        "threshold": threshold,
        "drop_precision": right / max(len(ctx.drops), 1),
        "drop_recall": right / should,
        "records": len(docs),
        "dropped": len(ctx.drops),
        "drops_into_right_family": right,
        "families_fully_collapsed": sum(fam_kept[f] == 1 for f in families),
        "families_emptied": sum(fam_kept[f] == 0 for f in families),
        "families": len(families),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="all-MiniLM-L6-v2,minilm-first-window,minilm-static")
    ap.add_argument(
        "--pool-threshold", type=float, default=None, help="pool run threshold (default: best F1)"
    )
    ap.add_argument(
        "--dump", type=Path, help="also write the labelled set (texts + pairs) to this JSONL file"
    )
    args = ap.parse_args()

    texts, pairs = build_set()
    if args.dump:
        with args.dump.open("w") as f:
            for t in texts.values():
                f.write(json.dumps({"type": "text", **t}) + "\n")
            for p in pairs:
                f.write(json.dumps({"type": "pair", **p}) + "\n")
    ids = list(texts)
    pos = {i: n for n, i in enumerate(ids)}
    gold = np.array([p["dup"] for p in pairs])
    kinds = sorted({p["kind"] for p in pairs})
    words = {
        k: np.mean([len(t["text"].split()) for t in texts.values() if t["id"].startswith(k)])
        for k in ("case", "seed")
    }
    result: dict[str, Any] = {
        "texts": len(texts),
        "pairs": len(pairs),
        "positives": int(gold.sum()),
        "pair_kinds": {k: sum(p["kind"] == k for p in pairs) for k in kinds},
        "mean_words": {"dialogue": words["case"], "vignette": words["seed"]},
        "models": {},
    }
    lines = [
        f"# Near-duplicate detection ({len(texts)} texts, {len(pairs)} labelled pairs, {int(gold.sum())} duplicates)",
        "",
        f"Dialogues ~{words['case']:.0f} words, vignettes ~{words['seed']:.0f} words. Pair kinds: "
        + ", ".join(f"{k} {v}" for k, v in result["pair_kinds"].items()),
    ]
    for model in args.models.split(","):
        emb = embedder(model)
        t0 = time.perf_counter()
        vecs = emb.encode([texts[i]["text"] for i in ids], batch_size=32)
        secs = time.perf_counter() - t0
        sims = np.array([float(vecs[pos[p["a"]]] @ vecs[pos[p["b"]]]) for p in pairs])
        rows = {}
        for thr in THRESHOLDS:
            pred = sims >= thr
            by_kind = {k: float(pred[[p["kind"] == k for p in pairs]].mean()) for k in kinds}
            rows[thr] = {**prf(pred, gold), "flagged_by_kind": by_kind}
        best = max(rows, key=lambda t: (rows[t]["f1"], t))
        result["models"][model] = {
            "embed_s": secs,
            "dim": emb.dim,
            "thresholds": rows,
            "best_f1_threshold": best,
        }
        lines += ["", f"## {model} ({emb.dim}-d, {secs:.1f} s to embed the {len(ids)} texts)", ""]
        lines += ["| threshold | precision | recall | F1 | false pos. | " + " | ".join(kinds) + " |"]
        lines += ["|---" * (5 + len(kinds)) + "|"]
        for thr, r in rows.items():
            mark = " **(best F1)**" if thr == best else ""
            lines.append(
                f"| {thr:.2f}{mark} | {fmt(r['precision'])} | {fmt(r['recall'])} | {r['f1']:.3f} | {r['fp']} | "
                + " | ".join(fmt(r["flagged_by_kind"][k]) for k in kinds)
                + " |"
            )
        pre = Precomputed(model, [texts[i]["text"] for i in ids], vecs)
        pools = [asyncio.run(pool_dedup(texts, pre, t)) for t in POOL_THRESHOLDS]
        result["models"][model]["pool"] = pools
        lines += [
            "",
            f"Whole pool ({len(ids)} records, {len(ids) - len(texts) // 6} should go) through FaissDedupFilter:",
            "",
            "| threshold | dropped | into own family (precision) | recall of copies | families left with one | emptied |",
            "|---|---|---|---|---|---|",
        ]
        for r in pools:
            lines.append(
                f"| {r['threshold']:.2f} | {r['dropped']} | {r['drops_into_right_family']} ({fmt(r['drop_precision'])}) "
                f"| {fmt(r['drop_recall'])} | {r['families_fully_collapsed']} of {r['families']} | {r['families_emptied']} |"
            )

    from datasketch import MinHash

    sets = {i: shingles(texts[i]["text"], 5) for i in ids}
    mhs = dict(zip(ids, MinHash.bulk([sets[i] for i in ids], num_perm=128, seed=1), strict=True))
    jac = np.array([mhs[p["a"]].jaccard(mhs[p["b"]]) for p in pairs])
    mh_rows = {}
    lines += [
        "",
        "## MinHash (datasketch, 128 permutations, word 5-grams), estimated Jaccard ≥ threshold",
        "",
    ]
    lines += [
        "| threshold | precision | recall | F1 | false pos. | " + " | ".join(kinds) + " |",
        "|---" * (5 + len(kinds)) + "|",
    ]
    for thr in MINHASH_THRESHOLDS:
        pred = jac >= thr
        by_kind = {k: float(pred[[p["kind"] == k for p in pairs]].mean()) for k in kinds}
        mh_rows[thr] = {**prf(pred, gold), "flagged_by_kind": by_kind}
        r = mh_rows[thr]
        lines.append(
            f"| {thr:.2f} | {fmt(r['precision'])} | {fmt(r['recall'])} | {r['f1']:.3f} | {r['fp']} | "
            + " | ".join(fmt(by_kind[k]) for k in kinds)
            + " |"
        )
    result["minhash"] = mh_rows
    lines += ["", "Columns after 'false pos.': the share of pairs of that kind flagged as duplicates."]
    report = "\n".join(lines) + "\n"
    print(report)
    write_results("neardup_eval", report, result)


if __name__ == "__main__":
    main()
