"""Build the PHI term sets: capitalised medical terms in the frames generated text uses, with no identifier.

A general NER model reads a capitalised medical word it does not know as a person or a place ("So the best
answer is Intravenous calcium gluconate", "typical of Plasma aldosterone-to-renin ratio", a differential
entry "Decreased Heart"). These sets measure how often the scrubber changes such strings; every row is clean
(no gold span), so any replacement is damage.

Terms come from what ships, not from this script: the seed MCQs' options and answers, the seed cases'
diagnoses, differentials and examination / test names, the verifier benchmark data (options, references,
candidates) and a deterministic sample of ICD-10-CM code descriptions (simple-icd-10-cm). Frames are those
of generated records: the trace sentences of tests/train_corpus.py and the reasoning stage ("So the best
answer is X.", "Looking again, the key findings are typical of X, not Y.", "X is a possibility to weigh."),
a differential list, the term alone as written and the term title-cased (diagnosis names, options, ddx
entries).

The split is by term (a hash of its lower-cased text), so a held-out term never appears in the development
part; the ICD-10-CM samples are disjoint too. At most 250 terms per source and part, each in every frame. The held-out part is measured once, at the end.

Run from the repository root: python benchmarks/make_phi_terms.py   (deterministic; rewrites both files)
"""

from __future__ import annotations

import hashlib
import json
import random
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "datasets" / "seeds"
DATA = ROOT / "benchmarks" / "data"
N_TERMS = 250  # terms per source and part (each in every frame)

FRAMES = {
    "answer": "So the best answer is {x}.",
    "typical-of": "Looking again, the key findings are typical of {x}, not {y}.",
    "weigh": "{x} is a possibility to weigh.",
    "ddx-list": "Differential: {x}, {y}, {z}.",
    "alone": "{x}",
    "title-cased": "{t}",
}


def _terms() -> dict[str, set[str]]:
    """Every term per source, as written."""
    out: dict[str, set[str]] = {"mcq": set(), "case": set(), "verifier": set()}
    for line in (SEEDS / "mcqs" / "medqa_style.jsonl").read_text().splitlines():
        if line.strip():
            q = json.loads(line)
            out["mcq"].update([*q["options"].values(), q["answer"]])
    for path in sorted((SEEDS / "cases").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            c = json.loads(line)
            out["case"].add(c["answer"]["diagnosis"])
            out["case"].update(d["diagnosis"] for d in c["answer"]["differential"])
            out["case"].update(x["name"] for x in [*c.get("exam", []), *c.get("tests", [])])
    for path in sorted(DATA.glob("verifier_*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            out["verifier"].update(v for v in r.get("options", {}).values())
            out["verifier"].update(r[k] for k in ("reference", "candidate") if isinstance(r.get(k), str))
    return {k: {t.strip() for t in v if t.strip() and len(t) <= 80} for k, v in out.items()}


def _icd(part: int) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd

    descs = sorted({icd.get_description(c) for c in icd.get_all_codes(False)})
    descs = [d for d in descs if len(d) <= 80]
    random.Random(2207).shuffle(descs)
    return descs[part * N_TERMS : (part + 1) * N_TERMS]


def _part(term: str) -> int:
    return hashlib.sha256(term.lower().encode()).digest()[0] % 2


def _title(term: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in term.split())


def _cap(term: str) -> str:
    return term[:1].upper() + term[1:]


def build(part: int) -> list[dict[str, Any]]:
    rng = random.Random(1700 + part)
    name = ("dev", "heldout")[part]
    pools = {}
    for src, terms in _terms().items():
        pool = sorted(t for t in terms if _part(t) == part)
        pools[src] = sorted(rng.sample(pool, min(N_TERMS, len(pool))))
    pools["icd10cm"] = _icd(part)
    rows: list[dict[str, Any]] = []
    for src, pool in pools.items():
        for i, term in enumerate(pool):
            y, z = rng.choice(pool), rng.choice(pool)
            for frame, fmt in FRAMES.items():
                text = fmt.format(x=_cap(term), y=_cap(y), z=_cap(z), t=_title(term))
                rows.append({"id": f"term-{name}-{src}-{i:04d}-{frame}", "text": text, "spans": [],
                             "class": f"term {frame}", "source": src})  # fmt: skip
    return rows


def main() -> None:
    for part in (0, 1):
        rows = build(part)
        path = DATA / f"phi_terms_{('dev', 'heldout')[part]}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"{path.name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
