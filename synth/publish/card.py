"""The dataset card (README.md): YAML header for the Hub and `datasets`, a body a person can read, the plots.

The header is a huggingface_hub `DatasetCardData`: one `configs` entry per config with a `data_files` glob
per split that has rows (empty splits are left out, so no config points at a file that does not exist),
`dataset_info` with the features and split sizes (written by `datasets` itself from the Arrow schemas),
licence, task categories, size category, language and tags. The body says what the data is, how it was made
(sources, teachers, prompt template ids + hashes, engine versions, configs), the filter funnel, token counts,
score distributions and the consultations' per-turn reasoning metrics (PNG plots under plots/), intended use,
and that it is not for clinical use.

No secret may appear: `SecretGuard` refuses any text holding the value of a credential-like environment
variable, a Hugging Face or OpenAI-style key, or a non-empty value under a credential-like key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from synth.publish.layout import CONFIGS, RECORD_CONFIGS, arrow_schema
from synth.publish.options import SPLITS, PublishError, PublishOptions
from synth.publish.rm import RM_TEXT

_SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization)$", re.IGNORECASE)
_SECRET_SHAPES = re.compile(r"\b(hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_-]{20,}|Bearer\s+[A-Za-z0-9._-]{20,})")
_NOT_SECRET = ("_PATH", "_FILE", "_DIR", "_HOME", "_URL", "_ENDPOINT")  # where a credential lives, not one
_MASKED = {"", "***", None}

CONFIG_TEXT = {
    "sft": "TRL conversational `messages` (SFTTrainer): consultations (system, user = what the doctor heard, "
    "assistant = the doctor) and verified reasoning traces (`## Thinking` / `## Final Response`)",
    "dpo": "TRL preference format `prompt` / `chosen` / `rejected` (DPOTrainer): correct vs incorrect final "
    "diagnoses of one case; verified vs failed reasoning chains of one problem",
    "rl": "`prompt` and ground-truth `answer` (+ `aliases`) for verifier-reward RL (GRPO)",
    "consultations": "every consultation as nested typed columns (`turns`: speaker, act, text, reasoning, `ddx` "
    "snapshot; `evaluation`, `final`, ...) + flat key columns (`correct`, `final_diagnosis`, ...)",
    "problems": "every verifiable problem as typed columns (`question`, `ground_truth`, `source`, `screens`) + "
    "flat key columns",
    "reasoning": "every searched reasoning trace, verified or not: the full `ReasoningTrace` as typed columns "
    "(`steps`: strategy, thinking, conclusion, verdict) + flat key columns",
    "cases": "the hidden case cards the consultations are about: the full `CaseCard` as typed columns (`facts`, "
    "`answer`, ...) + flat key columns",
    **RM_TEXT,
}


class SecretGuard:
    """Refuses text that holds a secret (see the module docstring); values are never printed."""

    def __init__(self) -> None:
        self.values = [
            v
            for k, v in os.environ.items()
            if _SECRET_ENV.search(k) and not k.upper().endswith(_NOT_SECRET) and len(v) >= 8
        ]

    def check(self, text: str, where: str) -> None:
        if any(v in text for v in self.values) or _SECRET_SHAPES.search(text):
            raise PublishError(f"refusing to publish: {where} contains what looks like a secret")
        if text.lstrip().startswith(("{", "[")):
            try:
                bad = _secret_keys(json.loads(text))
            except json.JSONDecodeError:
                bad = []
            if bad:
                raise PublishError(f"refusing to publish: {where} has a value under {bad[0]!r}")


def _secret_keys(obj: Any, path: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if _SECRET_KEY.search(str(k)) and not isinstance(v, dict | list) and v not in _MASKED:
                out.append(p)
            out += _secret_keys(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _secret_keys(v, f"{path}[{i}]")
    return out


def _tag(source: dict[str, Any]) -> str:
    base = source["run_ids"][0] if source["run_ids"] else source["name"]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{source['kind']}-{base}")


def write_plots_for(stage: Path, sources: list[dict[str, Any]]) -> list[str]:
    """plots/funnel-<source>.png per filtered source, plots/scores-<table>.png and (consultations)
    plots/truth-probability.png, via `synth report`'s code."""
    from synth.quality.report import write_plots

    out = stage / "plots"
    written: list[str] = []
    for s in sources:
        if not s.get("funnel"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            (scratch / "data").mkdir()
            (scratch / "funnel.json").write_text(json.dumps(s["funnel"]))
            write_plots(scratch)
            out.mkdir(exist_ok=True)
            name = f"funnel-{_tag(s)}.png"
            shutil.copyfile(scratch / "plots" / "funnel.png", out / name)
            written.append(f"plots/{name}")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        (scratch / "data").mkdir()
        (scratch / "funnel.json").write_text("[]")
        for table in RECORD_CONFIGS:
            if (stage / "data" / table).is_dir():
                (scratch / "data" / table).symlink_to((stage / "data" / table).resolve())
        for p in write_plots(scratch):
            if p.name.startswith(("scores-", "truth-probability")):
                out.mkdir(exist_ok=True)
                shutil.copyfile(p, out / p.name)
                written.append(f"plots/{p.name}")
    return written


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):  # fmt: skip
        if n < limit:
            return name
    return "10M<n<100M"


def card_data(
    opts: PublishOptions, counts: dict[str, dict[str, int]], sizes: dict[str, dict[str, int]]
) -> Any:
    """The YAML header: configs with per-split data_files, dataset_info (features, splits), tags, licence."""
    from datasets.features import Features
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from huggingface_hub import DatasetCardData

    configs = []
    infos = {}
    for config in CONFIGS:
        if config not in counts:
            continue
        splits = [s for s in SPLITS if counts[config].get(s)]
        entry: dict[str, Any] = {
            "config_name": config,
            "data_files": [{"split": s, "path": f"data/{config}/{s}-*.parquet"} for s in splits],
        }
        if config == "sft":
            entry["default"] = True
        configs.append(entry)
        sd = SplitDict()
        for s in splits:
            sd.add(SplitInfo(name=s, num_examples=counts[config][s], num_bytes=sizes[config][s]))
        infos[config] = DatasetInfo(features=Features.from_arrow_schema(arrow_schema(config)), splits=sd)
    data = DatasetCardData(
        pretty_name=opts.pretty_name,
        license=opts.license,
        language=["en"],
        task_categories=["text-generation", "question-answering"],
        size_categories=[size_category(max(sum(v.values()) for v in counts.values()))],
        tags=[
            "medical",
            "synthetic",
            "reasoning",
            "clinical-reasoning",
            "differential-diagnosis",
            "sft",
            "dpo",
        ],
        configs=configs,
    )
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


def _stats(merged: dict[str, dict[str, Any]]) -> dict[str, Any]:
    tokens: dict[str, Counter[str]] = defaultdict(Counter)
    by_model: dict[str, Counter[str]] = defaultdict(Counter)
    templates: Counter[tuple[str, int, str]] = Counter()
    engines: Counter[str] = Counter()
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for table, recs in merged.items():
        for r in recs.values():
            for k, v in (getattr(r, "scores", None) or {}).items():
                scores[table][k].append(float(v))
            prov = getattr(r, "provenance", None)
            if prov is None:
                continue
            engines[prov.engine_version] += 1
            for c in prov.calls:
                tokens[table].update(prompt=c.prompt_tokens, completion=c.completion_tokens, calls=1,
                                     cache_hits=int(c.cache_hit))  # fmt: skip
                by_model[f"{c.backend} / {c.model}"].update(
                    prompt=c.prompt_tokens, completion=c.completion_tokens, calls=1
                )
                if c.template is not None:
                    templates[(c.template.id, c.template.version, c.template.sha256)] += 1
    return {"tokens": tokens, "by_model": by_model, "templates": templates, "engines": engines,
            "scores": scores}  # fmt: skip


def _words(rows: list[dict[str, Any]]) -> int:
    n = 0
    for r in rows:
        for col in ("messages", "prompt", "chosen", "rejected"):
            for m in r.get(col) or []:
                n += len(m["content"].split())
    return n


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _body(opts: PublishOptions, merged: dict[str, dict[str, Any]], rows: dict[str, list[dict[str, Any]]],
          counts: dict[str, dict[str, int]], sources: list[dict[str, Any]], plots: list[str],
          mix: list[dict[str, Any]] | None = None) -> str:  # fmt: skip
    st = _stats(merged)
    out: list[str] = [f"# {opts.pretty_name}", ""]
    out += [
        "> **Synthetic data, not for clinical use.** Every consultation, question and reasoning chain here was "
        "written by language models and may be medically wrong. Do not use it to diagnose, treat or advise "
        "anyone. " + ("No real patient data was used." if not mix else "Besides the generated data, the "
                      "`sft`/`dpo` configs hold rows of the external corpora listed under *Mixed external "
                      "corpora* (their `source` column starts with `external:`)."), "",
        "Synthetic medical reasoning data made with medsynth: multi-turn differential-diagnosis consultations "
        "between a simulated doctor and patient over hidden case cards, and open-ended verifiable problems "
        "(rewritten from multiple-choice questions) with searched, verified reasoning chains.", "",
        "## Configs", "",
        _table(["config", *SPLITS, "what"],
               [[f"`{c}`", *[counts[c].get(s, 0) for s in SPLITS], CONFIG_TEXT[c]] for c in CONFIGS if c in counts]),
        "",
        "Splits are assigned per group — the case (consultations, cases) or the problem (problems, traces) — "
        f"by sha256 of (seed={opts.seed}, group), with fractions train/validation/test = "
        f"{'/'.join(str(f) for f in opts.fractions)}: one case never appears in two splits, and a group keeps "
        "its split when runs are added. A split that received no group is not listed.", "",
        "```python", "from datasets import load_dataset", "",
        'sft = load_dataset("REPO_OR_FOLDER", "sft")    # messages: TRL SFTTrainer as is',
        'dpo = load_dataset("REPO_OR_FOLDER", "dpo")    # prompt / chosen / rejected: TRL DPOTrainer',
        "```", "",
        f"Doctor reasoning in `sft`/`dpo`: **{opts.reasoning}**"
        + (" (inside `<reasoning>…</reasoning>` before the doctor's visible reply)." if opts.reasoning == "keep"
           else "."),
        f"Consultations in `sft`: {'all' if opts.all_consultations else 'only those whose final diagnosis was judged correct'}; "
        f"label-hinted traces in `sft`: {'yes' if opts.label_hinted else 'no'}. "
        "The full-record configs hold each record's fields as nested typed columns (structs, lists of "
        "structs; a `dict` field is a list of `key`/`value` structs; schemas in the medsynth package, "
        "`synth schema export`), listed in this card's `dataset_info`.", "",
    ]  # fmt: skip
    if opts.allow_phi:  # the publish gate's override: say so where every user of the dataset reads
        out += ["**PHI override:** published with `--allow-phi`: records the PHI scrubber still flagged were "
                "written as they are, without the check that refuses them.", ""]  # fmt: skip
    out += ["## How it was made", "", "### Sources", ""]
    out.append(_table(
        ["source", "kind", "runs", "engine", "records", "teachers"],
        [[s["name"], s["kind"], ", ".join(s["run_ids"]) or "-", s.get("engine_version") or "-",
          ", ".join(f"{k}: {v}" for k, v in s["records"].items()),
          ", ".join(f"{n} ({t['backend']}: {t['model']})" for n, t in s["teachers"].items()) or "-"]
         for s in sources],
    ))  # fmt: skip
    out += _mixed(mix or [])
    out += [
        "",
        "### Teachers and tokens",
        "",
        "Teacher tokens spent on the published records (from each record's provenance):",
        "",
    ]
    out.append(_table(["teacher (backend / model)", "calls", "prompt tokens", "completion tokens"],
                      [[k, v["calls"], f"{v['prompt']:,}", f"{v['completion']:,}"]
                       for k, v in sorted(st["by_model"].items())] or [["-", 0, 0, 0]]))  # fmt: skip
    out += [""]
    out.append(_table(["records", "calls", "prompt tokens", "completion tokens", "cache hits"],
                      [[t, v["calls"], f"{v['prompt']:,}", f"{v['completion']:,}", v["cache_hits"]]
                       for t, v in sorted(st["tokens"].items())] or [["-", 0, 0, 0, 0]]))  # fmt: skip
    out += [
        "",
        "Published text (whitespace-separated words in message contents): "
        + ", ".join(f"`{c}` {_words(rows[c]):,}" for c in ("sft", "dpo", "rl") if c in counts),
        "",
    ]
    out += ["### Prompt templates", ""]
    templates = {(k[0], k[1], k[2]): n for k, n in st["templates"].items()}
    for s in sources:
        for tid, t in (s.get("prompts") or {}).items():
            templates.setdefault((tid, t["version"], t["sha256"]), 0)
    out.append(_table(["template", "version", "sha256", "calls"],
                      [[i, v, f"`{h}`", n] for (i, v, h), n in sorted(templates.items())] or [["-", "-", "-", 0]]))  # fmt: skip
    out += [
        "",
        "Engine versions of the records: "
        + (", ".join(f"{v} ({n})" for v, n in sorted(st["engines"].items())) or "-"),
        "",
    ]
    out += _funnels(sources, plots)
    out += _scores(st["scores"], plots)
    out += _per_turn(merged.get("consultations", {}), plots)
    out += ["## Configuration of each source", ""]
    for s in sources:
        out += [f"<details><summary>{s['name']} ({s['kind']}, {', '.join(s['run_ids']) or 'no run id'})</summary>",
                "", "```json", json.dumps({"config": s.get("config"), "filter": s.get("filter_config")},
                                          indent=2, default=str), "```", "", "</details>", ""]  # fmt: skip
    licences = sorted({c.source.licence for c in merged.get("cases", {}).values() if c.source.licence})
    out += [
        "## Intended use", "",
        "Research on training and evaluating language models for medical reasoning: supervised fine-tuning "
        "(`sft`), preference optimisation (`dpo`), verifier-reward reinforcement learning (`rl`), and analysis "
        "of the generation process (full-record configs).", "",
        "**Not for clinical use.** This dataset must not be used for diagnosis, treatment, triage or any "
        "medical advice, nor to build systems that do so without independent clinical validation. The "
        "patients are fictional; facts, test results, diagnoses and reasoning were generated by models and "
        "checked only automatically (a lexical / LLM verifier against the case's answer).", "",
        "## Licence", "",
        f"`{opts.license}` for the generated text. Case cards and questions derived from source datasets keep "
        "those datasets' terms" + (f" (licences found in the cards: {', '.join(licences)})" if licences else "")
        + "; check them before redistribution."
        + "".join(f" Mixed rows of `external:{m['name']}` are under `{m['licence']}`." for m in mix or []), "",
    ]  # fmt: skip
    return "\n".join(out)


def _mixed(mix: list[dict[str, Any]]) -> list[str]:
    """What was mixed into sft / dpo, from where, under which licence (synth/publish/mix.py)."""
    if not mix:
        return []
    from synth.publish.mix import summary_line

    out = ["", "### Mixed external corpora", "",
           "Rows of these corpora were added to the views after identifier scrubbing, decontamination and "
           "dedup against each other and the synthetic rows (the ledger of left-out rows is `mix/ledger.jsonl` "
           "in the published folder). Their licences, not this dataset's, apply to those rows.", ""]  # fmt: skip
    out.append(_table(["source", "from", "licence", "view", "formats", "read", "mixed"],
                      [[f"`external:{m['name']}`", m["from"], m["licence"], m["view"],
                        ", ".join(f"{k} {v}" for k, v in sorted(m["formats"].items())) or "-", m["read"], m["mixed"]]
                       for m in mix]))  # fmt: skip
    out += ["", *[f"- {summary_line(m)}" for m in mix]]
    return out


def _funnels(sources: list[dict[str, Any]], plots: list[str]) -> list[str]:
    filtered = [s for s in sources if s.get("funnel")]
    out = ["## Filter funnel", ""]
    if not filtered:
        return [
            *out,
            "No quality filter was applied to these sources (`synth filter` writes the funnel).",
            "",
        ]
    for s in filtered:
        out += [f"**{s['name']}** ({', '.join(s['run_ids']) or 'no run id'})", ""]
        out.append(_table(["stage", "in", "out", "dropped"],
                          [[f["stage"], f["in"], f["out"], f["in"] - f["out"]] for f in s["funnel"]]))  # fmt: skip
        png = f"plots/funnel-{_tag(s)}.png"
        out += ["", f"![funnel]({png})" if png in plots else "", ""]
    return out


def _scores(scores: dict[str, dict[str, list[float]]], plots: list[str]) -> list[str]:
    out = ["## Score distributions", ""]
    rows = []
    for table in sorted(scores):
        for k, v in sorted(scores[table].items()):
            q = statistics.quantiles(v, n=10, method="inclusive") if len(v) > 1 else [v[0]] * 9
            rows.append([table, k, len(v), f"{statistics.fmean(v):.2f}", f"{q[0]:.2f}",
                         f"{statistics.median(v):.2f}", f"{q[8]:.2f}"])  # fmt: skip
    if not rows:
        return [*out, "No scores recorded.", ""]
    out.append(_table(["records", "score", "n", "mean", "p10", "median", "p90"], rows))
    out += [""] + [f"![{p}]({p})" for p in plots if p.startswith("plots/scores-")] + [""]
    return out


def _per_turn(consultations: dict[str, Any], plots: list[str]) -> list[str]:
    """The consultations' per-turn metrics (synth/dialogue/report.py, the same numbers as `synth report`)."""
    if not consultations:
        return []
    from synth.dialogue.report import per_turn_frame, per_turn_rows, per_turn_stats

    ordered = [consultations[k] for k in sorted(consultations)]
    stats = per_turn_stats(per_turn_frame(ordered))
    out = [
        "## Consultation reasoning, turn by turn", "",
        "Every doctor turn's differential is matched against the case's hidden answer (lexical match; "
        "\"unsure\" is not a hit). Brier score: multiclass over the differential plus an \"other\" mass "
        "(1 − the listed probabilities), 0 best, 2 a certain wrong differential; log score: −ln of the "
        "truth's probability (the \"other\" mass when it is not listed), floored at 0.01. A lucky guess is a "
        "correct final diagnosis that was in no earlier differential; premature closure a final diagnosis "
        "before every key fact of the case was elicited; broken snapshots were kept as written, flagged.", "",
        _table(["metric", "value"], [list(r) for r in per_turn_rows(stats, len(ordered))]), "",
    ]  # fmt: skip
    if "plots/truth-probability.png" in plots:
        out += ["![truth probability by turn](plots/truth-probability.png)", ""]
    return out


def write_card(stage: Path, opts: PublishOptions, merged: dict[str, dict[str, Any]],
               rows: dict[str, list[dict[str, Any]]], counts: dict[str, dict[str, int]],
               sizes: dict[str, dict[str, int]], sources: list[dict[str, Any]], plots: list[str],
               guard: SecretGuard, mix: list[dict[str, Any]] | None = None) -> Path:  # fmt: skip
    from huggingface_hub import DatasetCard

    body = _body(opts, merged, rows, counts, sources, plots, mix or [])
    text = f"---\n{card_data(opts, counts, sizes).to_yaml()}\n---\n\n{body}\n"
    guard.check(text, "the dataset card")
    DatasetCard(text)  # parses, or raises on a malformed header
    path = stage / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
