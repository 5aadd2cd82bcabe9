"""`synth filter --executor ray`: the heavy parts of the dedup stages on a Ray cluster, the decisions on the driver.

What runs where, and why the result is the local filter's, bit for bit:

- Semantic dedup's embedding is a Ray Data pipeline over an actor pool of embedders (one model load per actor;
  a GPU per actor where the cluster has GPUs, else one CPU). The driver fixes the work units first: for the
  ONNX model, the very batches of windows the local embedder would run (`OnnxEmbedder.plan`: activations are
  quantised per batch, so the same batch is the same bits); for other models, blocks of texts. The vectors come
  back to the driver, which runs FAISS on the combined matrix exactly as locally (synth/quality/semantic.py:
  exact search up to `exact_max` vectors, else IVF trained on a sample) — the search is seconds where the
  embedding is hours, and one index over all vectors is what makes the result the local one.
- Near-dedup's MinHash signatures are Ray tasks over chunks of each table (`minhash_values`, deterministic);
  the LSH merge and the choice of whom to keep run on the driver, unchanged.

A stage never knows which executor runs it: `RayCompute` hands FaissDedupFilter an embedder and
MinHashDedupFilter a signature function, and everything else of the filter is the local code.
`import ray` happens only in this module, when `--executor ray` is asked for.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from synth.quality.dedup import minhash_values

if TYPE_CHECKING:
    import numpy as np

LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2  # a local cluster: vectors and signatures, not the corpus
MINHASH_CHUNK = 2000  # texts per Ray task: ~1 s of CPU each, large enough to hide the scheduling cost
TEXT_BLOCK = 1024  # texts per embedding unit for models without a fixed batch plan
GPU_BATCH_SIZE = 256  # windows per forward pass on a GPU; the config's batch_size is the CPU one


def init_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Connect to `address` (auto, ray://HOST:PORT, HOST:PORT), or start a local cluster on 127.0.0.1."""
    from synth.executors import init_ray as connect

    return connect(address, num_cpus, LOCAL_OBJECT_STORE_BYTES)


class _EmbedActor:
    """One embedder per actor, loaded once; called with batches of work units."""

    def __init__(self, model: str, runtime: str, device: str):
        from synth.quality.embed import load_embedder

        if device == "cpu":
            # One CPU per actor: ONNX Runtime would otherwise start a thread per core in every actor.
            os.environ["SYNTH_EMBED_THREADS"] = "1"

        self.embedder: Any = load_embedder(model, runtime=runtime, device=device)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = []
        for unit, bs in zip(batch["unit"], batch["batch_size"], strict=True):
            work = json.loads(unit)
            if isinstance(work[0], list):  # windows of word-piece ids: one planned batch
                vecs = self.embedder.embed_windows(work)
            else:  # a block of texts
                vecs = self.embedder.encode(work, batch_size=int(bs))
            out.append(np.ascontiguousarray(vecs, dtype=np.float32).tobytes())
        return {"k": batch["k"], "vecs": out}


class RayEmbedder:
    """An Embedder whose `encode` runs on the cluster's actor pool (module docstring)."""

    def __init__(self, ray: Any, model: str, workers: int, *, gpus: int = 0):
        from synth.quality.embed import load_embedder

        self._ray = ray
        self.model = model
        self.gpus = gpus
        self.runtime, self.device = ("torch", "cuda") if gpus else ("auto", "cpu")
        # The driver's own copy plans the work (and, for ONNX, builds the cached model before the actors
        # look for it on this node); it never embeds.
        self._local: Any = load_embedder(model, runtime=self.runtime, device="cpu")
        self.name, self.dim = self._local.name, self._local.dim
        self.workers = max(gpus or workers, 1)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        planned = hasattr(self._local, "plan") and not self.gpus
        if planned:
            chunks, owner, batches = self._local.plan(texts, batch_size)
            units = [json.dumps([chunks[j] for j in b]) for b in batches]
        else:
            batch_size = GPU_BATCH_SIZE if self.gpus else batch_size
            blocks = [texts[s : s + TEXT_BLOCK] for s in range(0, len(texts), TEXT_BLOCK)]
            units = [json.dumps(b) for b in blocks]
        results = self._run(units, batch_size)
        if planned:
            vecs = np.zeros((len(chunks), self.dim), dtype=np.float32)
            for b, v in zip(batches, results, strict=True):
                vecs[b] = v
            combined: np.ndarray = self._local.combine(len(texts), chunks, owner, vecs)
            return combined
        return np.concatenate(results) if results else np.zeros((0, self.dim), dtype=np.float32)

    def _run(self, units: list[str], batch_size: int) -> list[np.ndarray]:
        import numpy as np

        data = self._ray.data
        rows = [{"k": k, "unit": u, "batch_size": batch_size} for k, u in enumerate(units)]
        ds = data.from_items(rows, override_num_blocks=min(len(rows), self.workers * 4))
        out = ds.map_batches(
            _EmbedActor,
            fn_constructor_args=(self.model, self.runtime, self.device),
            batch_size=1,
            concurrency=min(self.workers, len(rows)),
            num_gpus=1 if self.gpus else 0,
            num_cpus=0 if self.gpus else 1,
        )
        got: dict[int, np.ndarray] = {}
        for row in out.iter_rows():
            got[int(row["k"])] = np.frombuffer(row["vecs"], dtype=np.float32).reshape(-1, self.dim)
        assert sorted(got) == list(range(len(units))), (
            f"{len(units) - len(got)} embedding units came back missing"
        )
        return [got[k] for k in range(len(units))]


class RayCompute:
    """What the dedup stages get from the Ray executor: an embedder and a MinHash signature function."""

    def __init__(
        self, address: str | None = None, num_cpus: int | None = None, *, minhash_chunk: int = MINHASH_CHUNK
    ):
        self.ray = init_ray(address, num_cpus)
        self.minhash_chunk = minhash_chunk
        resources = self.ray.cluster_resources()
        self.cpus = max(int(resources.get("CPU", 1)), 1)
        self.gpus = int(resources.get("GPU", 0))
        self._embedders: dict[str, RayEmbedder] = {}

    def embedder(self, model: str) -> RayEmbedder:
        if model not in self._embedders:
            self._embedders[model] = RayEmbedder(self.ray, model, self.cpus, gpus=self.gpus)
        return self._embedders[model]

    def signatures(self, texts: list[str], ngram: int, num_perm: int) -> list[Any]:
        step = self.minhash_chunk
        if len(texts) <= step:
            return minhash_values(texts, ngram, num_perm)  # one chunk: nothing to spread
        task = self.ray.remote(num_cpus=1)(minhash_values)
        refs = [task.remote(texts[s : s + step], ngram, num_perm) for s in range(0, len(texts), step)]
        return [m for chunk in self.ray.get(refs) for m in chunk]

    def describe(self) -> dict[str, Any]:
        return {"executor": "ray", "cpus": self.cpus, "gpus": self.gpus}
