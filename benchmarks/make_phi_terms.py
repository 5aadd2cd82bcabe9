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

A third part, `build_fresh()` (phi_terms_heldout2), was defined later, before the wider vocabulary of the
filter was fitted, from sources neither the filter's vocabulary nor the earlier parts use: the public sample
cases (`../shared/samples`, read there each time the part is measured and never written into the repository:
`benchmarks/phi_accuracy.py --fresh` builds it in memory; MediQ options and answers, AgentClinic diagnoses,
symptoms and test names, and their clinical sentences as a clean class of their own) and the cards of the
case-gate benchmark (benchmarks/data/case_gates_*.jsonl: diagnoses, differentials, aliases, exam and test
names); any term already in the earlier parts is left out. Its frames are new ("Plan: X then Y.", "History of
X.", "Impression: X; Y less likely.", a patient's "I was told it might be X.", "Findings: X." title-cased,
"X ruled out."), and it adds names in the same frames with a cue (half of their first names also ICD-10-CM
words: "seen by Candida Jones"), so damage and recall are measured together. It is measured once.

Run from the repository root: python benchmarks/make_phi_terms.py   (deterministic; rewrites the two files)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
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


SAMPLES = ROOT.parent / "shared" / "samples"
FRESH_FRAMES = {
    "plan": "Plan: {x} then {y}.",
    "history-of": "History of {l}.",
    "impression": "Impression: {x}; {l2} less likely.",
    "patient-said": "Patient: The other doctor said it might be {l}.",
    "findings-title": "Findings: {t}.",
    "ruled-out": "{x} ruled out.",
}
# Names in the same frames, each with a cue a reader would go on (a role phrase, a title, a verb of saying).
NAME_FRAMES = [
    "History of {l}, seen by {n}.",
    "Plan: {x} then review with {n}.",
    "Impression: {x}; as {n} noted, {l2} less likely.",
    "Findings: {t}, reported by {n}.",
    "Mr {n} was told it might be {l}.",
    "Patient: My GP, {n}, said it might be {l}.",
]


def _low(term: str) -> str:
    """The term as it reads mid-sentence: lower-case first letter unless it is an acronym or a name."""
    first = term.split()[0] if term.split() else term
    return term if first.isupper() or first[1:] != first[1:].lower() else term[:1].lower() + term[1:]


def _fresh_terms() -> dict[str, set[str]]:
    """Terms of the public samples and of the case-gate cards (sources the filter and older parts never used)."""
    out: dict[str, set[str]] = {"samples": set(), "case-gates": set()}
    sentences: set[str] = set()
    for path in sorted(SAMPLES.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if "options" in r:  # MediQ
                out["samples"].update([*r["options"].values(), r.get("answer", "")])
                sentences.update([*r.get("context", []), r.get("question", "")])
            osce = r.get("OSCE_Examination")
            if osce:
                out["samples"].add(osce.get("Correct_Diagnosis", ""))
                actor = osce.get("Patient_Actor", {})
                sym = actor.get("Symptoms", {})
                out["samples"].update([sym.get("Primary_Symptom", ""), *sym.get("Secondary_Symptoms", [])])
                sentences.update(v for k, v in actor.items() if isinstance(v, str))

                def keys(v: Any) -> None:
                    if isinstance(v, dict):
                        for k, x in v.items():
                            out["samples"].add(k.replace("_", " "))
                            keys(x)

                keys(osce.get("Physical_Examination_Findings", {}))
                keys(osce.get("Test_Results", {}))
    for path in sorted(DATA.glob("case_gates_*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            c = json.loads(line)["card"]
            a = c.get("answer", {})
            out["case-gates"].update([a.get("diagnosis", ""), *a.get("aliases", [])])
            out["case-gates"].update(d.get("diagnosis", "") for d in a.get("differential", []))
            out["case-gates"].update(x.get("name", "") for x in [*c.get("exam", []), *c.get("tests", [])])
    seen = {t.lower() for v in _terms().values() for t in v}
    terms = {k: {t.strip() for t in v if t.strip() and len(t) <= 80 and t.strip().lower() not in seen}
             for k, v in out.items()}  # fmt: skip
    split = (s.strip() for t in sentences for s in re.split(r"(?<=[.!?])\s+", t))
    terms["sentences"] = {s for s in split if 25 <= len(s) <= 220}
    return terms


def _fresh_names(rng: random.Random, n: int) -> list[str]:
    """Faker first and last names; half of the first names are also words of the ICD-10-CM descriptions."""
    import faker.providers.person.en_GB as gb
    import faker.providers.person.en_US as us

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd
    icd_words = {
        w for c in icd.get_all_codes(False) for w in re.findall(r"[a-z]+", icd.get_description(c).lower())
    }
    firsts = sorted({f for p in (us.Provider, gb.Provider) for f in p.first_names if f.isalpha()})
    lasts = sorted({f for p in (us.Provider, gb.Provider) for f in p.last_names if f.isalpha()})
    medical = [f for f in firsts if f.lower() in icd_words]
    return [f"{rng.choice(medical if i % 2 else firsts)} {rng.choice(lasts)}" for i in range(n)]


def build_fresh() -> list[dict[str, Any]]:
    rng = random.Random(3301)
    rows: list[dict[str, Any]] = []
    pools = {k: sorted(v) for k, v in _fresh_terms().items()}
    for src in ("samples", "case-gates"):
        pool = pools[src]
        for i, term in enumerate(pool):
            y = rng.choice(pool)
            for frame, fmt in FRESH_FRAMES.items():
                text = fmt.format(x=_cap(term), y=_low(y), l=_low(term), l2=_low(y), t=_title(term))
                rows.append({"id": f"term-heldout2-{src}-{i:04d}-{frame}", "text": text, "spans": [],
                             "class": f"term {frame}", "source": src})  # fmt: skip
    for i, sent in enumerate(pools["sentences"]):
        rows.append({"id": f"sample-sentence-{i:04d}", "text": sent, "spans": [], "class": "sample sentence"})
    terms = pools["samples"] + pools["case-gates"]
    for i, name in enumerate(_fresh_names(rng, 240)):
        term, y = rng.choice(terms), rng.choice(terms)
        fmt = NAME_FRAMES[i % len(NAME_FRAMES)]
        text = fmt.format(x=_cap(term), l=_low(term), l2=_low(y), t=_title(term), n=name)
        start = text.index(name)
        rows.append({"id": f"name-heldout2-{i:04d}", "text": text, "class": "name in a term frame",
                     "spans": [{"start": start, "end": start + len(name), "kind": "name"}]})  # fmt: skip
    return rows


def _write(name: str, rows: list[dict[str, Any]]) -> None:
    path = DATA / f"phi_terms_{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{path.name}: {len(rows)} rows")


def main() -> None:
    for part in (0, 1):
        _write(("dev", "heldout")[part], build(part))


if __name__ == "__main__":
    main()
