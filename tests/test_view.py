"""`synth view` on a small run made with the scripted teacher: the index chunks and facets, a page per
consultation (turns, reasoning, chart with the hidden answer, tests, verdict), per trace (the search tree),
per problem and per card, a filter output's dropped records with their stage and reason, escaping, the CLI."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas import Consultation, ReasoningTrace, SearchStep, VerifiableProblem
from schemas.common import Record
from synth.cli import app
from synth.quality.config import FilterConfig
from synth.quality.pipeline import run_filter
from synth.store.shards import ShardWriter, iter_records
from synth.teachers.base import Request
from synth.view import ViewError, build_site
from synth.view.build import CHUNK_ROWS, page_name
from tests.test_dialogue import cfg_for, doctor_out, last, run, scripted

XSS = "<script>alert('x')</script>"


def _doctor(i: int, req: Request) -> dict[str, Any]:
    """Card 1's doctor settles on gastroenteritis (wrong); the others find the appendicitis at turn 3."""
    wrong = "(1)" in req.messages[1]["content"]
    if i >= 3 or "must end now" in last(req):
        if wrong:
            return doctor_out(
                "final_diagnosis", "gastroenteritis", [("gastroenteritis", 0.8), ("colitis", 0.1)]
            )
        return doctor_out("final_diagnosis", "acute appendicitis", [("acute appendicitis", 0.9)])
    if i == 1:
        return doctor_out(
            "request_test", "CBC, physical exam", [("gastroenteritis", 0.5), ("appendicitis", 0.3)]
        )
    return doctor_out("ask", f"Where exactly does it hurt {XSS}?")


def _write(root: Path, table: str, records: list[Record]) -> None:
    w = ShardWriter(root, table, "t", 0, max_records=10_000, max_bytes=2**30)
    for r in records:
        w.add("test", r.id, [r])
    w.write(w.take()[0])


def _trace(i: int) -> ReasoningTrace:
    steps = [
        SearchStep(attempt=0, iteration=0, strategy="init", thinking=["first look"], conclusion="glipizide",
                   verdict="false", verdict_reason="not the answer"),
        SearchStep(attempt=0, iteration=1, strategy="backtrack", thinking=["again"], conclusion="insulin",
                   verdict="unsure", verdict_stage="judge", verdict_reason="judge could not tell"),
        SearchStep(attempt=1, iteration=0, strategy="init", thinking=[f"fresh start {XSS}"], conclusion="metformin",
                   verdict="true", verdict_reason="matches the ground truth"),
    ]  # fmt: skip
    return ReasoningTrace(
        problem_id=_problem(i).id, question=_problem(i).question, ground_truth="metformin", steps=steps,
        success=True, natural_thinking="Thinking it through.", final_response="Metformin is first line.",
    )  # fmt: skip


def _problem(i: int) -> VerifiableProblem:
    return VerifiableProblem(
        question=f"Q{i}: first drug for type 2 diabetes? {XSS}", ground_truth="metformin"
    )


def make_run(tmp: Path) -> Path:
    """A run of 3 consultations (one wrong), 4 problems and 4 traces, made with the scripted teacher."""

    def write_config(data: dict, name: str = "config.yaml") -> Path:
        import yaml

        p = tmp / name
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p

    cfg = cfg_for(write_config, tmp, cards=3, min_turns=2, max_turns=6)
    res, cons = run(cfg, scripted(_doctor))
    assert res.status == "completed" and len(cons) == 3
    out = cfg.run.output
    _write(out, "problems", [_problem(i) for i in range(4)])
    _write(out, "reasoning", [_trace(i) for i in range(4)])
    return Path(out)


@pytest.fixture(scope="module")
def made_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("view"))


def _rows(site: Path) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for p in sorted((site / "index").glob("chunk-*.js")):
        m = re.fullmatch(r"VIEW\.addChunk\((\d+),(.*)\);\n", p.read_text(), re.S)
        assert m, p
        rows += json.loads(m.group(2).replace("<\\/", "</"))
    return rows


def test_run_viewer_index_and_pages(made_run, tmp_path):
    res = build_site(made_run, tmp_path / "site")
    site = tmp_path / "site"
    assert res.by_kind == {"consultation": 3, "case": 3, "problem": 4, "reasoning": 4}
    rows = _rows(site)
    assert len(rows) == res.rows == 14 and res.pages == 14
    meta = (site / "index" / "meta.js").read_text()
    assert json.loads(meta.removeprefix("VIEW.meta=").rstrip(";\n"))["chunks"] == 1
    # every link points at a page that exists, and nothing refers outside the site
    for r in rows:
        assert (site / r[2]).is_file(), r
    for p in site.rglob("*.html"):
        text = p.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), p
        assert XSS not in text, p  # escaped everywhere
    consult_rows = [r for r in rows if r[0] == "consultation"]
    assert sorted(r[5] for r in consult_rows) == ["correct", "correct", "incorrect"]
    assert {r[6] for r in consult_rows} == {"final_diagnosis"} and {r[8] for r in rows} == {"kept"}
    assert {r[7] for r in consult_rows} == {"unscored"}  # an unfiltered run has no complexity score


def test_consultation_page(made_run, tmp_path):
    build_site(made_run, tmp_path / "site")
    [wrong] = [
        c for c in iter_records(made_run, "consultations", Consultation) if c.evaluation.correct is False
    ]
    html = (tmp_path / "site" / "c" / page_name(wrong.id, False)).read_text()
    doctor_turns = [t for t in wrong.turns if t.speaker == "doctor"]
    assert html.count('<div class="turn doctor"') == len(doctor_turns)
    assert html.count('<aside class="reasoning">') == len(doctor_turns)
    assert "thinking before ask" in html and "Where exactly does it hurt &lt;script&gt;" in html
    # the chart: one series per diagnosis named in any snapshot, the hidden answer (appendicitis) marked
    svg = re.search(r'<svg id="ddx-chart".*?</svg>', html, re.S)
    assert svg
    truth = re.findall(r'<g class="series truth" data-diagnosis="([^"]+)"', svg.group(0))
    # one line for the answer however the doctor worded it ("appendicitis", "acute appendicitis")
    assert truth == ["Acute appendicitis"]
    assert "<title>appendicitis: 0.30 at D1</title>" in svg.group(0)
    assert "<title>acute appendicitis: 0.60 at D2</title>" in svg.group(0)
    assert 'data-diagnosis="gastroenteritis"' in svg.group(0)
    verdict = re.search(r'<section id="verdict" class="verdict bad">(.*?)</section>', html, re.S)
    assert verdict and "incorrect" in verdict.group(1) and "gastroenteritis" in verdict.group(1)
    assert "lexical" in verdict.group(1) and "Acute appendicitis" in verdict.group(1)
    tests = re.search(r'<section id="tests">(.*?)</section>', html, re.S)
    assert tests and "CBC" in tests.group(1) and "WBC 15.1" in tests.group(1)
    assert html.count("<tr class=") >= len(wrong.evaluation.per_turn)
    assert "truth rank" in html and "Brier" in html


def test_trace_problem_and_case_pages(made_run, tmp_path):
    build_site(made_run, tmp_path / "site")
    site = tmp_path / "site"
    t = _trace(0)
    html = (site / "r" / page_name(t.id, False)).read_text()
    tree = re.search(r'<ul class="tree" id="tree">(.*?)</section>', html, re.S)
    assert tree and tree.group(1).count('<li class="attempt">') == 2
    assert tree.group(1).count('class="node') == 3 and tree.group(1).count("decisive") == 1
    assert re.search(r'decisive">\s*<div class="step"><span class="strategy">init</span> <span class="badge true">',
                     tree.group(1))  # fmt: skip
    # the continuation is nested under the step it continues
    assert re.search(r"glipizide.*?<ul>\s*<li class=\"node verdict-unsure", tree.group(1), re.S)
    assert "judge could not tell" in html and "Metformin is first line." in html
    assert f'href="../p/{page_name(t.problem_id, False)}"' in html
    p_html = (site / "p" / page_name(t.problem_id, False)).read_text()
    assert f'href="../r/{page_name(t.id, False)}"' in p_html and "verified" in p_html
    card_rows = [r for r in _rows(site) if r[0] == "case"]
    k_html = (site / card_rows[0][2]).read_text()
    assert "Acute appendicitis" in k_html and "Tender at McBurney" in k_html
    c_html = next((site / "c").glob("*.html")).read_text()
    assert 'href="../k/' in c_html  # a consultation links its card


def test_filter_output_shows_dropped_records_with_stage_and_reason(made_run, tmp_path):
    cfg = FilterConfig.model_validate({"stages": [{"stage": "complexity", "select": {"top_fraction": 0.5}}]})
    res = asyncio.run(run_filter(made_run, tmp_path / "filtered", cfg))
    assert res.dropped > 0
    (tmp_path / "filtered" / "quarantine.jsonl").write_text(
        json.dumps({"item_id": "case-9", "job": "consultations", "stage": "patient",
                    "error_type": "Leakage", "message": "the patient named the diagnosis"}) + "\n"
    )  # fmt: skip
    view = build_site(tmp_path / "filtered", tmp_path / "site")
    rows = _rows(tmp_path / "site")
    dropped = [r for r in rows if r[8].startswith("dropped: ")]
    assert len(dropped) == res.dropped and {r[8] for r in dropped} == {"dropped: complexity"}
    assert all("below" in r[9] and r[2].endswith(".dropped.html") for r in dropped)
    page = (tmp_path / "site" / dropped[0][2]).read_text()
    assert 'class="fate dropped"' in page and "dropped: complexity" in page and "below" in page
    kept = [r for r in rows if r[8] == "kept" and r[0] != "case"]
    assert kept and all(r[7] != "unscored" for r in kept)  # the filter scored them: a band
    [q] = [r for r in rows if r[0] == "quarantine"]
    assert q[8] == "quarantined: patient" and "Leakage" in q[9] and q[2] == ""
    assert view.rows == len(rows)
    index = (tmp_path / "site" / "index.html").read_text()
    assert '<option value="dropped: complexity">' in index and "filtered folder" in index


def test_chunks_split_and_ledger_only_entries(made_run, tmp_path, monkeypatch):
    import synth.view.build as build

    monkeypatch.setattr(build, "CHUNK_ROWS", 4)
    cfg = FilterConfig.model_validate({"stages": [{"stage": "complexity", "select": {"top_fraction": 0.5}}]})
    asyncio.run(run_filter(made_run, tmp_path / "filtered", cfg))
    manifest = json.loads((tmp_path / "filtered" / "manifest.json").read_text())
    manifest["filter"]["input"] = str(tmp_path / "gone")  # the input run was deleted since
    (tmp_path / "filtered" / "manifest.json").write_text(json.dumps(manifest))
    res = build_site(tmp_path / "filtered", tmp_path / "site")
    assert len(list((tmp_path / "site" / "index").glob("chunk-*.js"))) == -(-res.rows // 4)
    rows = _rows(tmp_path / "site")
    dropped = [r for r in rows if r[8].startswith("dropped")]
    assert dropped and all(r[2] == "" and "not readable here" in r[3] for r in dropped)
    assert CHUNK_ROWS == 5000  # the module constant is untouched outside this test


def test_refuses_a_folder_it_should_not_replace(made_run, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_site(made_run, other)
    assert (other / "keep.txt").exists()
    with pytest.raises(FileExistsError):
        build_site(made_run, made_run.parent)
    with pytest.raises(ViewError):
        build_site(tmp_path / "missing", tmp_path / "site")


def test_cli(made_run, tmp_path):
    r = CliRunner().invoke(app, ["view", str(made_run), "--html", str(tmp_path / "site")])
    assert r.exit_code == 0, r.output
    assert "14 rows" in r.output and (tmp_path / "site" / "index.html").as_uri() in r.output
    r = CliRunner().invoke(app, ["view", str(tmp_path / "nothing"), "--html", str(tmp_path / "s2")])
    assert r.exit_code == 2 and "no such folder" in r.output


def test_published_folder(made_run, tmp_path):
    pub = tmp_path / "published"
    r = CliRunner().invoke(app, ["publish", str(made_run), "--to", str(pub), "--all-consultations"])
    assert r.exit_code == 0, r.output
    res = build_site(pub, tmp_path / "site")
    rows = _rows(tmp_path / "site")
    assert res.by_kind["consultation"] == 3 and res.by_kind["case"] == 3
    assert res.by_kind["problem"] == 4 and res.by_kind["reasoning"] == 4
    assert all((tmp_path / "site" / r[2]).is_file() for r in rows)
    assert "published folder" in (tmp_path / "site" / "index.html").read_text()


def test_filter_input_recorded_relative_is_found_beside_the_output(made_run, tmp_path, monkeypatch):
    import shutil

    cfg = FilterConfig.model_validate({"stages": [{"stage": "complexity", "select": {"top_fraction": 0.5}}]})
    monkeypatch.chdir(made_run.parent)
    res = asyncio.run(run_filter(Path(made_run.name), Path("rel-filtered"), cfg))
    try:
        monkeypatch.chdir(tmp_path)  # elsewhere: the recorded input "out" does not exist from here
        build_site(made_run.parent / "rel-filtered", tmp_path / "site")
        dropped = [r for r in _rows(tmp_path / "site") if r[8].startswith("dropped")]
        assert len(dropped) == res.dropped and all(r[2].endswith(".dropped.html") for r in dropped)
    finally:
        shutil.rmtree(made_run.parent / "rel-filtered")
