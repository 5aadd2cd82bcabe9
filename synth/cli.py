"""The `synth` command line. Heavy libraries are imported inside commands, so `synth --help` is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from synth.cases.cases_cli import cases_app
from synth.verify.verify_cli import verify_command

app = typer.Typer(
    name="synth",
    help="Generate synthetic medical reasoning data (cases, consultations, verifiable problems). "
    "Everything generated is synthetic and not for clinical use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="The record contract (JSON Schema).", no_args_is_help=True)
cache_app = typer.Typer(help="The request cache.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(cache_app, name="cache")
app.add_typer(cases_app, name="cases")
app.command("verify")(verify_command)


# `synth run` exit codes (README, "Exit codes"). 2 is every usage or configuration error, as for any command.
EXIT_CONFIG = 2
# 3: finished, but items failed on transport faults; the next plain `synth run` retries them.
EXIT_TRANSIENT = 3
# 4: stopped, a teacher cannot be reached (before the first item, or down past its breaker's patience).
EXIT_UNREACHABLE = 4
# 5: stopped, the output folder cannot be written (disk full, read-only); finished items are kept.
EXIT_OUTPUT = 5


def _fail(msg: str, code: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(msg, err=True)
    raise typer.Exit(code) from None


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    from schemas.yamlfile import ConfigError, parse_sets

    try:
        return parse_sets(sets)
    except ConfigError as e:
        _fail(str(e))
        raise


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML file describing the job")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="estimate requests and tokens; send nothing")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="neither read nor write the request cache")
    ] = False,
    retry_quarantined: Annotated[
        bool,
        typer.Option("--retry-quarantined", help="try quarantined items again (transient ones always are)"),
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="override run.output")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config value: --set cases.synthesize.n=20")
    ] = None,
    plain: Annotated[bool, typer.Option("--plain", help="log lines instead of a live display")] = False,
    executor: Annotated[
        str | None, typer.Option("--executor", help="local (default) | ray: partitions as Ray tasks")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="ray: auto | ray://HOST:PORT (default a local Ray)")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="ray: partitions run at once")] = None,
) -> None:
    """Run (or resume) the generation job described by CONFIG."""
    import asyncio

    from synth.config import ConfigError, load_config

    overrides = _parse_sets(set_ or [])
    if output is not None:
        overrides["run.output"] = str(output.resolve())
    for key, value in (("executor", executor), ("address", address), ("workers", workers)):
        if value is not None:
            overrides[f"run.{key}"] = value
    try:
        cfg = load_config(config, overrides)
    except ConfigError as e:
        _fail(str(e))
    from synth.progress import make_display
    from synth.runner import RunLocked, Runner, build_jobs
    from synth.store.errors import OutputWriteError
    from synth.teachers.errors import TeacherUnavailable

    try:
        jobs = build_jobs(cfg)
    except ValueError as e:
        _fail(f"{config}: {e}")
    if not jobs:
        _fail(
            f"{config}: no job configured (add a `cases:`, `consultations:`, `problems:` or "
            "`reasoning:` section)"
        )
    runner = Runner(
        cfg,
        use_cache=not no_cache,
        retry_quarantined=retry_quarantined,
        display=make_display(force_plain=plain),
    )
    from synth.problems.source import SourceError

    if dry_run:
        try:
            _print_estimates(runner.estimate(jobs), cfg)
        except SourceError as e:
            _fail(f"error: {e}")
        return
    try:
        if cfg.run.executor == "ray":
            from synth.executors.ray_executor import PartitionsMismatch, RayExecutor

            try:
                ray_run = RayExecutor(
                    cfg, use_cache=not no_cache, retry_quarantined=retry_quarantined, display=runner.display
                )
                result = ray_run.run(jobs)
            except PartitionsMismatch as e:
                _fail(f"error: {e}")
        else:
            result = asyncio.run(runner.run(jobs))
    except (RunLocked, SourceError) as e:
        _fail(f"error: {e}" if isinstance(e, SourceError) else str(e))
    except TeacherUnavailable as e:
        _fail(
            f"error: {e}\nstopped; nothing was quarantined for it and finished items are kept. Run the same "
            f"command again once the teacher is reachable ({cfg.run.output}).",
            EXIT_UNREACHABLE,
        )
    except OutputWriteError as e:
        _fail(
            f"error: {e}\nstopped; finished items are kept. Free some space (or make the folder writable) and "
            f"run the same command again to resume ({cfg.run.output}).",
            EXIT_OUTPUT,
        )
    except KeyboardInterrupt:
        _fail(
            f"interrupted; finished items are kept. Run the same command again to resume ({cfg.run.output}).",
            130,
        )
    _print_result(result)
    if any(j.job == "reasoning" for j in result.jobs):
        from synth.problems.views import write_views

        counts = write_views(result.output)
        typer.echo(f"  views:      {result.output / 'views'} ({_counts(counts)})")
    if cfg.filter is not None and result.status == "completed":
        from synth.quality.pipeline import FilterError, filter_with_teachers

        try:
            res = asyncio.run(
                filter_with_teachers(
                    cfg.run.output,
                    cfg.run.output / "filtered",
                    cfg.filter,
                    cfg.teachers,
                    cache_path=cfg.run.cache.path or cfg.run.output / "cache.sqlite",
                    force=True,
                    seed=cfg.run.seed,
                )
            )
        except FilterError as e:
            _fail(f"filter: {e}")
        except TeacherUnavailable as e:  # a judge teacher down past its breaker's patience
            _fail(f"filter: {e}", EXIT_UNREACHABLE)
        _print_filter(res)
    if result.transient:
        typer.echo(
            f"{result.transient} item(s) failed on transport faults (see the quarantine); the next "
            "`synth run` of this config tries them again.",
            err=True,
        )
        raise typer.Exit(EXIT_TRANSIENT)


def _print_filter(res: Any) -> None:
    kept = ", ".join(f"{k}: {v}" for k, v in res.kept.items()) or "nothing"
    typer.echo(f"  filtered:   {res.out} (kept {kept}; {res.dropped} in the ledger)")
    typer.echo(f"  report:     synth report {res.out}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def _print_estimates(estimates: list[Any], cfg: Any) -> None:
    typer.echo("Dry run: nothing sent, nothing written.")
    tot_req = tot_prompt = tot_compl = 0
    for e in estimates:
        teachers = ", ".join(f"{n} ({cfg.teachers[n].backend}: {cfg.teachers[n].model})" for n in e.teachers)
        typer.echo(f"{e.job}: {e.items_total} items, {e.items_todo} to do")
        typer.echo(
            f"  requests: {e.requests} expected, up to {e.requests_max} with every re-ask; "
            f"{e.cached_requests} already in the request cache (free)"
        )
        typer.echo(
            f"  tokens:   about {e.prompt_tokens:,} prompt, at most {e.completion_tokens_max:,} completion"
        )
        typer.echo(f"  teachers: {teachers}")
        tot_req += e.requests - e.cached_requests
        tot_prompt += e.prompt_tokens
        tot_compl += e.completion_tokens_max
    typer.echo(
        f"total: about {tot_req} requests to send, {tot_prompt:,} prompt tokens, "
        f"at most {tot_compl:,} completion tokens"
    )


def _print_result(result: Any) -> None:
    typer.echo(f"run {result.run_id}: {result.status}")
    for j in result.jobs:
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(j.failures.items())) or "none"
        typer.echo(
            f"  {j.job}: {j.done} written, {j.skipped} finished earlier, {j.quarantined} quarantined "
            f"({fails})"
        )
    typer.echo(f"output: {result.output}")
    typer.echo(f"  records:    {result.output / 'data'}")
    typer.echo(f"  quarantine: {result.output / 'quarantine.jsonl'}")
    typer.echo(f"  status:     synth status {result.output}")


@app.command()
def status(
    out: Annotated[Path, typer.Argument(help="output folder of a run")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """What is done, running and quarantined (with reasons); tokens and requests per teacher."""
    import tempfile

    from synth.status import collect_status, render_status
    from synth.store.remote import RemoteStore, as_url, is_url

    with tempfile.TemporaryDirectory() as tmp:
        url = as_url(out) if is_url(out) else None
        if url:  # shared storage: read a local copy of it
            out = RemoteStore(url).fetch(Path(tmp))
        if not (out / "state.sqlite").exists() and not (out / "partitions.json").exists():
            _fail(f"{url or out}: not a run output folder (no state.sqlite)")
        st = collect_status(out)
        if url:
            st["output"] = url
    if as_json:
        typer.echo(json.dumps(st, indent=2, default=str))
    else:
        render_status(st)


@app.command()
def views(
    out: Annotated[Path, typer.Argument(help="output folder of a run")],
    label_hinted: Annotated[
        bool,
        typer.Option(
            "--label-hinted", help="put label-hinted fallback traces into SFT (flagged by their id)"
        ),
    ] = False,
) -> None:
    """Rebuild the training views (views/sft.jsonl, dpo.jsonl, rl.jsonl) from a run's problems and traces."""
    from synth.problems.views import write_views

    if not (out / "data").is_dir():
        _fail(f"{out}: not a run output folder (no data/)")
    counts = write_views(out, label_hinted=label_hinted)
    typer.echo(f"{out / 'views'}: {_counts(counts)}")


@app.command("filter")
def filter_(
    in_dir: Annotated[Path, typer.Argument(help="output folder of a run")],
    out_dir: Annotated[Path, typer.Argument(help="where the kept records, ledger and funnel go")],
    config: Annotated[Path, typer.Option("--config", "-c", help="filter YAML: stages (and judge teachers)")],
    force: Annotated[bool, typer.Option("--force", help="replace OUT if it exists")] = False,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="request cache for judge calls (default: IN/cache.sqlite)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local, or ray: embedding on an actor pool and MinHash in Ray tasks, same result",
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster: auto, ray://HOST:PORT (default: a local one)"),
    ] = None,
) -> None:
    """Pass a run's records through quality stages; write the kept ones, a ledger of the rest, and the funnel."""
    import asyncio

    from synth.config import ConfigError, load_filter_config
    from synth.quality.pipeline import FilterError, filter_with_teachers

    if executor not in ("local", "ray"):
        _fail(f"--executor: local or ray, not {executor!r}")
    try:
        cfg = load_filter_config(config)
    except ConfigError as e:
        _fail(str(e))
    compute = None
    if executor == "ray":
        try:
            from synth.quality.ray_exec import RayCompute
        except ImportError as e:  # ray is an extra
            _fail(f"--executor ray needs Ray: pip install -e '.[ray]' ({e})")
        compute = RayCompute(address)
    try:
        res = asyncio.run(
            filter_with_teachers(
                in_dir,
                out_dir,
                cfg,
                cfg.teachers,
                cache_path=cache or in_dir / "cache.sqlite",
                force=force,
                seed=seed,
                compute=compute,
            )
        )
    except FilterError as e:
        _fail(f"error: {e}")
    for f in res.funnel:
        typer.echo(f"  {f['stage']}: {f['in']} -> {f['out']}")
    _print_filter(res)


@app.command()
def report(
    out: Annotated[
        Path, typer.Argument(help="output folder of `synth filter` (or a run's filtered/), or a run's folder")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="skip the PNG plots")] = False,
) -> None:
    """The funnel (in -> out per stage), drop reasons and score distributions; PNG plots in OUT/plots/.

    On a run's own folder (no filter funnel), the consultations' per-turn evaluation and its plot."""
    from synth.quality.report import collect_report, render_report, write_plots
    from synth.store.shards import legacy_layout_message

    if (msg := legacy_layout_message(out)) is not None:
        _fail(msg)
    if not (out / "funnel.json").exists() and (out / "data" / "consultations").is_dir():
        from synth.dialogue.report import (
            consultation_report,
            render_consultation_report,
            truth_probability_plot,
        )

        cons = consultation_report(out)
        if as_json:
            typer.echo(json.dumps({"output": str(out), "consultations": cons}, indent=2, default=str))
        else:
            render_consultation_report(cons)
        plot = None if no_plots else truth_probability_plot(out, out / "plots" / "truth-probability.png")
        if plot is not None:
            typer.echo(f"plot: {plot}", err=as_json)
        return
    try:
        rep = collect_report(out)
    except FileNotFoundError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(rep, indent=2, default=str))
    else:
        render_report(rep)
    if not no_plots:
        for p in write_plots(out):
            typer.echo(f"plot: {p}", err=as_json)


@app.command()
def migrate(out: Annotated[Path, typer.Argument(help="run or `synth filter` output folder")]) -> None:
    """Rewrite a folder's JSON-column shards (older runs) in the typed-column layout, in place."""
    from synth.store.migrate import MigrateError, migrate_run

    try:
        res = migrate_run(out)
    except MigrateError as e:
        _fail(str(e))
    done = ", ".join(f"{t}: {n} shard(s), {res.records[t]} records" for t, n in res.converted.items())
    typer.echo(f"{out}: {done or 'nothing to convert'}; {res.already} shard(s) already typed")


@app.command()
def publish(
    inputs: Annotated[list[Path], typer.Argument(help="run or `synth filter` output folder(s)")],
    to: Annotated[
        Path | None,
        typer.Option("--to", help="published folder (merged into if it exists; default OUT/published)"),
    ] = None,
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="push to this Hub dataset repo")] = None,
    public: Annotated[
        bool, typer.Option("--public", help="create the Hub repo public (default private)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list the files and sizes; write and send nothing")
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="split seed (default 0)")] = None,
    fractions: Annotated[
        str | None, typer.Option("--fractions", help="train,validation,test (default 0.9,0.05,0.05)")
    ] = None,
    reasoning: Annotated[
        str | None, typer.Option("--reasoning", help="doctor reasoning in sft/dpo: keep (default) | drop")
    ] = None,
    all_consultations: Annotated[
        bool | None,
        typer.Option(
            "--all-consultations/--correct-only", help="sft: every consultation (default: correct only)"
        ),
    ] = None,
    label_hinted: Annotated[
        bool | None, typer.Option("--label-hinted/--no-label-hinted", help="sft: label-hinted traces too")
    ] = None,
    license_: Annotated[str | None, typer.Option("--license", help="licence id (default apache-2.0)")] = None,
    pretty_name: Annotated[str | None, typer.Option("--pretty-name")] = None,
    max_shard_mb: Annotated[float | None, typer.Option("--max-shard-mb", help="shard size bound")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Hub URL (default HF_ENDPOINT)")] = None,
    options_file: Annotated[
        Path | None,
        typer.Option("--options", help="publish options as YAML (e.g. a mix: section); flags override it"),
    ] = None,
    allow_phi: Annotated[
        bool | None,
        typer.Option("--allow-phi", help="publish records the PHI scrubber still flags (card says so)"),
    ] = None,
) -> None:
    """Write the Hub dataset layout (views, full records, card) into a folder; push it with --repo-id."""
    from synth.publish import PublishError, publish_folder
    from synth.publish.push import push_folder, upload_plan

    from_file: dict[str, Any] = {}
    if options_file is not None:
        from schemas.yamlfile import ConfigError, load_yaml_model
        from synth.publish.options import PublishOptions

        try:  # validated strictly (unknown keys refused); only what the file sets overrides the folder's
            from_file = load_yaml_model(options_file, PublishOptions, what="publish options").model_dump(
                exclude_unset=True
            )
        except (ConfigError, OSError) as e:
            _fail(f"error: {e}")
    overrides: dict[str, Any] = from_file | {
        k: v
        for k, v in {
            "seed": seed, "reasoning": reasoning, "all_consultations": all_consultations,
            "label_hinted": label_hinted, "license": license_, "pretty_name": pretty_name,
            "max_shard_bytes": int(max_shard_mb * 2**20) if max_shard_mb else None, "allow_phi": allow_phi,
        }.items()
        if v is not None
    }  # fmt: skip
    if fractions is not None:
        try:
            overrides["fractions"] = tuple(float(x) for x in fractions.split(","))
        except ValueError:
            _fail(f"--fractions expects three numbers like 0.9,0.05,0.05, got {fractions!r}")
    import tempfile

    from synth.publish.push import fetch_published, push_to_url
    from synth.store.remote import RemoteStore, as_url, is_url

    scratch = tempfile.TemporaryDirectory()
    # Shared storage (s3://…): inputs are read from local copies; the published folder is staged, then written.
    inputs = [
        RemoteStore(as_url(p)).fetch(Path(scratch.name) / f"in{i}") if is_url(p) else p
        for i, p in enumerate(inputs)
    ]
    to_url = as_url(to) if to is not None and is_url(to) else None
    dest = fetch_published(to_url, Path(scratch.name) / "out") if to_url else (to or inputs[0] / "published")
    try:
        res = publish_folder(inputs, dest, overrides, dry_run=dry_run)
    except PublishError as e:
        _fail(f"error: {e}")
    if to_url and not dry_run:
        typer.echo(f"wrote {push_to_url(dest, to_url)} files to {to_url}")
    added = ", ".join(f"{k}: {v}" for k, v in res.added.items() if v) or "nothing new"
    dups = sum(res.duplicates.values())
    typer.echo(
        f"{'would publish' if dry_run else 'published'} {dest} (added {added}; {dups} duplicates skipped)"
    )
    if res.gated:  # each record is named on stderr above, with its gate's reason
        left = ", ".join(f"{t} {len(ids)}" for t, ids in res.gated.items())
        typer.echo(f"  left out by a case gate: {left} (reasons on stderr)")
    if res.mix:
        from synth.publish.mix import summary_line

        for m in res.mix:  # rows left out are listed with file:line in mix/ledger.jsonl
            typer.echo(f"  mix {summary_line(m)}")
    for config, splits in res.counts.items():
        typer.echo(f"  {config}: " + ", ".join(f"{s} {n}" for s, n in splits.items()))
    if dry_run:
        total = sum(n for _, n in res.files)
        target = f" to {repo_id}" if repo_id else ""
        typer.echo(
            f"dry run: {len(res.files)} files, {total:,} bytes would be uploaded{target}; nothing written"
        )
        for path, n in res.files:
            typer.echo(f"  {n:>12,}  {path}")
        return
    if repo_id:
        try:
            url = push_folder(dest, repo_id, private=not public, endpoint=endpoint)
        except PublishError as e:
            _fail(f"error: {e}")
        files = upload_plan(dest)
        typer.echo(f"pushed {len(files)} files to {repo_id} ({'public' if public else 'private'}): {url}")


@app.command()
def view(
    folder: Annotated[
        Path, typer.Argument(help="a run folder, a `synth filter` output or a published folder")
    ],
    html: Annotated[Path, typer.Option("--html", help="folder to write the static site into (replaced)")],
    force: Annotated[
        bool, typer.Option("--force", help="replace --html even when it holds something other than a viewer")
    ] = False,
) -> None:
    """A static site to browse FOLDER from file:// (no server): an index with filters, a page per record."""
    from synth.view import ViewError, build_site

    try:
        res = build_site(folder, html, force=force)
    except (ViewError, FileExistsError) as e:
        _fail(f"error: {e}")
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(res.by_kind.items())) or "nothing"
    typer.echo(f"viewer: {res.rows} rows ({kinds}), {res.pages} pages")
    typer.echo(f"open {res.index.resolve().as_uri()}")


@schema_app.command("export")
def schema_export(
    directory: Annotated[Path, typer.Argument(help="folder to write *.schema.json into")],
) -> None:
    """Write the JSON Schema of every record type."""
    from schemas import RECORD_TYPES

    directory.mkdir(parents=True, exist_ok=True)
    for name, model in RECORD_TYPES.items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
        typer.echo(str(path))


@cache_app.command("stats")
def cache_stats(
    path: Annotated[Path, typer.Argument(help="a cache.sqlite file or a run output folder")],
) -> None:
    """Entries and tokens stored in a request cache."""
    from synth.teachers.cache import RequestCache

    p = path / "cache.sqlite" if path.is_dir() else path
    if not p.exists():
        _fail(f"{p}: no request cache there")
    c = RequestCache(p)
    try:
        s = c.summary()
        by = c.by_model()
    finally:
        c.close()
    typer.echo(
        f"{p}: {s['entries']} responses, {s['prompt_tokens']:,} prompt tokens, "
        f"{s['completion_tokens']:,} completion tokens stored"
    )
    for backend, model, n in by:
        typer.echo(f"  {backend} {model}: {n}")


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
