"""Client throughput: how many chat requests per second each client can drive, and what each costs in CPU.

The OpenAI-compatible stub (tests/servers/openai_stub.py) runs in its own process, pinned to one core, answering
every request after a fixed latency (100 ms) — a stand-in for a fast inference server. Each client runs in its own
process, pinned to another core, and sends the same N chat requests with a pydantic response schema at a fixed
concurrency. Per client and concurrency we report requests/s, client CPU ms per request (getrusage of the client
process, all threads, timed section only), peak RSS, and the server's CPU share (to show it is not the limit).

Clients:
  engine-backend   OpenAIBackend, aiohttp transport (the engine's default)
  engine-teacher   Teacher(OpenAIBackend) without the request cache: adds request building + pydantic validation
  engine-cached    the same Teacher writing every answer to a fresh SQLite request cache
  engine-sdk       OpenAIBackend, transport="sdk"
  bare-sdk         a plain openai.AsyncOpenAI loop
  bare-aiohttp     a plain aiohttp loop posting the same JSON (the ceiling)

Run from the repository root:  python benchmarks/client_throughput.py [--requests 2000] [--concurrency 64,256,512]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout: make `synth` and `tests` importable
    sys.path.insert(0, str(ROOT))

from pydantic import BaseModel, Field  # noqa: E402

from benchmarks._procs import pin, proc_cpu_s, start_stub, write_results  # noqa: E402

CLIENTS = ["engine-backend", "engine-teacher", "engine-cached", "engine-sdk", "bare-sdk", "bare-aiohttp"]
MODEL = "stub-model"
MAX_TOKENS = 256


class DifferentialItem(BaseModel):
    diagnosis: str = Field(min_length=3, max_length=80)
    probability: float = Field(ge=0.0, le=1.0)


class DoctorTurn(BaseModel):
    """The shape of a doctor turn in a consultation: private reasoning, a DDx snapshot, the next act."""

    reasoning: str = Field(min_length=10, max_length=2000)
    differential: list[DifferentialItem] = Field(min_length=1, max_length=8)
    act: Literal["ask", "request_test", "final_diagnosis"]
    text: str = Field(min_length=1, max_length=500)


def messages_for(i: int) -> list[dict[str, str]]:
    age = 18 + i % 70
    return [
        {
            "role": "system",
            "content": "You are a careful physician taking a history. Think privately, keep a ranked differential, "
            "then ask one question, request one test, or commit to a final diagnosis. Answer in JSON.",
        },
        {
            "role": "user",
            "content": f"Case {i}: a {age}-year-old presents with fever for {1 + i % 9} days, a dry cough and "
            f"{'pleuritic chest pain' if i % 2 else 'night sweats'}. Vital signs: temperature {37 + i % 3}.{i % 10} C, "
            f"heart rate {80 + i % 40}/min. What is your next step?",
        },
    ]


# -- one client configuration, in its own process -------------------------------------------------------------


async def _run_client(client: str, url: str, n: int, concurrency: int) -> dict[str, Any]:
    from synth.teachers.base import SamplingParams
    from synth.teachers.config import OpenAITeacherConfig
    from synth.teachers.openai_backend import OpenAIBackend

    schema = DoctorTurn.model_json_schema()
    params = SamplingParams(temperature=0.7, max_tokens=MAX_TOKENS, seed=0)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "DoctorTurn", "schema": schema, "strict": True},
    }
    all_messages = [messages_for(i) for i in range(n)]
    sem = asyncio.Semaphore(concurrency)
    close: Any
    errors = 0

    def cfg(transport: str) -> OpenAITeacherConfig:
        return OpenAITeacherConfig(
            backend="openai",
            model=MODEL,
            base_url=url,
            api_key_env=None,
            max_concurrency=concurrency,
            transport=transport,  # type: ignore[arg-type]
        )

    if client in ("engine-backend", "engine-sdk"):
        from synth.teachers.base import Request

        backend = OpenAIBackend(cfg("sdk" if client == "engine-sdk" else "aiohttp"))
        close = backend.aclose

        async def one(msgs: list[dict[str, str]]) -> None:
            req = Request(messages=tuple(msgs), params=params, json_schema=schema, schema_name="DoctorTurn")
            await backend.generate(req)

    elif client in ("engine-teacher", "engine-cached"):
        from synth.teachers.cache import RequestCache
        from synth.teachers.teacher import Teacher

        cache = RequestCache(Path(tempfile.mkdtemp()) / "cache.sqlite") if client == "engine-cached" else None
        teacher = Teacher("bench", OpenAIBackend(cfg("aiohttp")), cache=cache, params=params)

        async def close() -> None:
            await teacher.aclose()
            if cache is not None:
                cache.close()

        async def one(msgs: list[dict[str, str]]) -> None:
            out = await teacher.complete(msgs, response_format=DoctorTurn)
            assert isinstance(out.parsed, DoctorTurn)

    elif client == "bare-sdk":
        import openai

        sdk = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=2, timeout=600.0)
        close = sdk.close

        async def one(msgs: list[dict[str, str]]) -> None:
            async with sem:
                await sdk.chat.completions.create(
                    model=MODEL,
                    messages=msgs,  # type: ignore[arg-type]
                    temperature=0.7,
                    top_p=1.0,
                    max_tokens=MAX_TOKENS,
                    seed=0,
                    response_format=response_format,  # type: ignore[arg-type]
                )

    elif client == "bare-aiohttp":
        import aiohttp

        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        close = http.close
        endpoint = url.rstrip("/") + "/chat/completions"

        async def one(msgs: list[dict[str, str]]) -> None:
            body = {
                "model": MODEL,
                "messages": msgs,
                "temperature": 0.7,
                "top_p": 1.0,
                "max_tokens": MAX_TOKENS,
                "seed": 0,
                "response_format": response_format,
            }
            async with sem, http.post(endpoint, json=body) as resp:
                resp.raise_for_status()
                data = await resp.json()
                data["choices"][0]["message"]["content"]

    else:
        raise SystemExit(f"unknown client {client!r}; known: {', '.join(CLIENTS)}")

    async def guarded(msgs: list[dict[str, str]]) -> None:
        nonlocal errors
        try:
            await one(msgs)
        except Exception as exc:
            errors += 1
            if errors <= 3:
                print(f"{client}: {type(exc).__name__}: {exc}", file=sys.stderr)

    # One-off set-up (imports, clients) stays outside the timed section, as the bare loops build theirs above.
    if client in ("engine-backend", "engine-sdk"):
        await backend.start()
    elif client in ("engine-teacher", "engine-cached"):
        await teacher.backend.start()  # type: ignore[attr-defined]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    await asyncio.gather(*(guarded(m) for m in all_messages))
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    await close()
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "client": client,
        "concurrency": concurrency,
        "requests": n,
        "errors": errors,
        "wall_s": wall,
        "rps": n / wall,
        "cpu_ms_per_req": 1000 * cpu / n,
        "peak_rss_mib": ru1.ru_maxrss / 1024,
    }


# -- the orchestrator ------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", default="64,256,512")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument(
        "--repeat", type=int, default=1, help="run the whole matrix N times; keep each cell's best"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one client configuration
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        result = asyncio.run(_run_client(args.worker, args.url, args.requests, int(args.concurrency)))
        print(json.dumps(result))
        return

    server, url, client_core = start_stub(args.latency_ms)
    rows: list[dict[str, Any]] = []
    try:
        # Low concurrency first: each client's first pass fills the server's answer cache while load is lightest.
        # Repeats interleave whole passes, so a burst of outside load hits one pass, not one client.
        cells = [(int(c), client) for c in args.concurrency.split(",") for client in args.clients.split(",")]
        for _, (conc, client) in itertools.product(range(args.repeat), cells):
            cpu0 = proc_cpu_s(server.pid)
            sizes = ["--requests", str(args.requests), "--concurrency", str(conc)]
            worker = subprocess.Popen(
                [sys.executable, __file__, "--worker", client, "--url", url, *sizes],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=(lambda: pin(0, client_core)) if client_core is not None else None,
            )
            out, _ = worker.communicate(timeout=600)
            assert worker.returncode == 0, f"{client} at {conc} failed"
            row = json.loads(out.strip().splitlines()[-1])
            row["server_cpu_pct"] = 100 * (proc_cpu_s(server.pid) - cpu0) / row["wall_s"]
            rows.append(row)
            print(
                f"{client:>15} c={conc:<4} {row['rps']:7.0f} req/s  {row['cpu_ms_per_req']:.2f} ms CPU/req  "
                f"{row['peak_rss_mib']:.0f} MiB  server {row['server_cpu_pct']:.0f}%  errors {row['errors']}",
                flush=True,
            )
    finally:
        server.kill()
        server.wait()

    best: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["client"], row["concurrency"])
        if key not in best or row["rps"] > best[key]["rps"]:
            best[key] = row
    rows = sorted(best.values(), key=lambda r: (r["concurrency"], CLIENTS.index(r["client"])))
    table = render(rows, args)
    print("\n" + table)
    write_results("client_throughput", table, rows, args.out)


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    ceiling = {r["concurrency"]: r["rps"] for r in rows if r["client"] == "bare-aiohttp"}
    lines = [
        f"{args.requests} chat requests with a json_schema response format per cell; stub server latency "
        f"{args.latency_ms:.0f} ms; server and client pinned to separate cores; Python {sys.version.split()[0]}.",
        "",
        "| client | concurrency | req/s | × ceiling | client CPU ms/req | peak RSS MiB | server CPU % | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r["rps"] / ceiling[r["concurrency"]] if r["concurrency"] in ceiling else float("nan")
        lines.append(
            f"| {r['client']} | {r['concurrency']} | {r['rps']:.0f} | {ratio:.2f} | {r['cpu_ms_per_req']:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {r['server_cpu_pct']:.0f} | {r['errors']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
