"""One cell of benchmarks/peers.py: one tool driving one workload against the stub, in this process; prints JSON.

Runs under the project's virtual environment (the engine) or a peer's own (curator, distilabel, the bare loops),
so only the standard library and pydantic are imported at the top; each tool is imported inside its arm.

Workloads (the same prompts, schemas and turn logic for every tool):
  single  N independent chat requests, each answered into the pydantic `DoctorTurn` schema.
  multi   consultations: a doctor and a patient role, each with its own growing history, every request carrying
          the whole history so far. The doctor answers `DoctorOutput` (ask / request_test / final_diagnosis),
          the patient `PatientReply`. A question goes to the patient, a test request gets a result from a local
          table, a final diagnosis ends the consultation from `MIN_TURNS` doctor turns on, and at `MAX_TURNS` the
          doctor is told to commit. The engine runs its own consultation job (synth/dialogue) through `Runner`;
          the peers run this loop, written as each one's users would.

What is measured, the same way for every tool: a hook on the HTTP layer the tool sends through (aiohttp's
`ClientSession._request` or httpx's `AsyncClient.send`) counts every request put on the wire and marks the first;
start-up CPU is the process's user+sys CPU at that first request (interpreter, imports, set-up), the timed section
runs from the first request to the results in hand, and peak RSS is the process's high-water mark.

    python benchmarks/peers/clients.py --tool aiohttp --workload single --url URL --n 2000 --concurrency 256
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TOOLS = ["engine", "curator", "distilabel", "openai", "aiohttp"]
WORKLOADS = ["single", "multi"]
MODEL = "stub-model"
MAX_TOKENS = 256
MIN_TURNS, MAX_TURNS = 4, 8
ROOT = Path(__file__).resolve().parents[2]

# -- the workloads' schemas and prompts --------------------------------------------------------------------------


class DifferentialItem(BaseModel):
    diagnosis: str = Field(min_length=3, max_length=80)
    probability: float = Field(ge=0.0, le=1.0)


class DoctorTurn(BaseModel):
    """The shape of a doctor turn in a consultation: private reasoning, a DDx snapshot, the next act."""

    reasoning: str = Field(min_length=10, max_length=2000)
    differential: list[DifferentialItem] = Field(min_length=1, max_length=8)
    act: Literal["ask", "request_test", "final_diagnosis"]
    text: str = Field(min_length=1, max_length=500)


class DDxGuess(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diagnosis: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    probability: float = Field(ge=0.0, le=1.0)


class DoctorOutput(BaseModel):
    """One doctor turn. Small and flat so that a 135M model under a JSON grammar can fill it."""

    # The engine's synth.dialogue.agents.DoctorOutput, restated here because a peer's environment cannot import
    # the engine (a test keeps the two schemas identical).
    model_config = ConfigDict(
        extra="forbid", json_schema_extra=lambda s: s.setdefault("required", []).append("diagnosis")
    )

    reasoning: str = Field(min_length=1, max_length=240)
    ddx: list[DDxGuess] = Field(min_length=1, max_length=4)
    action: Literal["ask", "request_test", "final_diagnosis"]
    diagnosis: str = Field(default="", max_length=60)
    text: str = Field(min_length=1, max_length=150)
    confidence: float = Field(ge=0.0, le=1.0)
    plan: str = Field(max_length=150)


class PatientReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=300)


Messages = list[dict[str, str]]


def single_messages(i: int) -> Messages:
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


DOCTOR_SYSTEM = (
    "You are a physician in a consultation. Take a history one question at a time, order tests when they would "
    f"change your differential, and commit to a final diagnosis after at least {MIN_TURNS} and at most "
    f"{MAX_TURNS} turns. Each turn, answer in JSON: your private reasoning, a ranked differential (ddx), the "
    "action (ask, request_test or final_diagnosis), the text said to the patient, your confidence and plan."
)


def opening(i: int) -> str:
    return (
        f"I'm {25 + i % 60} and I've had a fever for {1 + i % 9} days, a dry cough, and "
        f"{'a sharp pain when I breathe in' if i % 2 else 'I wake up drenched at night'}."
    )


def patient_system(i: int) -> str:
    return (
        "You are the patient. Answer the doctor's question in one or two plain sentences, from these facts only: "
        f"fever {1 + i % 9} days; dry cough; {'pleuritic pain' if i % 2 else 'night sweats'}; smoker for "
        f"{i % 30} years; no travel. Never name a diagnosis. Answer in JSON."
    )


Ask = Callable[[Messages, type[BaseModel]], Awaitable[tuple[BaseModel, str]]]


async def consultation(i: int, ask: Ask) -> int:
    """One consultation through `ask(messages, schema) -> (parsed, raw text)`; returns the doctor turns taken.

    The engine's director (synth/dialogue/director.py) restated as a loop of calls: each role's history only
    grows, so every request carries the conversation so far."""
    doctor: Messages = [{"role": "system", "content": DOCTOR_SYSTEM}, {"role": "user", "content": opening(i)}]
    patient: Messages = [
        {"role": "system", "content": patient_system(i)},
        {"role": "user", "content": "What brings you in today?"},
        {"role": "assistant", "content": PatientReply(answer=opening(i)).model_dump_json()},
    ]
    turns = 0
    while True:
        if turns >= MAX_TURNS:
            doctor.append(
                {"role": "user", "content": "That is the last turn: give your final diagnosis now."}
            )
            await ask(doctor, DoctorOutput)
            return turns + 1
        out, raw = await ask(doctor, DoctorOutput)
        assert isinstance(out, DoctorOutput)
        doctor.append({"role": "assistant", "content": raw})
        turns += 1
        if out.action == "final_diagnosis":
            if turns >= MIN_TURNS:
                return turns
            doctor.append({"role": "user", "content": "It is too early to commit: keep taking the history."})
        elif out.action == "ask":
            patient.append({"role": "user", "content": out.text})
            reply, raw = await ask(patient, PatientReply)
            assert isinstance(reply, PatientReply)
            patient.append({"role": "assistant", "content": raw})
            doctor.append({"role": "user", "content": f"Patient: {reply.answer}"})
        else:
            doctor.append({"role": "user", "content": f"Result of {out.text[:60]}: within normal limits."})


def conversations_for(n: int) -> int:
    """Consultations for a target of `n` requests: about 8 requests each (~5 doctor and ~3 patient turns)."""
    return max(1, n // 8)


# -- measuring: a hook on the HTTP layer -------------------------------------------------------------------------


class Meter:
    def __init__(self) -> None:
        self.requests = 0
        self.first: tuple[float, float] | None = None  # (perf_counter, CPU s) at the first request

    def hit(self) -> None:
        self.requests += 1
        if self.first is None:
            self.first = (time.perf_counter(), cpu_s())

    def hook_aiohttp(self) -> None:
        import aiohttp

        orig = aiohttp.ClientSession._request

        async def _request(session: Any, method: str, url: Any, *a: Any, **kw: Any) -> Any:
            if "chat/completions" in str(url):
                self.hit()
            return await orig(session, method, url, *a, **kw)

        aiohttp.ClientSession._request = _request  # type: ignore[method-assign]

    def hook_httpx(self) -> None:
        # The openai SDK sends through httpx, or through its successor httpx2 in recent releases: hook the one
        # this environment's SDK imports (importing the other would add to the start-up being measured).
        import importlib
        import importlib.util

        for name in ("httpx2", "httpx"):
            if importlib.util.find_spec(name) is None:
                continue
            sdk = importlib.util.find_spec("openai")
            base = Path(sdk.origin).parent / "_base_client.py" if sdk and sdk.origin else None
            if base is not None and f"import {name}\n" not in base.read_text():
                continue
            mod = importlib.import_module(name)
            orig = mod.AsyncClient.send

            async def send(client: Any, request: Any, *a: Any, _orig: Any = orig, **kw: Any) -> Any:
                if "chat/completions" in str(request.url):
                    self.hit()
                return await _orig(client, request, *a, **kw)

            mod.AsyncClient.send = send
            return
        raise SystemExit("no httpx or httpx2 to hook: is the openai SDK installed?")


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@functools.cache  # built once per schema, as any client would: pydantic's schema generation is not free
def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True},
    }


async def bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[Any]], errors: list[str]) -> int:
    """Run one(0..n-1) with at most `concurrency` in flight; returns how many succeeded."""
    sem = asyncio.Semaphore(concurrency)
    ok = 0

    async def guarded(i: int) -> None:
        nonlocal ok
        async with sem:
            try:
                await one(i)
                ok += 1
            except Exception as exc:  # a failed item is counted and reported, never hidden
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    await asyncio.gather(*(guarded(i) for i in range(n)))
    return ok


# -- the arms --------------------------------------------------------------------------------------------------


async def run_aiohttp(workload: str, url: str, n: int, c: int, errors: list[str]) -> int:
    import aiohttp

    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c))
    endpoint = url.rstrip("/") + "/chat/completions"

    async def ask(msgs: Messages, schema: type[BaseModel]) -> tuple[BaseModel, str]:
        body = {"model": MODEL, "messages": msgs, "temperature": 0.7, "max_tokens": MAX_TOKENS, "seed": 0}
        body["response_format"] = response_format(schema)
        async with http.post(endpoint, json=body) as resp:
            resp.raise_for_status()
            text = (await resp.json())["choices"][0]["message"]["content"]
        return schema.model_validate_json(text), text

    try:
        return await _drive(workload, n, c, ask, errors)
    finally:
        await http.close()


async def run_openai(workload: str, url: str, n: int, c: int, errors: list[str]) -> int:
    import openai

    sdk = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=2, timeout=600.0)

    async def ask(msgs: Messages, schema: type[BaseModel]) -> tuple[BaseModel, str]:
        out = await sdk.chat.completions.create(
            model=MODEL,
            messages=msgs,  # type: ignore[arg-type]
            temperature=0.7,
            max_tokens=MAX_TOKENS,
            seed=0,
            response_format=response_format(schema),  # type: ignore[arg-type]
        )
        text = out.choices[0].message.content or ""
        return schema.model_validate_json(text), text

    try:
        return await _drive(workload, n, c, ask, errors)
    finally:
        await sdk.close()


async def run_distilabel(workload: str, url: str, n: int, c: int, errors: list[str]) -> int:
    # distilabel's OpenAILLM, awaited as its `agenerate` in a loop: a Pipeline would add its own worker
    # processes, which the one-core rule forbids. The schema goes as OpenAI's json_schema response format
    # through `extra_body`: `structured_output={"schema": ...}` (instructor, tools mode) sends the schema
    # stripped of its constraints (no enum, bounds or lengths), so the answers would not be the same workload.
    from distilabel.models.llms import OpenAILLM

    llm = OpenAILLM(model=MODEL, base_url=url, api_key="not-needed", max_retries=2, timeout=600)
    llm.load()

    async def ask(msgs: Messages, schema: type[BaseModel]) -> tuple[BaseModel, str]:
        out = await llm.agenerate(
            input=msgs,
            max_new_tokens=MAX_TOKENS,
            temperature=0.7,
            extra_body={"response_format": response_format(schema), "seed": 0},
        )
        text = out["generations"][0] or ""
        return schema.model_validate_json(text), text

    return await _drive(workload, n, c, ask, errors)


async def _drive(workload: str, n: int, c: int, ask: Ask, errors: list[str]) -> int:
    if workload == "single":

        async def one(i: int) -> None:
            await ask(single_messages(i), DoctorTurn)

        return await bounded(n, c, one, errors)
    return await bounded(conversations_for(n), c, lambda i: consultation(i, ask), errors)


def run_curator(workload: str, url: str, n: int, c: int, errors: list[str]) -> int:
    """curator's LLM class over a list of rows; the consultation as one batch call per round of turns (its
    documented way to do multi-turn: a loop of calls, each row's history built by `prompt`)."""
    from bespokelabs import curator

    backend_params = {
        "base_url": url,
        "api_key": "not-needed",
        "max_concurrent_requests": c,
        "max_requests_per_minute": 10_000_000,
        "max_tokens_per_minute": 10_000_000_000,
        "max_retries": 2,
        "require_all_responses": False,
    }
    gen = {"temperature": 0.7, "max_tokens": MAX_TOKENS, "seed": 0}

    def llm_for(schema: type[BaseModel]) -> Any:
        class Role(curator.LLM):  # type: ignore[misc,name-defined]
            response_format = schema

            def prompt(self, row: dict[str, Any]) -> Any:
                return json.loads(row["messages"])

            def parse(self, row: dict[str, Any], response: Any) -> dict[str, Any]:
                return {"i": row["i"], "raw": response.model_dump_json()}

        return Role(model_name=MODEL, backend="openai", generation_params=gen, backend_params=backend_params)

    def call(
        llm: Any, rows: list[dict[str, Any]], schema: type[BaseModel]
    ) -> dict[int, tuple[BaseModel, str]]:
        if not rows:
            return {}
        res = llm(rows)
        ds = getattr(res, "dataset", res)  # a CuratorResponse in recent versions, a Dataset before
        got = {int(r["i"]): (schema.model_validate_json(r["raw"]), r["raw"]) for r in ds}
        errors.extend(f"no answer for {r['i']}" for r in rows if int(r["i"]) not in got)
        return got

    if workload == "single":
        rows = [{"i": i, "messages": json.dumps(single_messages(i))} for i in range(n)]
        return len(call(llm_for(DoctorTurn), rows, DoctorTurn))
    return _curator_consultations(conversations_for(n), llm_for(DoctorOutput), llm_for(PatientReply), call)


def _curator_consultations(k: int, doctor_llm: Any, patient_llm: Any, call: Any) -> int:
    """The `consultation` loop in rounds: every open consultation's doctor turn in one call, then every patient
    answer that round needs in another."""
    doctor = {
        i: [{"role": "system", "content": DOCTOR_SYSTEM}, {"role": "user", "content": opening(i)}]
        for i in range(k)
    }
    patient = {
        i: [
            {"role": "system", "content": patient_system(i)},
            {"role": "user", "content": "What brings you in today?"},
            {"role": "assistant", "content": PatientReply(answer=opening(i)).model_dump_json()},
        ]
        for i in range(k)
    }
    turns = dict.fromkeys(range(k), 0)
    open_ids, done = set(range(k)), 0
    while open_ids:
        forced = {i for i in open_ids if turns[i] >= MAX_TURNS}
        for i in forced:
            doctor[i].append(
                {"role": "user", "content": "That is the last turn: give your final diagnosis now."}
            )
        rows = [{"i": i, "messages": json.dumps(doctor[i])} for i in sorted(open_ids)]
        answers = call(doctor_llm, rows, DoctorOutput)
        asked = []
        for i in sorted(open_ids):
            if i not in answers:  # failed: counted as an error by `call`, the consultation stops here
                open_ids.discard(i)
                continue
            out, raw = answers[i]
            if i in forced:
                open_ids.discard(i)
                done += 1
                continue
            doctor[i].append({"role": "assistant", "content": raw})
            turns[i] += 1
            if out.action == "final_diagnosis":
                if turns[i] >= MIN_TURNS:
                    open_ids.discard(i)
                    done += 1
                else:
                    doctor[i].append(
                        {"role": "user", "content": "It is too early to commit: keep taking the history."}
                    )
            elif out.action == "ask":
                patient[i].append({"role": "user", "content": out.text})
                asked.append(i)
            else:
                doctor[i].append(
                    {"role": "user", "content": f"Result of {out.text[:60]}: within normal limits."}
                )
        replies = call(
            patient_llm, [{"i": i, "messages": json.dumps(patient[i])} for i in asked], PatientReply
        )
        for i in asked:
            if i not in replies:
                open_ids.discard(i)
                continue
            reply, raw = replies[i]
            patient[i].append({"role": "assistant", "content": raw})
            doctor[i].append({"role": "user", "content": f"Patient: {reply.answer}"})
    return done


# -- the cell --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", choices=TOOLS, required=True)
    ap.add_argument("--workload", choices=WORKLOADS, required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, required=True, help="requests (single) or requests aimed at (multi)")
    ap.add_argument("--concurrency", type=int, required=True)
    args = ap.parse_args()
    tool, workload, url, n, c = args.tool, args.workload, args.url, args.n, args.concurrency
    meter = Meter()
    (meter.hook_httpx if tool in ("openai", "distilabel") else meter.hook_aiohttp)()
    errors: list[str] = []
    extra: dict[str, Any] = {}
    if tool == "engine":
        from engine_arm import run_engine

        extra = asyncio.run(run_engine(workload, url, n, c, errors))
        items = extra.pop("items")
    elif tool == "curator":
        items = run_curator(workload, url, n, c, errors)
    else:
        arm = {"aiohttp": run_aiohttp, "openai": run_openai, "distilabel": run_distilabel}[tool]
        items = asyncio.run(arm(workload, url, n, c, errors))
    t_end, cpu_end = time.perf_counter(), cpu_s()
    if meter.first is None:
        raise SystemExit(f"{tool}: no request was sent; errors: {errors[:3]}")
    t0, cpu0 = meter.first
    ru = resource.getrusage(resource.RUSAGE_SELF)
    row = {
        "tool": tool,
        "workload": workload,
        "n": n,
        "concurrency": c,
        "items": items,  # single: requests answered; multi: consultations finished
        "requests": meter.requests,
        "errors": len(errors),
        "error_samples": errors[:3],
        "wall_s": t_end - t0,
        "rps": meter.requests / (t_end - t0),
        "cpu_ms_per_req": 1000 * (cpu_end - cpu0) / max(1, meter.requests),
        "startup_cpu_s": cpu0,
        "peak_rss_mib": ru.ru_maxrss / 1024,
        "python": sys.version.split()[0],
        **extra,
    }
    print(json.dumps(row), flush=True)
    # Some peers leave threads behind (telemetry, progress displays): leave without waiting for them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    tempfile.tempdir = os.environ.get("PEERS_TMP") or None  # where a peer's own files go, wiped by the caller
    main()
