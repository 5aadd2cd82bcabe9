"""Semantic dedup: components and the kept member, the never-both-of-a-pair rule on exact and approximate
indexes, incremental runs against a saved index; one run of the real embedded MiniLM on paraphrases."""

from __future__ import annotations

import numpy as np
import pytest

from schemas import VerifiableProblem
from synth.quality.base import Doc, StageContext
from synth.quality.config import SemanticDedupConfig
from synth.quality.semantic import FaissDedupFilter, IndexMismatch

DIM = 32


class FakeEmbedder:
    """Vectors chosen by the test, looked up by text (unit-normalised like the real ones)."""

    def __init__(self, vectors: dict[str, np.ndarray], name: str = "fake", dim: int = DIM):
        self.vectors, self.name, self.dim = vectors, name, dim

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        v = np.stack([self.vectors[t] for t in texts]).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def doc(i: str, text: str | None = None, table: str = "problems", **scores: float) -> Doc:
    text = text or f"text {i}"
    rec = VerifiableProblem(id=i, question=text, ground_truth="x")
    return Doc(table=table, id=i, record=rec, text=text, group=i, scores=dict(scores))


def with_cosine(base: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly `cos` from the unit vector `base`."""
    noise = rng.standard_normal(base.shape)
    noise -= (noise @ base) * base
    noise /= np.linalg.norm(noise)
    return cos * base + np.sqrt(1 - cos**2) * noise


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


async def run(stage: FaissDedupFilter, docs: list[Doc]) -> tuple[list[Doc], StageContext]:
    ctx = StageContext()
    kept = await stage.run(docs, ctx)
    return kept, ctx


def check_invariants(
    docs: list[Doc], kept: list[Doc], ctx: StageContext, vecs: dict[str, np.ndarray], thr: float
):
    kept_ids = {d.id for d in kept}
    dropped = {d.record_id: d for d in ctx.drops}
    assert kept_ids | set(dropped) == {d.id for d in docs} and not kept_ids & set(dropped)
    for d in ctx.drops:
        assert d.duplicate_of in kept_ids, f"{d.record_id} points at {d.duplicate_of}, which was dropped"
    # A pair whose members are both dropped was dropped in favour of one kept member of their group.
    texts = {d.id: d.text for d in docs}
    ids = sorted(texts)
    for a in ids:
        for b in ids:
            if a < b and a in dropped and b in dropped and float(vecs[texts[a]] @ vecs[texts[b]]) >= thr:
                assert dropped[a].duplicate_of == dropped[b].duplicate_of, f"{a} and {b} both dropped apart"


async def test_component_keeps_best_scored_member():
    rng = np.random.default_rng(0)
    a = unit(rng)
    b = with_cosine(a, 0.95, rng)
    c = with_cosine(b, 0.95, rng)  # a–c may be below the threshold: joined through b
    vecs = {"A": a, "B": b, "C": c, "D": unit(rng)}
    docs = [
        doc("a", "A", quality=5),
        doc("b", "B", quality=7),
        doc("c", "C", quality=9),
        doc("d", "D", quality=1),
    ]
    stage = FaissDedupFilter(SemanticDedupConfig(stage="semantic_dedup", threshold=0.9), FakeEmbedder(vecs))
    kept, ctx = await run(stage, docs)
    assert [d.id for d in kept] == ["c", "d"]
    assert {(d.record_id, d.duplicate_of) for d in ctx.drops} == {("a", "c"), ("b", "c")}
    assert all(d.stage == "semantic_dedup" and d.reason.startswith("cosine ") for d in ctx.drops)
    s = stage.summary["problems"]
    assert (s["in"], s["pairs"], s["components"], s["dropped"], s["index"]) == (4, 2, 1, 2, "flat")


async def test_keep_order_missing_score_then_length_then_id():
    rng = np.random.default_rng(1)
    a = unit(rng)
    vecs = {"short": a, "a much longer text": with_cosine(a, 0.97, rng), "same": with_cosine(a, 0.97, rng)}
    cfg = SemanticDedupConfig(stage="semantic_dedup", threshold=0.9, keep_by=["quality", "complexity"])
    # A record without a quality score ranks below one with any quality score.
    docs = [doc("x", "short", quality=2), doc("y", "a much longer text", complexity=10)]
    kept, _ = await run(FaissDedupFilter(cfg, FakeEmbedder(vecs)), docs)
    assert [d.id for d in kept] == ["x"]
    # Equal scores: the longest text, then the smallest id.
    kept, _ = await run(
        FaissDedupFilter(cfg, FakeEmbedder(vecs)), [doc("x", "short"), doc("y", "a much longer text")]
    )
    assert [d.id for d in kept] == ["y"]
    vecs2 = {"t1": a, "t2": with_cosine(a, 0.99, rng)}
    kept, ctx = await run(FaissDedupFilter(cfg, FakeEmbedder(vecs2)), [doc("q", "t2"), doc("p", "t1")])
    assert [d.id for d in kept] == ["p"] and ctx.drops[0].duplicate_of == "p"


async def test_tables_are_deduped_apart():
    v = unit(np.random.default_rng(2))
    docs = [doc("a", "same", table="problems"), doc("b", "same", table="reasoning")]
    kept, ctx = await run(
        FaissDedupFilter(SemanticDedupConfig(stage="semantic_dedup"), FakeEmbedder({"same": v})), docs
    )
    assert len(kept) == 2 and not ctx.drops


def planted(
    n: int, pairs: int, seed: int, dim: int = DIM
) -> tuple[list[Doc], dict[str, np.ndarray], set[tuple[str, str]]]:
    """n random vectors; the first `pairs` get a partner at cosine 0.93-0.99 (the partner is appended)."""
    rng = np.random.default_rng(seed)
    vecs = {f"t{i}": unit(rng, dim) for i in range(n)}
    truth = set()
    for i in range(pairs):
        vecs[f"t{n + i}"] = with_cosine(vecs[f"t{i}"], rng.uniform(0.93, 0.99), rng)
        truth.add((f"d{i:05d}", f"d{n + i:05d}"))
    docs = [doc(f"d{int(t[1:]):05d}", t, quality=float(rng.integers(0, 5))) for t in vecs]
    return docs, vecs, truth


@pytest.mark.parametrize("index", ["flat", "ivf", "hnsw", "auto"])
async def test_index_kinds_find_planted_pairs_and_never_drop_both(index):
    docs, vecs, truth = planted(3000, 150, seed=3)
    # exact_max below n: `auto` must pick an approximate index.
    cfg = SemanticDedupConfig(stage="semantic_dedup", threshold=0.9, index=index, exact_max=1000)
    stage = FaissDedupFilter(cfg, FakeEmbedder(vecs))
    kept, ctx = await run(stage, docs)
    assert stage.summary["problems"]["index"] == ("ivf" if index == "auto" else index)
    found = {tuple(sorted((d.record_id, d.duplicate_of))) for d in ctx.drops}
    assert len(found & truth) >= 0.98 * len(truth)
    assert not found - truth, "random 32-d vectors are never this close"
    check_invariants(docs, kept, ctx, {t: v / np.linalg.norm(v) for t, v in vecs.items()}, 0.9)


async def test_chains_and_clusters_point_at_a_kept_member():
    rng = np.random.default_rng(4)
    vecs, docs = {}, []
    for c in range(20):  # clusters of up to 6 near-identical texts, plus chains where the ends are far apart
        base = unit(rng)
        for m in range(int(rng.integers(1, 7))):
            base = with_cosine(base, 0.92, rng) if c % 2 else with_cosine(base, 0.99, rng)
            vecs[f"c{c}m{m}"] = base
            docs.append(doc(f"c{c:02d}m{m}", f"c{c}m{m}", quality=float(rng.integers(0, 3))))
    kept, ctx = await run(
        FaissDedupFilter(SemanticDedupConfig(stage="semantic_dedup", threshold=0.9), FakeEmbedder(vecs)), docs
    )
    check_invariants(docs, kept, ctx, vecs, 0.9)
    assert len(kept) == 20  # one per cluster: consecutive members are always within the threshold


async def test_incremental_against_saved_index(tmp_path):
    rng = np.random.default_rng(5)
    base = {f"e{i}": unit(rng) for i in range(6)}
    vecs = dict(base)
    vecs["dup-of-e0"] = with_cosine(base["e0"], 0.97, rng)
    vecs["n1"] = unit(rng)
    vecs["n2"] = with_cosine(vecs["n1"], 0.96, rng)
    emb = FakeEmbedder(vecs)
    cfg = SemanticDedupConfig(stage="semantic_dedup", threshold=0.9, index_dir=tmp_path / "idx")

    first = [doc(f"r1-{t}", t) for t in base]
    kept, ctx = await run(FaissDedupFilter(cfg, emb), first)
    assert len(kept) == 6 and not ctx.drops
    meta = (tmp_path / "idx" / "problems" / "meta.json").read_text()
    assert '"model": "fake"' in meta and '"count": 6' in meta

    # The new duplicate of e0 scores higher than anything, still the earlier record wins; a record already
    # indexed (same id) is kept and not added twice; the two new near-duplicates keep one.
    second = [
        doc("r2-a", "dup-of-e0", quality=10),
        doc("r1-e1", "e1"),
        doc("r2-b", "n1"),
        doc("r2-c", "n2"),
    ]
    stage = FaissDedupFilter(cfg, emb)
    kept, ctx = await run(stage, second)
    assert {d.id for d in kept} == {"r1-e1", "r2-b"}
    by_id = {d.record_id: d for d in ctx.drops}
    assert by_id["r2-a"].duplicate_of == "r1-e0" and "earlier run" in by_id["r2-a"].reason
    assert by_id["r2-c"].duplicate_of == "r2-b"
    s = stage.summary["problems"]
    assert (s["earlier"], s["already_indexed"], s["dropped_vs_earlier"], s["saved"]) == (6, 1, 1, 7)
    ids = (tmp_path / "idx" / "problems" / "ids.txt").read_text().split()
    assert ids == [f"r1-{t}" for t in base] + ["r2-b"]

    # The third run grows past exact_max: the saved flat index is rebuilt as IVF and still finds duplicates.
    vecs["late"] = with_cosine(vecs["n1"], 0.95, rng)
    cfg3 = cfg.model_copy(update={"exact_max": 3})
    kept, ctx = await run(FaissDedupFilter(cfg3, emb), [doc("r3", "late"), doc("r3-new", "e5")])
    assert kept == []
    assert {(d.record_id, d.duplicate_of) for d in ctx.drops} == {("r3", "r2-b"), ("r3-new", "r1-e5")}
    assert '"index": "ivf"' in (tmp_path / "idx" / "problems" / "meta.json").read_text()
    assert not list((tmp_path / "idx").glob(".*")), "no temporary or old folder is left behind"


async def test_saved_index_of_another_model_is_refused(tmp_path):
    v = {"a": unit(np.random.default_rng(6))}
    cfg = SemanticDedupConfig(stage="semantic_dedup", index_dir=tmp_path)
    await run(FaissDedupFilter(cfg, FakeEmbedder(v, name="model-a")), [doc("x", "a")])
    with pytest.raises(IndexMismatch, match="model-a"):
        await run(FaissDedupFilter(cfg, FakeEmbedder(v, name="model-b")), [doc("y", "a")])
    v64 = {"a": np.ones(64)}
    with pytest.raises(IndexMismatch, match="64-d"):
        await run(FaissDedupFilter(cfg, FakeEmbedder(v64, name="model-a", dim=64)), [doc("y", "a")])


@pytest.mark.slow
async def test_embedded_minilm_dedups_paraphrases_not_distinct_cases():
    texts = {
        "mi": "A 62-year-old man has had crushing central chest pain radiating to his left arm for an hour, with "
        "sweating and nausea. The ECG shows ST elevation in leads II, III and aVF.",
        "mi-para": "For the last hour a 62-year-old man has had crushing central chest pain radiating to the left "
        "arm, with nausea and sweating. ST elevation is seen in leads II, III and aVF on the ECG.",
        "pe": "A 34-year-old woman on the combined pill has sudden pleuritic chest pain and breathlessness after a "
        "long flight; her right calf is swollen and her heart rate is 118.",
        "meningitis": "A 19-year-old student has fever, severe headache, neck stiffness and a non-blanching rash "
        "that appeared this morning.",
        "meningitis-para": "This morning a 19-year-old student developed a non-blanching rash, together with "
        "fever, a severe headache and a stiff neck.",
        "migraine": "A 19-year-old student has a throbbing one-sided headache with nausea and sensitivity to light, "
        "like the attacks she has had every few months since she was 14.",
    }
    docs = [doc(k, t) for k, t in texts.items()]
    stage = FaissDedupFilter(SemanticDedupConfig(stage="semantic_dedup"))
    kept, ctx = await run(stage, docs)
    # Of each paraphrase pair the longer text is kept (no scores).
    assert {(d.record_id, d.duplicate_of) for d in ctx.drops} == {
        ("mi", "mi-para"),
        ("meningitis", "meningitis-para"),
    }
    assert {d.id for d in kept} >= {"pe", "migraine"}
    assert stage.summary["problems"]["model"] == "all-MiniLM-L6-v2"
