"""`synth view` at scale: the viewer for N synthetic consultations (default 100k), wall time and peak RSS.

The run is generated in-process (no teacher): `--cases` case cards over 10 specialties, and N consultations of
`--turns` turns each (doctor turns with reasoning and a 3-5 entry differential, patient answers, a test and
its result, a final diagnosis right about two times in three, a per-turn evaluation), written as shards of
5,000 records through the run's own ShardWriter so the generator never holds the corpus either. The viewer is
then built in a child process, so its peak RSS (ru_maxrss of that process) is the viewer's alone.

Run from the repository root:
    python benchmarks/viewer_scale.py [--n 100000] [--cases 2000] [--turns 9] [--keep DIR] [--browser]
--browser also opens the index in headless Chromium (as tests/test_view_browser.py) and times it.
Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._procs import write_results

SPECIALTIES = ["cardiology", "gastroenterology", "neurology", "pulmonology", "endocrinology",
               "infectious_disease", "nephrology", "rheumatology", "dermatology", "hematology"]  # fmt: skip
DIAGNOSES = ["acute appendicitis", "pneumonia", "migraine", "type 2 diabetes", "gout", "cellulitis",
             "pulmonary embolism", "iron deficiency anaemia", "pyelonephritis", "asthma", "cholecystitis",
             "atrial fibrillation", "hypothyroidism", "meningitis", "psoriasis"]  # fmt: skip


def make_case(i: int, rng: random.Random):  # type: ignore[no-untyped-def]
    from schemas import Answer, CaseCard, CaseSource, Demographics, Fact, Finding

    dx = DIAGNOSES[i % len(DIAGNOSES)]
    return CaseCard(
        specialty=SPECIALTIES[i % len(SPECIALTIES)],
        demographics=Demographics(age_years=20 + i % 60, sex="female" if i % 2 else "male"),
        opening_statement=f"I have not felt right for {1 + i % 9} days (case {i}).",
        facts=[Fact(id=f"f{k}", text=f"finding {k} of case {i}", lay_text=f"symptom {k}", key=k < 2)
               for k in range(5)],
        tests=[Finding(name="Complete blood count", result=f"WBC {rng.uniform(4, 18):.1f}")],
        answer=Answer(diagnosis=dx, aliases=[dx.split()[-1]]),
        source=CaseSource(dataset="benchmark", source_id=str(i)),
    )  # fmt: skip


def make_consultation(j: int, card, turns: int, rng: random.Random):  # type: ignore[no-untyped-def]
    from schemas import Consultation, DDxItem, Evaluation, FinalDiagnosis, Termination, Turn, TurnScore

    truth = card.answer.diagnosis
    others = rng.sample([d for d in DIAGNOSES if d != truth], 4)
    correct = rng.random() < 0.66
    out = [Turn(index=0, speaker="patient", act="answer", text=card.opening_statement)]
    scores = []
    d_no = 0
    while len(out) < turns - 1:
        d_no += 1
        p = min(0.9, 0.1 + 0.12 * d_no) if correct else max(0.05, 0.4 - 0.08 * d_no)
        names = [truth, *others[: rng.randint(2, 4)]]
        rest = (1 - p) / len(names)
        ddx = sorted([DDxItem(diagnosis=truth, probability=round(p, 2))]
                     + [DDxItem(diagnosis=n, probability=round(rest, 2)) for n in names[1:]],
                     key=lambda d: -d.probability)  # fmt: skip
        test = d_no == 1
        out.append(Turn(index=len(out), speaker="doctor", act="request_test" if test else "ask",
                        text="CBC please" if test else f"Question {d_no} about the {rng.choice(['pain', 'fever'])}?",
                        reasoning=f"Step {d_no}: weighing {', '.join(names)}. " * 3, ddx=ddx,
                        tests_requested=["Complete blood count"] if test else []))  # fmt: skip
        rank = 1 + [d.diagnosis for d in ddx].index(truth)
        scores.append(TurnScore(turn=len(out) - 1, doctor_turn=d_no, truth_rank=rank, truth_probability=p,
                                leader=ddx[0].diagnosis, leader_is_truth=rank == 1, brier=0.4, log_score=1.0))  # fmt: skip
        if test:
            out.append(Turn(index=len(out), speaker="examiner", act="result", text=card.tests[0].result))
        else:
            out.append(Turn(index=len(out), speaker="patient", act="answer", text=f"symptom {d_no % 5}"))
    final = truth if correct else others[0]
    out.append(Turn(index=len(out), speaker="doctor", act="final_diagnosis", text=final,
                    reasoning="Putting it together.", ddx=[DDxItem(diagnosis=final, probability=0.8)]))  # fmt: skip
    return Consultation(
        case_id=card.id, turns=out, termination=Termination(reason="final_diagnosis", turn=len(out) - 1),
        final=FinalDiagnosis(diagnosis=final, confidence=0.8, name_source="text"),
        evaluation=Evaluation(correct=correct, verdict_stage="lexical", verdict_reason="lexical match" if correct
                              else f"nothing in common with {truth!r}", per_turn=scores, questions_asked=d_no),
        scores={"complexity": round(rng.uniform(1, 10), 2)}, persona=f"persona-{j % 4}", doctor_turns=d_no + 1,
    )  # fmt: skip


def generate(root: Path, n: int, n_cases: int, turns: int, seed: int = 0) -> float:
    from synth.store.shards import ShardWriter

    rng = random.Random(seed)
    started = time.perf_counter()
    cards = [make_case(i, rng) for i in range(n_cases)]
    w = ShardWriter(root, "cases", "bench", 0, max_records=5000, max_bytes=2**30)
    for c in cards:
        w.add("cases", c.id, [c])
    w.write(w.take()[0])
    w = ShardWriter(root, "consultations", "bench", 0, max_records=5000, max_bytes=2**30)
    for j in range(n):
        c = make_consultation(j, cards[j % n_cases], turns, rng)
        w.add("consultations", c.id, [c])
        if w.full():
            w.write(w.take()[0])
    if w.pending_items:
        w.write(w.take()[0])
    return time.perf_counter() - started


CHILD = """
import json, resource, sys, time
from pathlib import Path
from synth.view import build_site
t = time.perf_counter()
res = build_site(Path(sys.argv[1]), Path(sys.argv[2]))
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": res.rows, "pages": res.pages,
                  "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024}))
"""


FILTER_JS = """
const t = performance.now();
for (const [id, v] of arguments[0]) {
  const el = document.getElementById(id); el.value = v; el.dispatchEvent(new Event('change'));
}
return [performance.now() - t, document.getElementById('summary').textContent];
"""


def browse(index: Path) -> dict[str, float | str]:
    """Headless Chromium (the system's, as the browser test): load the index, time its chunks and a filter."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
    try:
        t = time.perf_counter()
        driver.get(index.as_uri())
        WebDriverWait(driver, 600).until(
            ec.text_to_be_present_in_element_attribute((By.ID, "summary"), "data-ready", "1")
        )
        loaded = time.perf_counter() - t
        one, _ = driver.execute_script(FILTER_JS, [["f-kind", "consultation"]])
        two, summary = driver.execute_script(
            FILTER_JS, [["f-correct", "incorrect"], ["f-complexity", "high (>=7)"]]
        )
        heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : 0")
    finally:
        driver.quit()
    return {"browser_load_s": round(loaded, 2), "filter_ms": round(one, 1), "two_filters_ms": round(two, 1),
            "filtered": summary, "js_heap_mb": round(heap / 2**20, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--turns", type=int, default=9)
    ap.add_argument("--keep", type=Path, help="write the run and the site here (default a temp folder)")
    ap.add_argument("--browser", action="store_true", help="also time the index in headless Chromium")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        run, site = base / "run", base / "site"
        gen_s = generate(run, args.n, args.cases, args.turns)
        shards_mb = sum(p.stat().st_size for p in run.rglob("*.parquet")) / 2**20
        out = subprocess.run([sys.executable, "-c", CHILD, str(run), str(site)], check=True,
                             capture_output=True, text=True)  # fmt: skip
        child = json.loads(out.stdout.strip().splitlines()[-1])
        files = list(site.rglob("*"))
        index_mb = sum(p.stat().st_size for p in (site / "index").iterdir()) / 2**20
        site_mb = sum(p.stat().st_size for p in files if p.is_file()) / 2**20
        pages = [p for p in (site / "c").iterdir()]
        raw = {"n": args.n, "cases": args.cases, "turns": args.turns, "generate_s": round(gen_s, 1),
               "shards_mb": round(shards_mb, 1), "view_s": round(child["seconds"], 1),
               "view_cpu_s": round(child["cpu_s"], 1), "load_avg_1m": round(os.getloadavg()[0], 1),
               "peak_rss_mb": round(child["peak_rss_mb"]), "rows": child["rows"], "pages": child["pages"],
               "index_mb": round(index_mb, 1), "index_chunks": len(list((site / "index").glob("chunk-*.js"))),
               "site_mb": round(site_mb, 1), "mean_page_kb": round(sum(p.stat().st_size for p in pages)
                                                                  / len(pages) / 1024, 1),
               "generator_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}  # fmt: skip
        if args.browser:
            raw.update(browse(site / "index.html"))
    rate = raw["rows"] / raw["view_s"] if raw["view_s"] else 0
    report = "\n".join([
        f"# synth view at {args.n:,} consultations",
        "",
        "| records | pages | view wall s | CPU s | records/s (wall) | peak RSS MB | index MB (chunks) | site MB "
        "| page KB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {raw['rows']:,} | {raw['pages']:,} | {raw['view_s']} | {raw['view_cpu_s']} | {rate:,.0f} | "
        f"{raw['peak_rss_mb']} | "
        f"{raw['index_mb']} ({raw['index_chunks']}) | {raw['site_mb']} | {raw['mean_page_kb']} |",
        "",
        f"Input: {raw['shards_mb']} MB of shards, generated in {raw['generate_s']} s; load average "
        f"{raw['load_avg_1m']} at the end (wall time includes waiting for the CPU when the machine is shared).",
    ])  # fmt: skip
    if args.browser:
        report += (
            f"\n\nIn headless Chromium from file://: every index chunk loaded and the first page shown in "
            f"{raw['browser_load_s']} s; a filter over all rows {raw['filter_ms']} ms, two more "
            f"{raw['two_filters_ms']} ms ({raw['filtered']}); JS heap {raw['js_heap_mb']} MB."
        )
    print(report)
    print(f"raw: {write_results('viewer_scale', report, raw)}")


if __name__ == "__main__":
    main()
