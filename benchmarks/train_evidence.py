"""Evidence that the train package works, not only that it runs: on CPU, with the embedded SmolLM2-135M.

1. Build a small corpus from the shipped seed cases and MCQs (tests/train_corpus.py: scripted, not written by
   a teacher) and publish it with `synth publish` (75 % train / 25 % test, split by case and problem).
2. SFT the embedded model with configs/train/sft-embedded-cpu.yaml: the loss curve.
3. DPO the SFT model with configs/train/dpo-embedded-cpu.yaml: the loss curve.
4. TTT (configs/train/ttt-embedded-cpu.yaml) on the held-out sft split, for the base model and for the SFT
   model: perplexity with and without, overall, for neighbour-rich queries and for the rest; weights
   checksummed after every query.
All in one process, one after the other; results in benchmarks/results/train_evidence.json and as markdown.

    python benchmarks/train_evidence.py [--out out/evidence] [--sft-steps 30] [--dpo-steps 20] [--queries 14]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

from synth.publish import publish_folder  # noqa: E402
from tests.train_corpus import build_run  # noqa: E402
from train.recipe import load_recipe  # noqa: E402

RECIPES = ROOT / "configs" / "train"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "evidence")
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--mcqs", type=int, default=48)
    ap.add_argument("--sft-steps", type=int, default=30)
    ap.add_argument("--dpo-steps", type=int, default=20)
    ap.add_argument("--queries", type=int, default=14)
    ap.add_argument("--ttt-lr", type=float, default=2e-5)
    ap.add_argument("--ttt-steps", type=int, default=2)
    args = ap.parse_args()
    out = args.out.resolve()
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}

    t = time.perf_counter()
    run = build_run(out / "run", args.cases, args.mcqs)
    pub = out / "published"
    publish_folder([run], pub, {"fractions": (0.75, 0.0, 0.25), "seed": 0})
    results["corpus_s"] = time.perf_counter() - t

    from train.dpo import train_dpo
    from train.sft import train_sft
    from train.ttt import train_ttt

    common = {"data.dataset": str(pub)}
    t = time.perf_counter()
    sft = train_sft(load_recipe(RECIPES / "sft-embedded-cpu.yaml", "sft", {
        **common, "output_dir": str(out / "sft"), "trainer.max_steps": args.sft_steps,
        "trainer.max_length": 512}))  # fmt: skip
    results["sft"] = {**sft, "seconds": time.perf_counter() - t}
    t = time.perf_counter()
    dpo = train_dpo(load_recipe(RECIPES / "dpo-embedded-cpu.yaml", "dpo", {
        **common, "output_dir": str(out / "dpo"), "model.name": str(out / "sft"),
        "trainer.max_steps": args.dpo_steps, "trainer.max_length": 1024}))  # fmt: skip
    results["dpo"] = {**dpo, "seconds": time.perf_counter() - t}
    for name, model in (("base", "embedded"), ("sft", str(out / "sft"))):
        t = time.perf_counter()
        ttt = train_ttt(load_recipe(RECIPES / "ttt-embedded-cpu.yaml", "ttt", {
            "queries.dataset": str(pub), "ttt.index.dataset": str(pub), "output_dir": str(out / f"ttt-{name}"),
            "model.name": model, "queries.limit": args.queries, "ttt.lr": args.ttt_lr,
            "ttt.steps": args.ttt_steps}))  # fmt: skip
        results[f"ttt_{name}"] = {"summary": ttt["summary"], "seconds": time.perf_counter() - t,
                                  "per_query": [{k: q[k] for k in ("id", "nearest_cosine", "ppl_base", "ppl_ttt")}
                                                for q in ttt["queries"]]}  # fmt: skip

    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "train_evidence.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown(results))


def markdown(r: dict) -> str:
    lines = ["| run | rows used | steps | loss, first step | first quarter mean | last quarter mean | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name in ("sft", "dpo"):
        x = r[name]
        loss = x["loss"]
        lines.append(f"| {name} | {x['rows_used']} / {x['rows']} | {x['global_step']} | {loss['first']:.3f} | "
                     f"{loss['first_quarter_mean']:.3f} | {loss['last_quarter_mean']:.3f} | {x['seconds']:.0f} |")  # fmt: skip
    lines += ["", "| model | queries (rich) | ppl all: without / with TTT | neighbour-rich | the others | "
              "queries improved | weights restored | seconds |", "|---|---|---|---|---|---:|---|---:|"]  # fmt: skip
    for name in ("base", "sft"):
        s = r[f"ttt_{name}"]["summary"]
        lines.append(
            f"| {name} | {s['queries']} ({s['neighbour_rich']}) | {s['ppl_base']:.3f} / {s['ppl_ttt']:.3f} | "
            f"{s['ppl_base_rich']:.3f} / {s['ppl_ttt_rich']:.3f} | {s['ppl_base_poor']:.3f} / "
            f"{s['ppl_ttt_poor']:.3f} | {s['queries_improved']}/{s['queries']} | "
            f"{s['weights_restored_every_query']} | {r[f'ttt_{name}']['seconds']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
