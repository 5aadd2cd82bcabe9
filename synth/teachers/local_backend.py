"""The `local` backend: transformers in this process, batched, with grammar-constrained JSON.

Many coroutines call `generate` at once. Each call becomes a pending row; one scheduler task gathers rows into
batches of up to `max_batch_size`, waiting at most `batch_wait_ms` after the oldest row arrived, and runs each
batch's `model.generate` in a single worker thread so the event loop stays free. While a batch runs, the next
one accumulates; rows that queued during a run start at once, since their wait has already passed.

Design choices:
- Per-row sampling. `generate` runs greedy, and a logits processor does the real work per row: the row's grammar
  mask, its temperature and top_p, a draw from its own `torch.Generator`, then a one-hot score so greedy
  selection picks that draw. So requests with different sampling parameters share a batch without changing
  their meaning, and no grouping is needed. A stopping criterion finishes rows one by one (end token, grammar
  terminated, stop string, the row's own max_tokens).
- Seeds. A row with `params.seed` draws from a generator seeded with it, so the same request run in the same
  batch composition gives the same text. Across batch compositions the logits of a row can differ in the last
  bits (padding and batch shape change the kernels' blocking), which can flip a near-tie; exact reproduction is
  only promised for the same batch (in particular a request that runs alone). Rows without a seed use fresh
  randomness. Temperature 0 is greedy.
- Constrained JSON: xgrammar compiles each schema once (cached by its canonical JSON) against the tokenizer;
  each constrained row gets its own `GrammarMatcher`, unconstrained rows in the same batch are left alone.
  Whitespace between JSON tokens is not allowed, which keeps small models from looping on blanks.
- Accounting: prompt tokens are the row's own tokens (no padding); completion tokens are the tokens the row
  generated, including the end token that stopped it. Text excludes the end token and anything from a stop
  string on. finish_reason is "length" when the row hit its max_tokens (or the context) before it ended,
  else "stop" (a constrained row whose object is complete at max_tokens, only its end token missing, is "stop").
- CPU threads are torch's (one per core). On a CPU shared with other busy processes that thrashes: measured here,
  a step ran 12x slower with 2 threads than with 1 while two other processes computed. Set OMP_NUM_THREADS then.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from schemas.embedded import EMBEDDED_MODEL_ID, EMBEDDED_NAME, resolve_model
from synth.teachers.base import RawCompletion, Request
from synth.teachers.config import LocalTeacherConfig
from synth.teachers.errors import RequestRejected, ServerError, TeacherError


@dataclass
class LocalStats:
    """What the backend did: batching effectiveness and throughput."""

    requests: int = 0
    batches: int = 0  # model.generate calls
    rows: int = 0
    max_rows_in_batch: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generate_s: float = 0.0


@dataclass
class _Pending:
    request: Request
    future: asyncio.Future[RawCompletion]
    arrived: float


@dataclass
class _Row:
    """One request inside a running batch: its sampling state and what it produced so far."""

    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    matcher: Any = None  # xgrammar.GrammarMatcher, or None when unconstrained
    generator: Any = None  # torch.Generator, created on the logits' device
    tokens: list[int] = field(default_factory=list)
    finish_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


class LocalBackend:
    """Backend running a causal LM with transformers; cheap to build, loads the model on first use."""

    kind = "local"

    def __init__(self, cfg: LocalTeacherConfig):
        self.cfg = cfg
        self.model = EMBEDDED_MODEL_ID if cfg.model == EMBEDDED_NAME else cfg.model
        self.stats = LocalStats()
        self._tokenizer: Any = None
        self._model: Any = None
        self._device: Any = None
        self._eos_ids: list[int] = []
        self._context: int = 0
        self._compiler: Any = None
        self._grammars: dict[str, Any] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # Loop-bound objects, created on first use inside the running loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._load_lock: asyncio.Lock | None = None
        self._pending: collections.deque[_Pending] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._scheduler: asyncio.Task[None] | None = None

    # ---- public protocol -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the model now rather than on the first request."""
        self._bind_loop()
        assert self._load_lock is not None
        async with self._load_lock:
            if self._model is None:
                await asyncio.get_running_loop().run_in_executor(self._worker(), self._load)

    async def generate(self, request: Request) -> RawCompletion:
        await self.start()
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RawCompletion] = loop.create_future()
        self._pending.append(_Pending(request, future, loop.time()))
        self.stats.requests += 1
        self._wakeup.set()
        return await future

    async def aclose(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        self._loop = None  # a later generate starts afresh (and reloads the model)
        while self._pending:
            p = self._pending.popleft()
            if not p.future.done():
                p.future.set_exception(ServerError("local backend closed before the request ran"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._model = None
        self._tokenizer = None
        self._grammars.clear()
        self._compiler = None

    # ---- scheduling --------------------------------------------------------------------------------------

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        # A new event loop (e.g. a second asyncio.run): loop-bound objects are rebuilt, the model is kept.
        self._loop = loop
        self._load_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._pending = collections.deque()
        self._scheduler = loop.create_task(self._schedule(), name="local-backend-scheduler")

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        # One thread: batches run one after another, and torch already uses every core inside a batch.
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="local-backend")
        return self._executor

    async def _schedule(self) -> None:
        # A deque + Event rather than asyncio.Queue: waiting on Queue.get with a timeout can drop an item
        # when the timeout and the put race (asyncio.wait_for on Python 3.11).
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        wait_s = self.cfg.batch_wait_ms / 1000.0
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = self._pending[0].arrived + wait_s
            while len(self._pending) < self.cfg.max_batch_size and (left := deadline - loop.time()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), left)
                except TimeoutError:
                    break
            batch: list[_Pending] = []
            while self._pending and len(batch) < self.cfg.max_batch_size:
                p = self._pending.popleft()
                if not p.future.done():  # the caller may have been cancelled meanwhile
                    batch.append(p)
            if not batch:
                continue
            requests = [p.request for p in batch]
            try:
                results = await loop.run_in_executor(self._worker(), self._run_batch, requests)
            except Exception as exc:
                err = ServerError(f"local generation failed: {type(exc).__name__}: {exc}")
                results = [err] * len(batch)
            for p, result in zip(batch, results, strict=True):
                if p.future.done():
                    continue
                if isinstance(result, BaseException):
                    p.future.set_exception(result)
                else:
                    p.future.set_result(result)

    # ---- model (worker thread) ------------------------------------------------------------------------

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.cfg.num_threads:
            # On a shared CPU, fewer threads than cores avoids oversubscription (measured ~10x slower).
            torch.set_num_threads(self.cfg.num_threads)

        device = self.cfg.device
        if device == "auto":
            if torch.cuda.is_available():
                device = "cuda"
            elif torch.backends.mps.is_available():
                device = "mps"
            else:
                device = "cpu"
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(
            self.cfg.dtype, torch.bfloat16 if device == "cuda" else torch.float32
        )
        try:
            path = resolve_model(self.cfg.model)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except Exception as exc:
            raise RequestRejected(f"cannot load model {self.cfg.model!r}: {exc}") from exc
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.to(torch.device(device)).eval()
        eos = model.generation_config.eos_token_id
        eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
        self._eos_ids = sorted(i for i in eos_ids if i is not None)
        self._context = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self._device = torch.device(device)
        self._tokenizer, self._model = tokenizer, model

    def _grammar(self, schema: dict[str, Any]) -> Any:
        import xgrammar as xgr

        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        if key not in self._grammars:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    self._tokenizer, vocab_size=self._model.config.vocab_size, stop_token_ids=self._eos_ids
                )
                self._compiler = xgr.GrammarCompiler(info)
            try:
                # Compile the schema in its own property order (the key is sorted only for caching): fields are
                # generated in the order the schema lists them, e.g. reasoning before the action.
                self._grammars[key] = self._compiler.compile_json_schema(
                    json.dumps(schema), any_whitespace=False
                )
            except Exception as exc:
                raise RequestRejected(f"cannot compile the JSON schema into a grammar: {exc}") from exc
        return self._grammars[key]

    def _run_batch(self, requests: list[Request]) -> list[RawCompletion | TeacherError]:
        import torch
        import xgrammar as xgr
        from transformers import GenerationConfig

        tok = self._tokenizer
        results: list[RawCompletion | TeacherError | None] = [None] * len(requests)
        live: list[int] = []
        rows: list[_Row] = []
        prompts: list[str] = []
        for i, req in enumerate(requests):
            try:
                prompt = tok.apply_chat_template(
                    list(req.messages), add_generation_prompt=True, tokenize=False
                )
                n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
                if n_prompt >= self._context:
                    raise RequestRejected(
                        f"prompt of {n_prompt} tokens exceeds the context of {self._context}"
                    )
                matcher = None
                if req.json_schema is not None and self.cfg.constrained:
                    matcher = xgr.GrammarMatcher(self._grammar(req.json_schema))
            except TeacherError as exc:
                results[i] = exc
                continue
            except Exception as exc:
                results[i] = RequestRejected(f"cannot prepare the request: {type(exc).__name__}: {exc}")
                continue
            p = req.params
            rows.append(
                _Row(
                    temperature=p.temperature,
                    top_p=p.top_p,
                    max_tokens=min(p.max_tokens, self._context - n_prompt),
                    stop=tuple(s for s in (p.stop or ()) if s),
                    seed=p.seed,
                    matcher=matcher,
                )
            )
            prompts.append(prompt)
            live.append(i)
        if rows:
            enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self._device)
            control = _RowControl(rows, self._eos_ids, tok, self._model.config.vocab_size)
            gen_cfg = GenerationConfig(
                do_sample=False,
                num_beams=1,
                max_new_tokens=max(r.max_tokens for r in rows),
                eos_token_id=self._eos_ids,
                pad_token_id=tok.pad_token_id,
            )
            t0 = time.perf_counter()
            with torch.inference_mode():
                self._model.generate(
                    **enc,
                    generation_config=gen_cfg,
                    logits_processor=[control.process],
                    stopping_criteria=[control.stopping],
                )
            self.stats.generate_s += time.perf_counter() - t0
            self.stats.batches += 1
            self.stats.rows += len(rows)
            self.stats.max_rows_in_batch = max(self.stats.max_rows_in_batch, len(rows))
            prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
            for i, row, n_prompt in zip(live, rows, prompt_lens, strict=True):
                results[i] = self._completion(row, int(n_prompt))
        return [r if r is not None else ServerError("row produced no result") for r in results]

    def _completion(self, row: _Row, n_prompt: int) -> RawCompletion:
        tokens = row.tokens
        if tokens and tokens[-1] in self._eos_ids:
            tokens = tokens[:-1]
        text = self._tokenizer.decode(tokens, skip_special_tokens=True)
        for s in row.stop:
            cut = text.find(s)
            if cut >= 0:
                text = text[:cut]
        self.stats.prompt_tokens += n_prompt
        self.stats.completion_tokens += len(row.tokens)
        return RawCompletion(
            text=text,
            finish_reason=row.finish_reason or "length",
            prompt_tokens=n_prompt,
            completion_tokens=len(row.tokens),
            model=self.model,
        )


class _RowControl:
    """Per-row grammar, sampling and stopping for one `model.generate` call (which itself runs greedy).

    Plain callables rather than transformers subclasses so this module imports without transformers; the
    processor lists of `generate` only call them.
    """

    def __init__(self, rows: list[_Row], eos_ids: list[int], tokenizer: Any, vocab_size: int):
        import xgrammar as xgr

        self.rows = rows
        self.eos_ids = set(eos_ids)
        self.tokenizer = tokenizer
        self.constrained = [i for i, r in enumerate(rows) if r.matcher is not None]
        self.bitmask = xgr.allocate_token_bitmask(len(rows), vocab_size) if self.constrained else None
        # Enough trailing tokens to contain any stop string (each token is at least one character).
        self.stop_window = max((len(s) for r in rows for s in r.stop), default=0) + 1

    def process(self, input_ids: Any, scores: Any) -> Any:
        import torch
        import xgrammar as xgr

        if self.bitmask is not None:
            active = [i for i in self.constrained if not self.rows[i].done]
            for i in active:
                self.rows[i].matcher.fill_next_token_bitmask(self.bitmask, i)
            if active:
                # xgrammar masks in place on CPU or CUDA only.
                target = scores if scores.device.type in ("cpu", "cuda") else scores.cpu()
                xgr.apply_token_bitmask_inplace(target, self.bitmask.to(target.device), indices=active)
                if target is not scores:
                    scores.copy_(target)
        chosen = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        for i, row in enumerate(self.rows):
            if row.done:
                continue
            logits = scores[i]
            if row.temperature == 0.0:
                chosen[i] = torch.argmax(logits)
                continue
            logits = logits / row.temperature
            if row.top_p < 1.0:
                sorted_logits, order = torch.sort(logits, descending=True)
                probs = torch.softmax(sorted_logits, dim=-1)
                # Keep the smallest prefix whose mass reaches top_p (the first token is always kept).
                drop = (torch.cumsum(probs, dim=-1) - probs) > row.top_p
                sorted_logits[drop] = float("-inf")
                logits = torch.full_like(logits, float("-inf")).scatter(0, order, sorted_logits)
            if row.generator is None:
                row.generator = torch.Generator(device=scores.device)
                if row.seed is not None:
                    row.generator.manual_seed(row.seed)
                else:
                    row.generator.seed()
            probs = torch.softmax(logits, dim=-1)
            chosen[i] = torch.multinomial(probs, 1, generator=row.generator)[0]
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen[:, None], 0.0)
        return out

    def stopping(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        last = input_ids[:, -1].tolist()
        for i, row in enumerate(self.rows):
            if row.done:
                continue
            token = int(last[i])
            row.tokens.append(token)
            # A token the matcher rejects cannot come through the mask; should it, the row ends rather
            # than feed the matcher garbage.
            grammar_end = row.matcher is not None and (
                not row.matcher.accept_token(token) or row.matcher.is_terminated()
            )
            if grammar_end or token in self.eos_ids or (row.stop and self._hit_stop(row)):
                row.finish_reason = "stop"
            elif len(row.tokens) >= row.max_tokens:
                # A whole object that only lacks its end token is an answer, not a truncated one.
                complete = row.matcher is not None and row.matcher.is_completed()
                row.finish_reason = "stop" if complete else "length"
        done = [r.done for r in self.rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _hit_stop(self, row: _Row) -> bool:
        tail = self.tokenizer.decode(row.tokens[-self.stop_window :], skip_special_tokens=True)
        return any(s in tail for s in row.stop)
