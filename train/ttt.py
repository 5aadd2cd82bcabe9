"""`train ttt RECIPE.yaml`: test-time training on nearest neighbours (Hardt & Sun 2023; FineMedLM-o1).

A FAISS index over the training conversations is built once (embeddings of their user side: what was asked
or heard, never the answers). For each held-out query: retrieve its k nearest training conversations (never
of the query's own case or problem), take a few gradient steps on their assistant tokens, score the query
(assistant-token NLL; optionally generate an answer), then restore the weights exactly: every parameter is
copied back from a snapshot (full mode) or the LoRA adapter is reset to its zero-initialised state (lora
mode, base weights frozen). `check_restore` verifies this with a checksum of every weight after each query.

The output puts perplexity with and without TTT side by side, overall and for neighbour-rich queries
(nearest neighbour at cosine >= rich_threshold) versus the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from train.common import seed_everything
from train.data import load_split
from train.lm import ConversationEncoder, Messages, generate, lm_loss, nll, perplexity
from train.models import load_model, load_tokenizer
from train.recipe import TTTRecipe, TTTSpec

# ------------------------------------------------------------------------------------------ retrieval


def query_text(messages: Messages) -> str:
    """What a conversation asks: its user turns (the system prompt is the same everywhere; answers excluded)."""
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def prompt_of(messages: Messages) -> Messages:
    """The conversation up to its first assistant turn: what a model is asked to answer."""
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            return messages[:i]
    return messages


def load_text_embedder(name: str) -> Any:
    import os

    from sentence_transformers import SentenceTransformer

    from schemas.embedded import embedded_minilm_path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = str(embedded_minilm_path()) if name == "all-MiniLM-L6-v2" else name
    return SentenceTransformer(path, device="cpu")


class NeighbourIndex:
    """Exact inner-product search over unit vectors (cosine); training sets for TTT are small enough."""

    def __init__(self, texts: list[str], groups: list[str | None], embedder: Any):
        import faiss

        self.embedder = embedder
        self.groups = groups
        vecs = self.embed(texts)
        self.index = faiss.IndexFlatIP(vecs.shape[1])
        self.index.add(vecs)

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        v = self.embedder.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return np.ascontiguousarray(v, dtype=np.float32)

    def search(
        self, texts: list[str], groups: list[str | None], k: int, exclude_above: float = 1.0
    ) -> list[list[tuple[int, float]]]:
        """k neighbours per query as (row, cosine), best first, skipping rows of the query's own group and
        rows so close they are copies of the query (cosine > exclude_above): training on the test item itself
        would measure memory, not test-time training."""
        extra = min(self.index.ntotal, k + 32)
        sims, ids = self.index.search(self.embed(texts), extra)
        out = []
        for q, group in enumerate(groups):
            picked = []
            for j, s in zip(ids[q], sims[q], strict=True):
                if j < 0 or (group is not None and self.groups[j] == group) or s > exclude_above:
                    continue
                picked.append((int(j), float(s)))
                if len(picked) == k:
                    break
            out.append(picked)
        return out


# ------------------------------------------------------------------------------ adapt, then restore


def checksum(model: Any) -> str:
    """blake2b over every parameter and buffer, by name: equal checksums mean bit-identical weights."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted([*model.named_parameters(), *model.named_buffers()], key=lambda x: x[0]):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class TestTimeTrainer:
    """Takes `spec.steps` gradient steps on given neighbours inside a context, and undoes them on exit."""

    __test__ = False  # not a pytest class

    def __init__(self, model: Any, encoder: ConversationEncoder, spec: TTTSpec):
        self.spec = spec
        self.encoder = encoder
        self.pad_id = encoder.tok.pad_token_id
        if spec.mode == "lora":
            from peft import get_peft_model

            from train.models import peft_config

            model = get_peft_model(model, peft_config(spec.lora))
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self._initial = None
        if spec.mode == "lora":
            # LoRA B starts at zero: the adapter's initial state is the identity; every query starts from it.
            self._initial = [p.detach().clone() for p in self.params]

    @contextlib.contextmanager
    def adapted(self, neighbours: list[Messages]) -> Iterator[dict[str, Any]]:
        import torch

        snapshot = self._initial or [p.detach().clone() for p in self.params]
        encs = [self.encoder.encode(m) for m in neighbours]
        encs = [e for e in encs if e.n_targets] or encs
        opt = torch.optim.AdamW(self.params, lr=self.spec.lr, weight_decay=0.0)
        losses: list[float] = []
        self.model.train()
        try:
            n = self.spec.batch_size
            for step in range(self.spec.steps):
                start = (step * n) % len(encs)
                batch = (encs[start:] + encs[:start])[:n]
                loss = lm_loss(self.model, batch, self.pad_id)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(float(loss.detach()))
            self.model.eval()
            yield {"ttt_losses": losses}
        finally:
            with torch.no_grad():
                for p, saved in zip(self.params, snapshot, strict=True):
                    p.copy_(saved)
                    p.grad = None
            self.model.eval()


# ----------------------------------------------------------------------------------------- the method


def _subset(pairs: list[tuple[float, int]], keep: list[bool]) -> float:
    return perplexity([p for p, k in zip(pairs, keep, strict=True) if k])


def train_ttt(recipe: TTTRecipe) -> dict[str, Any]:
    seed_everything(recipe.seed)
    spec = recipe.ttt
    train_ds = load_split(spec.index, "sft")
    query_ds = load_split(recipe.queries, "sft")
    tok = load_tokenizer(recipe.model)
    encoder = ConversationEncoder(tok, recipe.model.name, spec.max_length)
    train_msgs: list[Messages] = list(train_ds["messages"])
    queries: list[Messages] = list(query_ds["messages"])
    t_groups = list(train_ds["group"]) if "group" in train_ds.column_names else [None] * len(train_msgs)
    q_groups = list(query_ds["group"]) if "group" in query_ds.column_names else [None] * len(queries)

    index = NeighbourIndex([query_text(m) for m in train_msgs], t_groups, load_text_embedder(spec.embedder))
    hits = index.search([query_text(q) for q in queries], q_groups, spec.k, spec.exclude_above)
    model = load_model(recipe.model)
    ttt = TestTimeTrainer(model, encoder, spec)
    before = checksum(ttt.model) if spec.check_restore else None
    q_encs = [encoder.encode(q) for q in queries]
    base = nll(ttt.model, q_encs, encoder.tok.pad_token_id)
    base_answers = (
        generate(ttt.model, tok, [prompt_of(q) for q in queries], recipe.generation) if recipe.answer else []
    )

    rows = []
    adapted_pairs = []
    for i, q in enumerate(queries):
        nbrs = hits[i]
        with ttt.adapted([train_msgs[j] for j, _ in nbrs]) as info:
            after = nll(ttt.model, [q_encs[i]], encoder.tok.pad_token_id)[0]
            answer = generate(ttt.model, tok, [prompt_of(q)], recipe.generation)[0] if recipe.answer else None
        restored = checksum(ttt.model) == before if before is not None else None
        if restored is False:
            raise AssertionError(f"query {i}: weights differ after restoring them")
        adapted_pairs.append(after)
        rows.append({
            "query": i, "id": query_ds[i].get("id"), "nearest_cosine": nbrs[0][1] if nbrs else None,
            "neighbours": [{"row": j, "id": train_ds[j].get("id"), "cosine": s} for j, s in nbrs],
            "tokens": base[i][1], "ppl_base": perplexity([base[i]]), "ppl_ttt": perplexity([after]),
            "ttt_losses": info["ttt_losses"], "restored": restored,
            **({"answer_base": base_answers[i], "answer_ttt": answer} if recipe.answer else {}),
        })  # fmt: skip
    rich = [r["nearest_cosine"] is not None and r["nearest_cosine"] >= spec.rich_threshold for r in rows]
    summary = {
        "queries": len(rows), "neighbour_rich": sum(rich), "rich_threshold": spec.rich_threshold,
        "ppl_base": perplexity(base), "ppl_ttt": perplexity(adapted_pairs),
        "ppl_base_rich": _subset(base, rich), "ppl_ttt_rich": _subset(adapted_pairs, rich),
        "ppl_base_poor": _subset(base, [not r for r in rich]),
        "ppl_ttt_poor": _subset(adapted_pairs, [not r for r in rich]),
        "queries_improved": sum(r["ppl_ttt"] < r["ppl_base"] for r in rows),
        "weights_restored_every_query": all(r["restored"] for r in rows) if spec.check_restore else None,
        "spec": spec.model_dump(mode="json"), "model": recipe.model.name,
    }  # fmt: skip
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"summary": summary, "queries": rows}
    (out / "ttt_results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report
