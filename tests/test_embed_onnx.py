"""The ONNX Runtime embedder: built offline into the cache dir, close to the torch vectors, the CPU default.

The export and quantisation run once per test module into a temporary $SYNTH_CACHE_DIR (tens of seconds on
two cores), then the same model serves every test.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from schemas.embedded import embedded_minilm_path
from synth.quality import embed, embed_onnx
from synth.quality.embed import DEFAULT_MODEL, TransformerEmbedder, load_embedder
from synth.quality.embed_onnx import ONNX_DIRNAME, OnnxEmbedder, onnx_model_path

pytestmark = pytest.mark.slow

TEXTS = [
    "A 62-year-old man has had crushing central chest pain radiating to his left arm for an hour.",
    "For the last hour a 62-year-old man has had crushing chest pain that goes to the left arm.",
    "A 19-year-old student has fever, severe headache, neck stiffness and a non-blanching rash.",
    "Itchy red eyes every spring, with sneezing and a runny nose; no fever.",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYNTH_CACHE_DIR", str(root))
        onnx_model_path()
    return root


@pytest.fixture(scope="module")
def onnx(cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cache / "models" / ONNX_DIRNAME, name=DEFAULT_MODEL)


@pytest.fixture(scope="module")
def torch_embedder() -> TransformerEmbedder:
    return TransformerEmbedder(str(embedded_minilm_path()), name=DEFAULT_MODEL)


def test_the_model_is_built_into_the_cache_dir_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = cache / "models" / ONNX_DIRNAME
    assert {p.name for p in folder.iterdir()} == {"model.onnx", "tokenizer.json", "meta.json"}
    # int8 MatMul weights; the 47 MB word-embedding table stays fp32 (quantising it costs accuracy)
    assert (folder / "model.onnx").stat().st_size < 65e6
    monkeypatch.setenv("SYNTH_CACHE_DIR", str(cache))

    def never(*a: object) -> None:
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(embed_onnx, "export_quantised", never)
    assert onnx_model_path() == folder


def test_vectors_are_unit_rows_and_an_empty_text_is_a_zero_row(onnx: OnnxEmbedder) -> None:
    vecs = onnx.encode([*TEXTS, ""], batch_size=2)
    assert vecs.shape == (5, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[:4], axis=1), 1, atol=1e-5)
    assert not vecs[4].any()
    assert onnx.encode([]).shape == (0, 384)


def test_batch_size_barely_moves_the_vectors_and_one_batch_plan_is_deterministic(onnx: OnnxEmbedder) -> None:
    # Activations are quantised per batch: a text's vector moves a little with its batch-mates, never far.
    a, b = onnx.encode(TEXTS, batch_size=1), onnx.encode(TEXTS, batch_size=64)
    assert (a * b).sum(axis=1).min() > 0.98
    assert np.array_equal(onnx.encode(TEXTS, batch_size=2), onnx.encode(TEXTS, batch_size=2))


def test_close_to_the_torch_vectors_and_ranks_paraphrases_the_same(
    onnx: OnnxEmbedder, torch_embedder: TransformerEmbedder
) -> None:
    long_text = " ".join(TEXTS * 12)  # several 254-token windows
    texts = [*TEXTS, long_text]
    a, b = onnx.encode(texts), torch_embedder.encode(texts)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.97, cos
    sim_onnx, sim_torch = a @ a.T, b @ b.T
    assert sim_onnx[0, 1] > 0.8 and sim_onnx[0, 1] > sim_onnx[0, 2] + 0.2 and sim_onnx[0, 1] > sim_onnx[0, 3]
    assert np.abs(sim_onnx - sim_torch).max() < 0.05


def test_long_texts_are_embedded_window_by_window(onnx: OnnxEmbedder) -> None:
    head = " ".join([TEXTS[0]] * 15)  # more than one window by itself
    tail = " ".join([TEXTS[3]] * 15)
    chunks, owner = onnx.windows([head + " " + tail])
    assert len(chunks) >= 3 and set(owner) == {0} and all(len(c) <= onnx.window for c in chunks)
    v_whole, v_head, v_tail = onnx.encode([head + " " + tail, head, tail])
    # What follows the first window counts: the whole text lies between its two halves.
    assert v_whole @ v_tail > v_head @ v_tail + 0.1


def test_auto_is_onnx_on_cpu_and_falls_back_to_torch_with_a_log_line(
    cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SYNTH_CACHE_DIR", str(cache))
    load_embedder.cache_clear()
    try:
        assert isinstance(load_embedder(DEFAULT_MODEL), OnnxEmbedder)
        load_embedder.cache_clear()
        monkeypatch.setattr(embed_onnx, "onnx_available", lambda: False)
        with caplog.at_level(logging.WARNING, logger=embed.__name__):
            fallback = load_embedder(DEFAULT_MODEL)
        assert isinstance(fallback, TransformerEmbedder) and fallback.name == DEFAULT_MODEL
        assert "onnxruntime is not installed" in caplog.text
        load_embedder.cache_clear()
        assert isinstance(load_embedder(DEFAULT_MODEL, runtime="torch"), TransformerEmbedder)
    finally:
        load_embedder.cache_clear()
