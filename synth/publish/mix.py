"""Mix external corpora into the `sft` and `dpo` views: the `mix:` section of the publish options.

For each source, in order: read every row (a .jsonl/.json/.parquet file, a folder of them, a `datasets`
save_to_disk folder, or a Hub dataset id), turn it into view messages (mix_formats.py), scrub identifiers
from every message (synth.quality.phi, engine `rules` by default: the combined engine runs a spaCy model per
string, minutes per ten thousand rows on CPU, while a public corpus is already de-identified by its
publishers and the rules catch what they leave — labelled ids, phones, emails, addresses, titled names),
then, per view and over all sources together: decontaminate against benchmarks (synth.quality.decontam),
drop exact and near duplicates (synth.quality.dedup) — of one another and of the synthetic rows, which are
always kept — and finally take each source's share, by `count` or by `ratio` (external rows per synthetic
row of the view), in the order of sha256(seed, row id) so the choice is stable.

Every row left out for a reason — malformed (with `file:line`), holding what looks like a credential (the
card's SecretGuard), contaminated, duplicate — is one ledger
entry; the summary counts them per source, and also the rows not chosen because the share was smaller than
what was available. External rows carry `source = "external:<name>"`, their own group (one row per group),
and keyword labels (synth/labels.py: `label_source` "keywords", or "none" when no rule matches).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.publish.mix_formats import DPO_FORMATS, FORMATS, BadRow, detect, dpo_messages, sft_messages

Row = dict[str, Any]
Check = Callable[[str, str], None]  # (text, where): raises PublishError on a secret (card.SecretGuard.check)
HUB_TIMEOUT_S = 10.0  # a Hub that does not answer is an error quickly, never a hang


class MixSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="rows get source = external:<name>")
    path: Path | None = Field(default=None, description="a file, a folder of files or a save_to_disk folder")
    hub: str | None = Field(default=None, description="a Hub dataset id (needs the Hub reachable)")
    split: str | None = Field(default=None, description="the split of a DatasetDict (default: every split)")
    format: Literal["auto", *FORMATS] = Field(default="auto", description="auto: each row by its fields")  # type: ignore[valid-type]
    view: Literal["sft", "dpo"] | None = Field(
        default=None, description="default: dpo for preference, else sft"
    )
    licence: str = Field(min_length=1, description="the source's licence, recorded in the card")
    ratio: float | None = Field(default=None, ge=0, description="external rows per synthetic row of the view")
    count: int | None = Field(default=None, ge=0, description="at most this many rows")
    cop_base: Literal[0, 1] | None = Field(default=None, description="medmcqa: 0- or 1-based `cop`")
    system_prompt: str | None = Field(
        default=None, description="sft: prepended to rows without a system turn"
    )

    @model_validator(mode="after")
    def _check(self) -> MixSource:
        if (self.path is None) == (self.hub is None):
            raise ValueError(f"mix source {self.name}: give exactly one of path: or hub:")
        if self.ratio is not None and self.count is not None:
            raise ValueError(f"mix source {self.name}: give ratio: or count:, not both")
        if self.view is None:
            self.view = "dpo" if self.format in DPO_FORMATS else "sft"
        if self.format != "auto" and (self.format in DPO_FORMATS) != (self.view == "dpo"):
            raise ValueError(
                f"mix source {self.name}: format {self.format} cannot go into the {self.view} view"
            )
        return self

    def origin(self) -> str:
        """Where the rows came from, as the card says it: the Hub id, or the file or folder name."""
        return f"hub:{self.hub}" if self.hub else Path(str(self.path)).name


class MixDecontamination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    benchmarks: list[Path] = Field(
        min_length=1, description=".jsonl/.json/.parquet files or datasets folders"
    )
    field: str = "question"
    chars: int = Field(default=64, ge=16)


class MixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[MixSource] = Field(min_length=1)
    decontaminate: MixDecontamination | None = None
    near_dedup: float | None = Field(default=0.8, gt=0, le=1, description="Jaccard threshold; null: off")
    phi_engine: Literal["rules", "combined"] = "rules"

    @model_validator(mode="after")
    def _names(self) -> MixConfig:
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"mix: source names must be unique, repeated: {', '.join(dup)}")
        return self


def _error(msg: str) -> Exception:
    from synth.publish.options import PublishError

    return PublishError(msg)


# ------------------------------------------------------------------------------------------------ reading


def _dataset_rows(path: Path, split: str | None, label: str) -> list[tuple[str, Any]]:
    import importlib

    datasets: Any = importlib.import_module("datasets")  # by name: the repository has a datasets/ folder
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        splits = [split] if split else list(ds)
        missing = [s for s in splits if s not in ds]
        if missing:
            raise _error(f"mix: {label}: no split {missing[0]!r} (has {', '.join(ds)})")
        return [(f"{label}/{s}[{n}]", rec) for s in splits for n, rec in enumerate(ds[s], start=1)]
    return [(f"{label}[{n}]", rec) for n, rec in enumerate(ds, start=1)]


def read_rows(path: Path, split: str | None = None, label: str | None = None) -> list[tuple[str, Any]]:
    """(where, parsed row or SkipRecord) of a file, a folder of files or a save_to_disk folder; `where` is
    `file:line` (a row number for parquet and JSON arrays), or `folder/split[row]` for datasets."""
    from synth.cases.importers import iter_raw

    label = label or path.name
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return _dataset_rows(path, split, label)
        files = sorted(
            f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in {".jsonl", ".json", ".parquet"}
        )
        if split:
            files = [f for f in files if split in f.relative_to(path).as_posix()]
        if not files:
            raise _error(f"mix: {label}: no .jsonl/.json/.parquet file and no save_to_disk dataset")
        return [
            (f"{label}/{f.relative_to(path).as_posix()}:{n}", rec) for f in files for n, rec in iter_raw(f)
        ]
    if not path.exists():
        raise _error(f"mix: {path} does not exist")
    return [(f"{label}:{n}", rec) for n, rec in iter_raw(path)]


def hub_rows(source: MixSource) -> list[tuple[str, Any]]:
    """Download a Hub dataset's data files (jsonl/json/parquet) and read them; an unreachable Hub is an error
    naming the id, after at most HUB_TIMEOUT_S, never a wait."""
    from huggingface_hub import HfApi, snapshot_download

    hub = str(source.hub)
    try:
        HfApi().dataset_info(hub, timeout=HUB_TIMEOUT_S)
        local = snapshot_download(repo_id=hub, repo_type="dataset", etag_timeout=HUB_TIMEOUT_S,
                                  allow_patterns=["*.jsonl", "*.json", "*.parquet"])  # fmt: skip
    except Exception as e:  # offline mode, DNS, refused connection, 404: all mean the rows cannot be had
        raise _error(
            f"mix source {source.name}: cannot fetch Hub dataset {hub!r} ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}); download it and give its folder as path:"
        ) from None
    return read_rows(Path(local), source.split, label=hub)


# --------------------------------------------------------------------------------------------- conversion


def _scrub(msgs: list[dict[str, str]], engine: Any, sur: Any, counts: Counter[str]) -> list[dict[str, str]]:
    from synth.quality.phi import scrub_text

    out = []
    for m in msgs:
        text, c = scrub_text(m["content"], engine=engine, surrogates=sur)
        counts.update(c)
        out.append({"role": m["role"], "content": text})
    return out


def _passes(check: Check, row: Row, name: str, where: str, ledger: list[Row]) -> bool:
    """False (and a ledger line) for a row holding what looks like a credential: the card's guard would stop
    the whole publish for it, while one bad external row must only leave itself out."""
    from synth.publish.options import PublishError

    try:
        check(_text_of(row), f"{name}:{where}")
    except PublishError:
        ledger.append({"source": name, "where": where, "stage": "secret",
                       "reason": "secret: holds what looks like a credential (a key shape or a credential value)"})  # fmt: skip
        return False
    return True


def _text_of(row: Row) -> str:
    """What dedup, decontamination and the labels read: every non-system message."""
    parts = [row.get("messages", []), row.get("prompt", []), row.get("chosen", []), row.get("rejected", [])]
    return "\n".join(m["content"] for ms in parts for m in ms if m["role"] != "system")


def convert(source: MixSource, raw: list[tuple[str, Any]], engine: str, ledger: list[Row],
            stats: dict[str, Any], check: Check | None = None) -> list[Row]:  # fmt: skip
    """View rows of one source's raw rows, scrubbed; every row that cannot become one goes to the ledger."""
    from schemas.common import content_id
    from synth.cases.importers import SkipRecord
    from synth.labels import label_text
    from synth.publish.mix_formats import medmcqa_cop_base
    from synth.quality.phi import Surrogates

    cop_base: int | None = source.cop_base
    if cop_base is None:
        cop_base = medmcqa_cop_base([r.get("cop") for _, r in raw if isinstance(r, dict) and "opa" in r])
    formats: Counter[str] = Counter()
    phi: Counter[str] = Counter()
    scrubbed = 0
    out: list[Row] = []
    for where, rec in raw:
        try:
            if isinstance(rec, SkipRecord):
                raise BadRow(rec.reason)
            if not isinstance(rec, dict):
                raise BadRow(f"wrong_type: expected a JSON object, got {type(rec).__name__}")
            fmt = detect(rec) if source.format == "auto" else source.format
            if (fmt in DPO_FORMATS) != (source.view == "dpo"):
                raise BadRow(f"wrong_view: a {fmt} row in a source mixed into {source.view}")
            if fmt == "medmcqa" and cop_base is None:
                raise BadRow(
                    "bad_answer: cop base undecided (no 0 and no 4 among the source's cop); set cop_base:"
                )
            row: Row = {"source_id": f"{source.name}:{where}", "source": f"external:{source.name}"}
            before = sum(phi.values())
            sur = Surrogates()  # one per row: an identifier keeps one placeholder across its messages
            if source.view == "sft":
                msgs = sft_messages(rec, fmt, cop_base)
                if source.system_prompt and msgs[0]["role"] != "system":
                    msgs = [{"role": "system", "content": source.system_prompt}, *msgs]
                row["messages"] = _scrub(msgs, engine, sur, phi)
            else:
                prompt, chosen, rejected = dpo_messages(rec)
                row.update(prompt=_scrub(prompt, engine, sur, phi), chosen=_scrub(chosen, engine, sur, phi),
                           rejected=_scrub(rejected, engine, sur, phi))  # fmt: skip
        except BadRow as e:
            ledger.append({"source": source.name, "where": where, "stage": "malformed", "reason": str(e)})
            continue
        if check is not None and not _passes(check, row, source.name, where, ledger):
            continue
        formats[fmt] += 1
        scrubbed += sum(phi.values()) > before
        row["id"] = content_id(f"mix-{source.view}", source.name, where)
        row["group"] = row["id"]
        row.update(label_text(_text_of(row)).columns())
        out.append(row)
    mine = Counter(e["stage"] for e in ledger if e["source"] == source.name)
    stats.update(read=len(raw), malformed=mine["malformed"], secrets=mine["secret"], formats=dict(formats),
                 rows_scrubbed=scrubbed, phi_replacements=dict(phi))  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------------ cleaning


def _docs(rows: list[Row], prefix: str, view: str, synthetic: bool) -> list[Any]:
    from schemas.views import DPOExample, SFTExample
    from synth.quality.base import Doc

    model = SFTExample if view == "sft" else DPOExample
    return [Doc(table=view, id=f"{prefix}|{r['id']}", record=model.model_construct(**r), text=_text_of(r),
                group=r["group"], scores={"synthetic": 1.0 if synthetic else 0.0}) for r in rows]  # fmt: skip


def clean(
    view: str, synthetic: list[Row], external: list[Row], cfg: MixConfig, ledger: list[Row]
) -> list[Row]:
    """The external rows of one view that are not contaminated nor duplicates (of each other or of a
    synthetic row); the synthetic rows are never dropped here (the quality filter decides about those)."""
    from synth.quality.base import StageContext
    from synth.quality.config import NearDedupConfig
    from synth.quality.dedup import ExactDedupFilter, MinHashDedupFilter

    by_id = {r["id"]: r for r in external}
    names = {r["id"]: r["source_id"] for r in [*synthetic, *external]}

    def record(rid: str, stage: str, reason: str, dup: str | None = None) -> None:
        r = by_id[rid]
        entry = {"source": r["source"].split(":", 1)[1], "where": r["source_id"].split(":", 1)[1],
                 "stage": stage, "reason": reason}  # fmt: skip
        if dup is not None:
            kept = dup.split("|", 1)[1]
            entry["duplicate_of"] = names.get(kept, kept)
            entry["reason"] = reason.replace(dup, entry["duplicate_of"])
        ledger.append(entry)

    if cfg.decontaminate is not None and external:
        from synth.quality.config import DecontaminationConfig
        from synth.quality.decontam import DecontaminationFilter

        d = cfg.decontaminate
        stage = DecontaminationFilter(DecontaminationConfig(stage="decontaminate", benchmarks=d.benchmarks,
                                                            field=d.field, chars=d.chars))  # fmt: skip
        ctx = StageContext()
        try:
            kept_docs = asyncio.run(stage.run(_docs(external, "1", view, False), ctx))
        except (OSError, ValueError) as e:  # a benchmark missing, unreadable or without the field
            raise _error(f"mix: decontaminate: {e}") from None
        for drop in ctx.drops:
            record(drop.record_id.split("|", 1)[1], "decontaminate", drop.reason)
        keep = {doc.id.split("|", 1)[1] for doc in kept_docs}
        external = [r for r in external if r["id"] in keep]
    # Synthetic docs sort first ("0|" < "1|") and score higher: an exact or near duplicate keeps them.
    docs = _docs(synthetic, "0", view, True) + _docs(external, "1", view, False)
    stages: list[Any] = [ExactDedupFilter()]
    if cfg.near_dedup is not None:
        stages.append(MinHashDedupFilter(NearDedupConfig(stage="near_dedup", threshold=cfg.near_dedup,
                                                         keep_by=["synthetic"])))  # fmt: skip
    for st in stages:
        ctx = StageContext()
        asyncio.run(st.run(docs, ctx))
        dropped = set()
        for drop in ctx.drops:
            if drop.record_id.startswith("1|"):  # a synthetic row another one duplicates stays
                dropped.add(drop.record_id)
                record(drop.record_id.split("|", 1)[1], st.name, drop.reason, drop.duplicate_of)
        docs = [doc for doc in docs if doc.id not in dropped]
    keep = {doc.id.split("|", 1)[1] for doc in docs if doc.id.startswith("1|")}
    return [r for r in external if r["id"] in keep]


def _order(seed: int, rid: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{rid}".encode()).hexdigest()


def apply_mix(
    rows: dict[str, list[Row]], cfg: MixConfig, seed: int, check: Check | None = None
) -> tuple[list[Row], list[Row]]:
    """Add each source's share to rows["sft"] / rows["dpo"] (in place); returns (per-source summary, ledger)."""
    ledger: list[Row] = []
    stats: dict[str, dict[str, Any]] = {}
    converted: dict[str, list[Row]] = {"sft": [], "dpo": []}
    for s in cfg.sources:
        try:
            raw = hub_rows(s) if s.hub else read_rows(Path(str(s.path)), s.split)
        except (OSError, ValueError) as e:  # PublishError is a ValueError: say which source in every case
            raise _error(str(e) if str(e).startswith("mix") else f"mix source {s.name}: {e}") from None
        st = stats[s.name] = {"name": s.name, "from": s.origin(), "licence": s.licence, "view": s.view}
        converted[str(s.view)] += convert(s, raw, cfg.phi_engine, ledger, st, check)
    for view, external in converted.items():
        synthetic = [r for r in rows.get(view, []) if not str(r.get("source", "")).startswith("external:")]
        n_synth = len(synthetic)
        clean_rows = clean(view, synthetic, external, cfg, ledger) if external else []
        for s in (s for s in cfg.sources if s.view == view):
            mine = sorted((r for r in clean_rows if r["source"] == f"external:{s.name}"),
                          key=lambda r: _order(seed, r["id"]))  # fmt: skip
            want = (
                s.count if s.count is not None else round(s.ratio * n_synth) if s.ratio is not None else None
            )
            chosen = mine if want is None else mine[:want]
            st = stats[s.name]
            left = Counter(e["stage"] for e in ledger if e["source"] == s.name)
            st.update(contaminated=left.get("decontaminate", 0),
                      duplicates=left.get("exact_dedup", 0) + left.get("near_dedup", 0),
                      available=len(mine), requested=want, mixed=len(chosen),
                      not_chosen=len(mine) - len(chosen))  # fmt: skip
            rows.setdefault(view, []).extend(chosen)
        rows[view].sort(key=lambda x: x["id"])
    return [stats[s.name] for s in cfg.sources], ledger


def summary_line(s: Row) -> str:
    """One line per source for the CLI and the card."""
    short = (
        f" (asked {s['requested']})" if s["requested"] is not None and s["requested"] > s["available"] else ""
    )
    return (f"{s['name']} -> {s['view']}: {s['mixed']} mixed{short} of {s['read']} read; {s['malformed']} "
            f"malformed, {s['secrets']} with a secret, {s['contaminated']} contaminated, {s['duplicates']} duplicates, {s['not_chosen']} "
            f"beyond the share; {s['rows_scrubbed']} rows had identifiers scrubbed")  # fmt: skip


def write_ledger(stage: Path, summary: list[Row], ledger: list[Row]) -> None:
    """mix/ledger.jsonl (one line per row left out, with where and why) and mix/summary.json."""
    import json

    folder = stage / "mix"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "ledger.jsonl").open("w", encoding="utf-8") as f:
        for e in ledger:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
