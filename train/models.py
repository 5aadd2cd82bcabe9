"""Load the model and tokenizer a recipe names, and check them before any training starts.

`embedded` resolves to the shipped SmolLM2-135M-Instruct (schemas/embedded.py: the same checkpoint the
generator uses). A model without a chat template is an error: every view is conversational. Assistant-only
loss needs a chat template with `{% generation %}` markers; TRL patches the templates it knows, and for the
ChatML family (SmolLM2, Qwen2, ...) the template is rebuilt here with markers — used only after it renders
byte-identically to the model's own on probe conversations, so training sees exactly what inference sees.
"""

from __future__ import annotations

import os
from typing import Any

from train.recipe import LoRASpec, ModelSpec


class ModelError(ValueError):
    """The model or its tokenizer cannot be used for this recipe; raised before any training."""


def model_path(spec: ModelSpec) -> str:
    from schemas.embedded import resolve_model

    return resolve_model(spec.name)


def _offline_if_local(path: str) -> None:
    if os.path.isdir(path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_tokenizer(spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    path = model_path(spec)
    _offline_if_local(path)
    tok = AutoTokenizer.from_pretrained(
        path, revision=spec.revision, trust_remote_code=spec.trust_remote_code
    )
    if not getattr(tok, "chat_template", None):
        raise ModelError(
            f"{spec.name}: the tokenizer has no chat template; the published views are conversations "
            "(messages), so use an instruct/chat model or give the tokenizer a chat template first"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(spec: ModelSpec, **kwargs: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    path = model_path(spec)
    _offline_if_local(path)
    dtype: Any = spec.dtype if spec.dtype == "auto" else getattr(torch, spec.dtype)
    extra = {"attn_implementation": spec.attn_implementation} if spec.attn_implementation else {}
    return AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, revision=spec.revision, trust_remote_code=spec.trust_remote_code, **extra, **kwargs
    )


def peft_config(lora: LoRASpec | None, task_type: str = "CAUSAL_LM") -> Any:
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
        task_type=task_type,
    )  # fmt: skip


# ------------------------------------------------------------------ chat templates for assistant-only loss

_PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Where does it hurt?"}, {"role": "assistant", "content": "Here."}],
    [
        {"role": "system", "content": "You are a doctor."},
        {"role": "user", "content": "Patient: my chest hurts."},
        {"role": "assistant", "content": "<reasoning>\nACS?\n</reasoning>\n\nSince when?"},
        {"role": "user", "content": "Patient: two hours."},
        {"role": "assistant", "content": "Final diagnosis: angina"},
    ],
]


def _chatml(default_system: str | None) -> str:
    head = (
        "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
        + default_system.replace("\\", "\\\\").replace("'", "\\'")
        + "<|im_end|>\\n' }}{% endif %}"
        if default_system is not None
        else ""
    )
    return (
        "{% for message in messages %}" + head + "{% if message['role'] == 'assistant' %}"
        "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
        "{% endgeneration %}{{ '\\n' }}{% else %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )


def _renders_like(tok: Any, template: str) -> bool:
    for conv in _PROBES:
        for gen in (False, True):
            msgs = conv[:-1] if gen else conv
            own = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
            ours = tok.apply_chat_template(
                msgs, tokenize=False, add_generation_prompt=gen, chat_template=template
            )
            if own != ours:
                return False
    return True


def training_chat_template(tok: Any, model_name: str) -> str | None:
    """A template with `{% generation %}` markers equivalent to the model's; None if it already has them."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tok.chat_template):
        return None
    try:
        patched = get_training_chat_template(tok)
    except ValueError:
        patched = None
    if patched is not None:
        return str(patched)
    user_only = tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    default_system = None
    if user_only.startswith("<|im_start|>system\n"):
        default_system = user_only[len("<|im_start|>system\n") :].split("<|im_end|>", 1)[0]
    candidate = _chatml(default_system)
    if _renders_like(tok, candidate):
        return candidate
    raise ModelError(
        f"{model_name}: its chat template has no {{% generation %}} markers and no training template is "
        "known for it, so the loss cannot be limited to assistant turns; set `assistant_only_loss: false` "
        "under trainer: (loss on every token) or give `chat_template_path:` a template with the markers"
    )
