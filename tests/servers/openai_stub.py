"""An OpenAI-compatible chat server for tests and benchmarks: deterministic answers, fault and latency injection.

Two ways to run it, both bound to 127.0.0.1 on an OS-assigned port:

- in a background thread: ``with StubServer(latency_ms=0) as stub: ... stub.base_url ... stub.inject(...)``
  (or ``with run_stub() as base_url:`` when only the URL is needed);
- as a subprocess: ``python -m tests.servers.openai_stub --port 0 --latency-ms 100`` prints its base URL on the
  first stdout line and is steered through ``POST /control`` (JSON: faults, fault_rate, latency_ms, reset).

Answers: a json_schema request gets a JSON instance that validates against the schema, with strings derived from a
hash of the request (different prompts, different answers); a case-synthesis schema gets a clinically plausible
card instead, drawn from vocabulary tables (tests/servers/stub_cases.py) so that it passes the case gates; a
request forcing a function call (tools + tool_choice naming it, as instructor's tools mode sends) gets a tool call
whose arguments validate against the function's parameters; other requests get a short deterministic text.
Answers are cached by request body, so a repeated request costs a dict lookup — the server must never be the
bottleneck of the client benchmark. Faults (applied to the next requests, in order, before any answer):
``{"kind": "status", "status": 429, "retry_after": 1}`` (also ``retry_after_ms``, ``headers``, ``body``),
``{"kind": "hang", "seconds": 30}``, ``{"kind": "malformed"}`` (a 200 whose JSON is cut off),
``{"kind": "cut"}`` (a 200 whose body stops short of its Content-Length: the connection drops mid-answer),
``{"kind": "no_choices"}``, ``{"kind": "wrong_shape"}`` (a well-formed completion whose content is JSON that
fits no response schema), ``{"kind": "length"}``, ``{"kind": "refusal"}``. ``{"models_status": 401}`` makes
GET /models answer that status. GET /stats returns counters: total requests, requests per canonical body hash,
in-flight maximum, faults served (and injected statuses by code), Authorization headers seen.
``StubServer(port=...)`` binds a given port, so a test can stop the server and
start it again where its clients expect it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from tests.servers.stub_cases import case_draft, is_case_schema

# -- a value generator for JSON Schema ------------------------------------------------------------------------


def instance_for(schema: dict[str, Any], seed: str) -> Any:
    """A JSON value valid against `schema` (the subset pydantic and typical structured-output schemas use)."""
    return _gen(schema, schema.get("$defs") or schema.get("definitions") or {}, seed, "v", 0)


def _gen(s: dict[str, Any], defs: dict[str, Any], seed: str, path: str, depth: int) -> Any:
    if depth > 12:
        return None
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return _gen(defs[name], defs, seed, path, depth + 1)
    if "const" in s:
        return s["const"]
    if "enum" in s:
        values = s["enum"]
        return values[_num(seed, path) % len(values)]
    for key in ("anyOf", "oneOf"):
        if key in s:
            options = [o for o in s[key] if o.get("type") != "null"] or s[key]
            return _gen(options[0], defs, seed, path, depth + 1)
    if "allOf" in s:
        merged: dict[str, Any] = {}
        for part in s["allOf"]:
            merged.update(defs[part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part)
        return _gen(merged, defs, seed, path, depth + 1)
    kind = s.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in s else "string"
    if kind == "object":
        props = s.get("properties") or {}
        required = s.get("required")
        names = list(props) if required is None else [n for n in props if n in required]
        return {n: _gen(props[n], defs, seed, f"{path}.{n}", depth + 1) for n in names}
    if kind == "array":
        if "prefixItems" in s:
            return [_gen(it, defs, seed, f"{path}[{i}]", depth + 1) for i, it in enumerate(s["prefixItems"])]
        lo = s.get("minItems", 0)
        hi = s.get("maxItems", max(lo, 2))
        n = max(lo, min(hi, 2))
        items = s.get("items") or {}
        return [_gen(items, defs, seed, f"{path}[{i}]", depth + 1) for i in range(n)]
    if kind == "string":
        return _string(s, seed, path)
    if kind == "integer":
        lo, hi = _bounds(s, integer=True)
        return int(lo + _num(seed, path) % (int(hi) - int(lo) + 1))
    if kind == "number":
        lo, hi = _bounds(s, integer=False)
        return round(lo + (hi - lo) * ((_num(seed, path) % 1000) / 1000.0), 3)
    if kind == "boolean":
        return _num(seed, path) % 2 == 0
    return None


def _num(seed: str, path: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}|{path}".encode(), digest_size=6).digest(), "big")


def _bounds(s: dict[str, Any], integer: bool) -> tuple[float, float]:
    step = 1 if integer else 0.001
    lo = s.get("minimum", s["exclusiveMinimum"] + step if "exclusiveMinimum" in s else None)
    hi = s.get("maximum", s["exclusiveMaximum"] - step if "exclusiveMaximum" in s else None)
    if lo is None and hi is None:
        lo, hi = 0, 100
    elif lo is None:
        lo = hi - 100
    elif hi is None:
        hi = lo + 100
    if integer:
        lo, hi = -(-lo // 1), hi // 1  # ceil / floor, so fractional bounds stay honoured
    return lo, hi


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "someone@example.org",
    "uri": "https://example.org/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _string(s: dict[str, Any], seed: str, path: str) -> str:
    if s.get("format") in _FORMATS:
        return _FORMATS[s["format"]]
    lo = s.get("minLength", 0)
    hi = s.get("maxLength")
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    text = f"{name} {_num(seed, path):x}"
    if len(text) < lo:
        text = text + "x" * (lo - len(text))
    if hi is not None:
        text = text[:hi]
    return text


# -- the server -----------------------------------------------------------------------------------------------


def _canonical_hash(body: dict[str, Any]) -> str:
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def _completion(
    h: str,
    model: str,
    content: str | None,
    finish: str,
    refusal: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return json.dumps(
        {
            "id": f"chatcmpl-{h}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 10,
                "total_tokens": 30,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }
    ).encode()


class StubState:
    """Everything the handlers share: settings, the fault queue, the answer cache, counters."""

    def __init__(self, latency_ms: float = 0.0, fault_rate: float = 0.0, seed: int = 0):
        self.latency_s = latency_ms / 1000.0
        self.fault_rate = fault_rate
        self.random_faults: list[dict[str, Any]] = [{"kind": "status", "status": 500}]
        self.rng = random.Random(seed)
        self.faults: list[dict[str, Any]] = []
        self.models_status = 200  # what GET /models answers (401: a server that refuses the key)
        self.cache: dict[bytes, tuple[str, bytes]] = {}  # raw body -> (canonical hash, response body)
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.per_hash: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.faults_served: Counter[str] = Counter()
        self.statuses_served: Counter[int] = Counter()  # injected status faults by status code
        self.authorizations: Counter[str] = Counter()  # Authorization headers seen, for secret-leak tests

    def control(self, cmd: dict[str, Any]) -> None:
        if cmd.get("reset"):
            self.reset()
        if "faults" in cmd:
            self.faults.extend(cmd["faults"])
        if "clear_faults" in cmd:
            self.faults.clear()
        if "fault_rate" in cmd:
            self.fault_rate = float(cmd["fault_rate"])
        if "random_faults" in cmd:
            self.random_faults = list(cmd["random_faults"])
        if "models_status" in cmd:
            self.models_status = int(cmd["models_status"])
        if "latency_ms" in cmd:
            self.latency_s = float(cmd["latency_ms"]) / 1000.0

    def stats(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "per_hash": dict(self.per_hash),
            "max_repeat": max(self.per_hash.values(), default=0),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "faults_served": dict(self.faults_served),
            "statuses_served": dict(self.statuses_served),
            "authorizations": dict(self.authorizations),
        }

    def next_fault(self) -> dict[str, Any] | None:
        if self.faults:
            return self.faults.pop(0)
        if self.fault_rate and self.rng.random() < self.fault_rate:
            return self.rng.choice(self.random_faults)
        return None


_JSON = "application/json"
STATE = web.AppKey("state", StubState)


async def _chat(request: web.Request) -> web.StreamResponse:
    st: StubState = request.app[STATE]
    raw = await request.read()
    st.total += 1
    st.authorizations[request.headers.get("Authorization", "")] += 1
    st.in_flight += 1
    st.max_in_flight = max(st.max_in_flight, st.in_flight)
    try:
        hit = st.cache.get(raw)
        if hit is None:
            try:
                body = json.loads(raw)
                messages = body["messages"]
            except (ValueError, KeyError, TypeError):
                return web.json_response({"error": {"message": "invalid request body"}}, status=400)
            h = _canonical_hash(body)
        else:
            body = None
            h = hit[0]
        st.per_hash[h] += 1
        fault = st.next_fault()
        if st.latency_s:
            await asyncio.sleep(st.latency_s)
        if fault is not None:
            st.faults_served[fault.get("kind", "?")] += 1
            if fault.get("kind") == "status":
                st.statuses_served[int(fault["status"])] += 1
            return await _fault(fault, h, body if body is not None else json.loads(raw), request)
        if hit is None:
            hit = (h, _answer(h, body, messages))
            st.cache[raw] = hit
        return web.Response(body=hit[1], content_type=_JSON)
    finally:
        st.in_flight -= 1


def _answer(h: str, body: dict[str, Any], messages: list[dict[str, Any]]) -> bytes:
    model = body.get("model", "stub")
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = fmt["json_schema"]["schema"]
        if is_case_schema(schema):
            # A case card of generated strings would fail the case gates: answer as a careful model would.
            prompt = "\n".join(str(m.get("content", "")) for m in messages)
            value = case_draft(h, prompt)
        else:
            value = instance_for(schema, h)
        return _completion(h, model, json.dumps(value), "stop")
    tool = _forced_tool(body)
    if tool is not None:
        # A client asking for structured output through a forced function call (instructor's tools mode):
        # the arguments are an instance of the function's parameter schema.
        args = json.dumps(instance_for(tool.get("parameters") or {}, h))
        call = {
            "id": f"call_{h[:12]}",
            "type": "function",
            "function": {"name": tool["name"], "arguments": args},
        }
        return _completion(h, model, None, "tool_calls", tool_calls=[call])
    if fmt.get("type") == "json_object":
        return _completion(h, model, json.dumps({"answer": f"stub {h[:8]}"}), "stop")
    last = messages[-1].get("content", "") if messages else ""
    return _completion(h, model, f"stub answer {h[:8]} to: {str(last)[:40]}", "stop")


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function a request forces with tool_choice {"type": "function", "function": {"name": ...}}, if any."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or not body.get("tools"):
        return None
    name = (choice.get("function") or {}).get("name")
    for t in body["tools"]:
        fn = t.get("function") or {}
        if fn.get("name") == name:
            return dict(fn)
    return None


async def _fault(
    fault: dict[str, Any], h: str, body: dict[str, Any], request: web.Request
) -> web.StreamResponse:
    kind = fault.get("kind")
    model = body.get("model", "stub")
    if kind == "status":
        headers = dict(fault.get("headers") or {})
        if "retry_after" in fault:
            headers["Retry-After"] = str(fault["retry_after"])
        if "retry_after_ms" in fault:
            headers["retry-after-ms"] = str(fault["retry_after_ms"])
        text = fault.get("body") or json.dumps({"error": {"message": f"injected {fault['status']}"}})
        return web.Response(status=int(fault["status"]), text=text, content_type=_JSON, headers=headers)
    if kind == "hang":
        await asyncio.sleep(float(fault.get("seconds", 3600)))
        return web.Response(body=_completion(h, model, "late", "stop"), content_type=_JSON)
    if kind == "malformed":
        return web.Response(body=b'{"id": "chatcmpl-x", "choices": [{"mess', content_type=_JSON)
    if kind == "cut":
        full = _completion(h, model, "cut", "stop")
        resp = web.StreamResponse(headers={"Content-Type": _JSON, "Content-Length": str(len(full))})
        await resp.prepare(request)
        await resp.write(full[: len(full) // 2])
        assert request.transport is not None
        request.transport.close()  # the rest never comes
        return resp
    if kind == "wrong_shape":
        return web.Response(body=_completion(h, model, '{"unexpected": true}', "stop"), content_type=_JSON)
    if kind == "no_choices":
        return web.json_response(
            {"id": "chatcmpl-x", "object": "chat.completion", "model": model, "choices": []}
        )
    if kind == "length":
        return web.Response(body=_completion(h, model, '{"diagnosis": "pneu', "length"), content_type=_JSON)
    if kind == "refusal":
        text = fault.get("text", "I can't help with that.")
        return web.Response(body=_completion(h, model, None, "stop", refusal=text), content_type=_JSON)
    raise ValueError(f"unknown fault kind {kind!r}")


async def _models(request: web.Request) -> web.Response:
    status = request.app[STATE].models_status
    if status != 200:
        return web.json_response({"error": {"message": f"injected {status}"}}, status=status)
    return web.json_response(
        {"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "stub"}]}
    )


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


async def _control(request: web.Request) -> web.Response:
    request.app[STATE].control(await request.json())
    return web.json_response({"ok": True})


def make_app(state: StubState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024**2)
    app[STATE] = state
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/control", _control)
    return app


async def _start(state: StubState, port: int) -> tuple[web.AppRunner, str]:
    # reuse_address: a server stopped and started again on its port must not wait out TIME_WAIT.
    # No access log: formatting a log line per request would be a large share of the server's CPU.
    runner = web.AppRunner(make_app(state), access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096, reuse_address=True)
    await site.start()
    host, real_port = runner.addresses[0][:2]
    return runner, f"http://{host}:{real_port}/v1"


class StubServer:
    """The stub in a background thread with its own event loop. A context manager; stops on exit."""

    def __init__(self, latency_ms: float = 0.0, fault_rate: float = 0.0, seed: int = 0, port: int = 0):
        self.state = StubState(latency_ms=latency_ms, fault_rate=fault_rate, seed=seed)
        self.port = port
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> StubServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._runner, self.base_url = self._loop.run_until_complete(_start(self.state, self.port))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="openai-stub", daemon=True)
        self._thread.start()
        assert ready.wait(10), "stub server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(_shutdown(self._runner), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, fn: Any, *args: Any) -> Any:
        # State lives on the server's loop; touching it from there avoids races with running handlers.
        assert self._loop is not None
        fut: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(_as_coro(fn, *args), self._loop)
        return fut.result(10)

    def inject(self, *faults: dict[str, Any]) -> None:
        """Queue faults for the next requests, in order."""
        self._call(self.state.control, {"faults": list(faults)})

    def control(self, **cmd: Any) -> None:
        self._call(self.state.control, cmd)

    def stats(self) -> dict[str, Any]:
        return self._call(self.state.stats)

    def reset(self) -> None:
        self._call(self.state.reset)


async def _shutdown(runner: web.AppRunner) -> None:
    await runner.cleanup()
    # Handlers still sleeping in an injected hang: cancel them so the loop closes clean.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def _as_coro(fn: Any, *args: Any) -> Any:
    return fn(*args)


@contextlib.contextmanager
def run_stub(latency_ms: float = 0.0, fault_rate: float = 0.0) -> Iterator[str]:
    """The stub in a background thread; yields its base URL (".../v1")."""
    with StubServer(latency_ms=latency_ms, fault_rate=fault_rate) as stub:
        yield stub.base_url


async def _serve_forever(args: argparse.Namespace) -> None:
    state = StubState(latency_ms=args.latency_ms, fault_rate=args.fault_rate, seed=args.seed)
    runner, url = await _start(state, args.port)
    print(url, flush=True)
    try:
        # A test server stops by itself, even when whoever started it was killed.
        await asyncio.sleep(args.max_lifetime_s)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0, help="probability of a random 500 per request")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-lifetime-s", type=float, default=1800.0)
    args = ap.parse_args(argv)
    loop_factory = None
    try:
        import uvloop  # optional: a cheaper event loop keeps the server further from being the bottleneck

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_forever(args))


if __name__ == "__main__":
    main()
