"""Publishing: training views, the Hub's dataset layout, the dataset card, and the push to the Hub.

    options.py   PublishOptions (what to publish and how), PublishError
    views.py     rows of every config (sft, dpo, rl, and the full records) built from the records
    splits.py    split by case / problem group, from (seed, group) only
    layout.py    data/<config>/<split>-NNNNN-of-MMMMM.parquet with one fixed Arrow schema per config
    card.py      README.md (YAML header + body), plots, the secret guard
    builder.py   publish_folder: read inputs, merge into an existing folder, write it all, swap it in
    mix.py       the `mix:` option: external corpora into sft / dpo, scrubbed, decontaminated, deduplicated
    mix_formats.py  ShareGPT, TRL messages, prompt/completion, Q/A, MedQA, MedMCQA, preference rows
    push.py      push_folder: create the dataset repo and upload, with bounded retries; upload_plan

Heavy libraries (pyarrow, datasets, huggingface_hub, matplotlib) are imported inside the functions.
"""

from synth.publish.builder import PublishResult, publish_folder
from synth.publish.options import PublishError, PublishOptions

__all__ = ["PublishError", "PublishOptions", "PublishResult", "publish_folder"]
