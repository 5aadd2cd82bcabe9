"""Token-level helpers shared by evaluation and test-time training: assistant-token NLL and batched generation.

A conversation is scored on its assistant tokens only (the same mask SFT trains on: the chat template's
`{% generation %}` spans, models.training_chat_template), so held-out perplexity measures what SFT teaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from train.models import training_chat_template
from train.recipe import GenerationSpec
from train.reward import FORMAT_PROMPT

Messages = list[dict[str, str]]


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # -100 outside assistant tokens

    @property
    def n_targets(self) -> int:
        return sum(1 for t in self.labels if t != -100)


class ConversationEncoder:
    """Tokenises conversations with an assistant mask, through a template equivalent to the model's own."""

    def __init__(self, tok: Any, model_name: str, max_length: int = 2048):
        self.tok = tok
        self.template = training_chat_template(tok, model_name) or tok.chat_template
        self.max_length = max_length

    def encode(self, messages: Messages) -> Encoded:
        out = self.tok.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
            chat_template=self.template,
        )  # fmt: skip
        ids = list(out["input_ids"])[: self.max_length]
        mask = list(out["assistant_masks"])[: self.max_length]
        return Encoded(ids, [t if m else -100 for t, m in zip(ids, mask, strict=True)])


def _batch(encs: list[Encoded], pad_id: int) -> tuple[Any, Any, Any]:
    import torch

    n = max(len(e.input_ids) for e in encs)
    ids = torch.full((len(encs), n), pad_id, dtype=torch.long)
    labels = torch.full((len(encs), n), -100, dtype=torch.long)
    attn = torch.zeros((len(encs), n), dtype=torch.long)
    for i, e in enumerate(encs):
        ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
        attn[i, : len(e.input_ids)] = 1
    return ids, labels, attn


def lm_loss(model: Any, encs: list[Encoded], pad_id: int) -> Any:
    """Mean NLL over the assistant tokens of a batch (a tensor with a graph, for training)."""
    ids, labels, attn = _batch(encs, pad_id)
    dev = next(model.parameters()).device
    return model(input_ids=ids.to(dev), attention_mask=attn.to(dev), labels=labels.to(dev)).loss


def nll(model: Any, encs: list[Encoded], pad_id: int, batch_size: int = 8) -> list[tuple[float, int]]:
    """(summed NLL in nats, assistant tokens) per conversation."""
    import torch

    dev = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(encs), batch_size):
            chunk = encs[s : s + batch_size]
            ids, labels, attn = _batch(chunk, pad_id)
            logits = model(input_ids=ids.to(dev), attention_mask=attn.to(dev)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            target = labels[:, 1:].to(dev)
            mask = target != -100
            picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            for i in range(len(chunk)):
                out.append((float(-(picked[i][mask[i]]).sum()), int(mask[i].sum())))
    return out


def perplexity(pairs: list[tuple[float, int]]) -> float:
    tokens = sum(n for _, n in pairs)
    return math.exp(sum(x for x, _ in pairs) / tokens) if tokens else float("nan")


def with_system(messages: Messages, spec: GenerationSpec) -> Messages:
    """Prompts without a system message get the format prompt (or the recipe's own)."""
    if messages and messages[0]["role"] == "system":
        return messages
    return [{"role": "system", "content": spec.system_prompt or FORMAT_PROMPT}, *messages]


def generate(model: Any, tok: Any, prompts: list[Messages], spec: GenerationSpec) -> list[str]:
    """Batched generation (left padding), greedy unless temperature > 0."""
    import torch

    dev = next(model.parameters()).device
    texts: list[str] = []
    model.eval()
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        for s in range(0, len(prompts), spec.batch_size):
            chunk = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                     for p in prompts[s : s + spec.batch_size]]  # fmt: skip
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
            sample = spec.temperature > 0
            with torch.inference_mode():
                out = model.generate(
                    **enc, max_new_tokens=spec.max_new_tokens, do_sample=sample,
                    temperature=spec.temperature if sample else None, top_p=None, top_k=None,
                    pad_token_id=tok.pad_token_id,
                )  # fmt: skip
            new = out[:, enc["input_ids"].shape[1] :]
            texts += tok.batch_decode(new, skip_special_tokens=True)
    finally:
        tok.padding_side = side
    return texts
