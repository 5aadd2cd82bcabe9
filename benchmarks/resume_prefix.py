"""Resume start-up with N items done, with and without the finished prefix (Job.stream_key).

Builds a run state of N done case-synthesis items (`RunState.commit_shard`, 1,000 items a shard, the ids the
job itself draws), then resumes the job over it three times, each in a fresh process: the first resume finds no
prefix (a state written before prefixes existed, or after an interrupted run) and looks every item up, then
records the prefix as it ends; the next two start the stream past it. A scripted backend stands in for the
teacher (a resume sends nothing; the teacher check is not part of what is timed). Per resume: `Runner.run`
seconds, seconds since the process started (after the interpreter), peak RSS, requests sent (must be 0).

Run from the repository root:  python benchmarks/resume_prefix.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_START = time.monotonic()
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 7


def _config(out: Path, n: int):  # type: ignore[no-untyped-def]
    from synth.config import RunConfig

    return RunConfig.model_validate(
        {
            "run": {"output": str(out), "seed": SEED, "concurrency": 256},
            "teachers": {"default": {"backend": "local"}},
            "cases": {"synthesize": {"n": n}},
        }
    )


def build(out: Path, n: int) -> float:
    from synth.runner import build_jobs
    from synth.store.state import RunState

    (job,) = build_jobs(_config(out, n))
    st = RunState(out / "state.sqlite")
    t = time.perf_counter()
    batch: list[tuple[str, str]] = []
    for seq, item in enumerate(job.items()):
        batch.append((job.name, item.id))
        if len(batch) == 1000:
            st.commit_shard(job.table, f"bench-{seq // 1000:06d}", 1000, 0, batch)
            batch = []
    if batch:
        st.commit_shard(job.table, "bench-last", len(batch), 0, batch)
    st.close()
    return time.perf_counter() - t


def resume(out: Path, n: int) -> dict[str, float | int]:
    import asyncio
    import resource

    from synth.progress import LogDisplay
    from synth.runner import Runner, build_jobs
    from tests.fakes import ScriptedBackend, good_case_draft

    cfg = _config(out, n)
    backend = ScriptedBackend(good_case_draft)
    runner = Runner(
        cfg, backends={"default": backend}, argv=["bench"], display=LogDisplay(every_s=60, stream=sys.stderr)
    )
    t = time.monotonic()
    res = asyncio.run(runner.run(build_jobs(cfg)))
    end = time.monotonic()
    return {
        "runner_run_s": end - t,
        "since_start_s": end - T_START,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sent": len(backend.calls),
        "skipped": res.jobs[0].skipped,
        "done": res.jobs[0].done,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--resume-in", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.resume_in:
        print(json.dumps(resume(args.resume_in, args.n)))
        return
    with tempfile.TemporaryDirectory(prefix="resume-prefix-") as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        print(f"state of {args.n:,} done items built in {build(out, args.n):.1f} s")
        for label in ("no prefix yet (looks every item up)", "past the prefix", "past the prefix"):
            cmd = [sys.executable, __file__, "--n", str(args.n), "--resume-in", str(out)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            print(
                f"resume, {label}: Runner.run {r['runner_run_s']:.2f} s, since start {r['since_start_s']:.2f} s, "
                f"peak RSS {r['peak_rss_mib']:.0f} MiB, sent {r['sent']}, skipped {r['skipped']:,}"
            )


if __name__ == "__main__":
    main()
