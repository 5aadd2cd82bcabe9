"""Case-card gates: precision and recall per reason on labelled junk cards, and false rejects of good cards.

Junk: benchmarks/data/case_gates_labelled.jsonl, every card the embedded model (SmolLM2-135M-Instruct, vLLM CPU)
wrote in one synthesis run of 32 items (seed 7, the demo's teacher settings), kept or quarantined, each labelled
by reading it with the codes that apply (`labels`) and a note. The labels were written from the cards, not
copied from the gates' output. Good: the 64 shipped seed cards and the cards `synth cases import` makes from
the public samples (../shared/samples: AgentClinic, MediQ iMedQA with non-diagnostic questions allowed,
CRAFT-MD, and the same MediQ records in the MedQA shape) — every gate hit on one of them is a false reject.

Per reason: precision = cards the gate flags with the reason and labelled with it / cards flagged with it
(good cards count as unlabelled); recall = labelled cards it flags / labelled cards. Card level: junk cards
rejected (any reason) and good cards rejected.

    python benchmarks/case_gates.py                      # measure (prints Markdown, writes benchmarks/results/)
    python benchmarks/case_gates.py collect RUN.yaml OUT.jsonl
        # replay a finished run's case synthesis through its request cache (no model is loaded) and write every
        # card the teacher produced, quarantined ones included, for labelling
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas.case import CaseCard  # noqa: E402
from synth.cases.gates import CODES, gate_card  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "case_gates_labelled.jsonl"
SAMPLES = ROOT.parent / "shared" / "samples"


def good_cards() -> list[tuple[str, CaseCard]]:
    from synth.cases.seeds import load_seed_cases

    out = [(f"seed {c.source.source_id}", c) for c in load_seed_cases()]
    imports = [
        ("agentclinic_osce_sample.jsonl", "agentclinic"),
        ("mediq_imedqa_sample.jsonl", "mediq"),
        ("mediq_craftmd_sample.jsonl", "mediq"),
    ]
    for name, fmt in imports:
        path = SAMPLES / name
        if not path.exists():
            print(f"warning: {path} missing: its cards are not in the good set", file=sys.stderr)
            continue
        out += [(f"{name}:{c.source.source_id}", c) for c in _import(path, fmt)]
    with tempfile.TemporaryDirectory() as tmp:  # the MedQA shape of the same MediQ records
        rows = []
        for name in ("mediq_imedqa_sample.jsonl", "mediq_craftmd_sample.jsonl"):
            if (SAMPLES / name).exists():
                rows += [json.loads(x) for x in (SAMPLES / name).read_text().splitlines() if x.strip()]
        if rows:
            medqa = Path(tmp) / "medqa.jsonl"
            medqa.write_text("\n".join(json.dumps(_as_medqa(r)) for r in rows) + "\n")
            out += [(f"medqa shape:{c.source.source_id}", c) for c in _import(medqa, "medqa")]
    return out


def _import(path: Path, fmt: str) -> list[CaseCard]:
    """Cards as the importer maps them, before its gates: a good card the gates would skip must show here."""
    from synth.cases.importers import _MAPPERS, iter_raw

    cards = []
    for n, rec in iter_raw(path):
        try:
            cards.append(_MAPPERS[fmt](rec, str(n), True))
        except Exception as e:  # a record the mapper refuses is not a card at all
            print(f"{path.name}:{n}: not mapped: {e}", file=sys.stderr)
    return cards


def _as_medqa(rec: dict[str, Any]) -> dict[str, Any]:
    vignette = " ".join(s if s.rstrip().endswith((".", "?", "!")) else s + "." for s in rec["context"])
    return {
        **{k: rec[k] for k in ("options", "answer_idx", "answer")},
        "question": f"{vignette} {rec['question']}",
    }


def measure(rows: list[dict[str, Any]], good: list[tuple[str, CaseCard]]) -> dict[str, Any]:
    flagged: Counter[str] = Counter()
    true_pos: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    misses: list[str] = []
    extra: list[str] = []
    junk_rejected = 0
    for row in rows:
        card = CaseCard.model_validate(row["card"])
        got = {p.code for p in gate_card(card)}
        want = set(row["labels"])
        junk_rejected += bool(got)
        for code in got:
            flagged[code] += 1
            true_pos[code] += code in want
        for code in want:
            labelled[code] += 1
        misses += [f"{row['item_id']}: {c}" for c in sorted(want - got)]
        extra += [f"{row['item_id']}: {c}" for c in sorted(got - want)]
    false_rejects = []
    for where, card in good:
        problems = gate_card(card)
        for p in problems:
            flagged[p.code] += 1
        if problems:
            false_rejects.append(f"{where}: {'; '.join(str(p) for p in problems)}")
    per_reason = {
        code: {
            "labelled": labelled[code],
            "flagged": flagged[code],
            "precision": round(true_pos[code] / flagged[code], 3) if flagged[code] else None,
            "recall": round(true_pos[code] / labelled[code], 3) if labelled[code] else None,
        }
        for code in CODES
    }
    return {
        "junk": len(rows),
        "junk_rejected": junk_rejected,
        "good": len(good),
        "good_rejected": len(false_rejects),
        "per_reason": per_reason,
        "false_rejects": false_rejects,
        "missed_labels": misses,
        "unlabelled_flags": extra,
    }


def report(res: dict[str, Any]) -> str:
    lines = [
        f"junk cards rejected: {res['junk_rejected']}/{res['junk']}; "
        f"good cards rejected: {res['good_rejected']}/{res['good']}",
        "",
        "| reason | labelled | flagged | precision | recall |",
        "|---|---|---|---|---|",
    ]
    for code, r in res["per_reason"].items():
        p = "—" if r["precision"] is None else f"{100 * r['precision']:.1f}%"
        rc = "—" if r["recall"] is None else f"{100 * r['recall']:.1f}%"
        lines.append(f"| `{code}` | {r['labelled']} | {r['flagged']} | {p} | {rc} |")
    for title, key in (("False rejects", "false_rejects"), ("Missed", "missed_labels"),
                       ("Flagged, not labelled", "unlabelled_flags")):  # fmt: skip
        lines += ["", f"{title}: {len(res[key])}"] + [f"- {x}" for x in res[key]]
    return "\n".join(lines) + "\n"


async def collect(config: Path, out: Path) -> int:
    """Every card a finished run's synthesis produced, replayed from its request cache (nothing is generated)."""
    from synth.cases.synthesize import CaseDraft, CaseSynthesisJob, draft_to_card
    from synth.config import load_config
    from synth.teachers.cache import RequestCache
    from synth.teachers.registry import build_backend
    from synth.teachers.teacher import Teacher

    cfg = load_config(config)
    assert cfg.cases is not None and cfg.cases.synthesize is not None, (
        f"{config}: no cases.synthesize section"
    )
    scfg = cfg.cases.synthesize
    job = CaseSynthesisJob(scfg, cfg.run.seed)
    tcfg = cfg.teachers[scfg.teacher]

    class CacheOnly:
        """The teacher's backend name and model (the cache key), answering only from the cache."""

        def __init__(self) -> None:
            real = build_backend(tcfg)  # constructing a backend loads nothing; only generate would
            self.kind, self.model = real.kind, real.model

        async def generate(self, request: Any) -> Any:
            raise LookupError("not in the request cache")

        async def aclose(self) -> None:
            return None

    cache = RequestCache(cfg.run.output / "cache.sqlite")
    teacher = Teacher(scfg.teacher, CacheOnly(), cache=cache, params=tcfg.params, max_reasks=tcfg.max_reasks)  # type: ignore[arg-type]
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for item in job.items():
            spec = job.sampler.spec(item.payload)
            params = job._params(teacher, item)
            try:
                c = await teacher.complete(job._messages(spec), params, CaseDraft, tag=job.template.tag)
            except Exception as e:  # truncated or never answered: no card to label
                print(f"{item.id}: no card ({type(e).__name__}: {e})", file=sys.stderr)
                continue
            assert isinstance(c.parsed, CaseDraft)
            card = draft_to_card(c.parsed, spec)
            row = {"item_id": item.id, "card": card.model_dump(mode="json", exclude={"provenance"})}
            f.write(json.dumps(row) + "\n")
            n += 1
    cache.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    c = sub.add_parser("collect")
    c.add_argument("config", type=Path)
    c.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    if args.cmd == "collect":
        print(f"{asyncio.run(collect(args.config, args.out))} cards -> {args.out}")
        return
    rows = [json.loads(x) for x in args.data.read_text().splitlines() if x.strip()]
    res = measure(rows, good_cards())
    text = report(res)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "case_gates.md").write_text(text)
    (args.out / "case_gates.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
