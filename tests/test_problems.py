"""Verifiable problems with a scripted fake teacher: MCQ sources and their bad records, the screens, every
branch of the reasoning search, the training views, resume; one real problem through the embedded model."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from schemas import ReasoningTrace, VerifiableProblem
from synth.config import ConfigError, load_config
from synth.problems.config import MCQSource, ReasoningConfig
from synth.problems.search import allowed_strategies
from synth.problems.source import BadMCQ, load_mcqs
from synth.problems.views import dpo_examples, rl_example, sft_example, write_views
from synth.runner import Runner, build_jobs
from synth.store.shards import iter_records
from synth.teachers.base import Request
from tests.fakes import ScriptedBackend

OPTS = {"A": "Metformin", "B": "Insulin glargine", "C": "Glipizide", "D": "Sitagliptin"}
Q = (
    "A 54-year-old with newly found type 2 diabetes, normal kidney function and a BMI of 33 asks for "
    "treatment. Which drug should be started first?"
)


def mcq(i: int = 0, **kw: Any) -> dict[str, Any]:
    rec = {"id": f"q{i}", "question": f"{Q} ({i})", "options": OPTS, "answer_idx": "A", "answer": "Metformin"}
    rec.update(kw)
    return rec


def write_jsonl(path, recs: list[Any]) -> Any:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))
    return path


# ----------------------------------------------------------------------------------------- the fake teacher


def step_of(req: Request) -> str:
    system, user = req.messages[0]["content"], req.messages[-1]["content"]
    if "multiple-choice questions into open-ended" in system:
        return "rewrite"
    if "You review open-ended" in system:
        return "judge"
    if "answering exam questions" in system:
        return "probe"
    if "working notes" in system:
        return "reformat"
    if "Your reasoning so far" in user:
        for key, name in [
            ("Explore a new path", "explore_new_path"),
            ("Backtrack:", "backtrack"),
            ("Verify:", "verify"),
            ("Correct:", "correct"),
            ("The correct answer is", "label_hint"),
        ]:
            if key in user:
                return name
    if "reasons carefully" in system:
        return "init"
    raise AssertionError(f"unexpected request: {system[:80]}")


def chain(conclusion: str) -> dict[str, Any]:
    return {"thinking": [f"Thinking towards {conclusion}."], "conclusion": conclusion, "verification": "ok"}


def teacher(
    conclusions: Callable[[str, Request], str] | None = None,
    judge: str = "pass",
    probe: Callable[[str], str] = lambda name: "sulfonylurea",
    rewrite: dict[str, str] | None = None,
) -> ScriptedBackend:
    """Rewrites faithfully; the chain's conclusion comes from `conclusions(step, request)` (default: right)."""

    def script(req: Request) -> dict[str, Any]:
        s = step_of(req)
        if s == "rewrite":
            stem = req.messages[-1]["content"].split("\n")[1]  # the MCQ's question, rewritten open-ended
            out = rewrite or {"question": stem.replace("Which drug", "What drug"), "answer": "metformin"}
            if "answer" not in req.json_schema["properties"]:  # ground_truth: option — the question only
                return {"question": out["question"]}
            return out
        if s == "judge":
            return {"verdict": judge, "reason": "because"}
        if s == "probe":
            return {"answer": probe(s)}
        if s == "reformat":
            return {"thinking": "Hmm, first-line is metformin.", "final_response": "Metformin."}
        return chain(conclusions(s, req) if conclusions else "metformin")

    return ScriptedBackend(script)


def config(write_config, tmp_path, source, *, teachers=("default",), problems=None, reasoning=None):
    data: dict[str, Any] = {
        "run": {"output": str(tmp_path / "out"), "concurrency": 4},
        "teachers": {t: {"backend": "local"} for t in teachers},
        "problems": {"source": {"path": str(source)}, **(problems or {})},
    }
    if reasoning is not None:
        data["reasoning"] = reasoning
    return load_config(write_config(data))


def run(cfg, backends: dict[str, ScriptedBackend] | ScriptedBackend):
    if isinstance(backends, ScriptedBackend):
        backends = {"default": backends}
    res = asyncio.run(Runner(cfg, backends=backends, argv=["test"]).run(build_jobs(cfg)))
    out = cfg.run.output
    quarantine = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    return res, quarantine


def problems(cfg) -> list[VerifiableProblem]:
    return list(iter_records(cfg.run.output, "problems", VerifiableProblem))


def traces(cfg) -> list[ReasoningTrace]:
    return list(iter_records(cfg.run.output, "reasoning", ReasoningTrace))


# ------------------------------------------------------------------------------------------------ sources


def test_bad_records_are_reported_with_their_line(tmp_path):
    path = write_jsonl(
        tmp_path / "q.jsonl",
        [
            mcq(0),
            "{not json",
            {"id": "x1", "question": Q, "answer_idx": "A", "answer": "Metformin"},  # options missing
            mcq(2, answer_idx="F"),
            mcq(3, answer="Insulin"),
            mcq(4, question="   "),
            mcq(0, question="Another question, same id as line 1, about which drug to use first?"),
            mcq(5, id="q5-copy", question=f"{Q} (0)"),  # same content as line 1 under another id
            {
                "question": Q + " (medmcqa)",
                "opa": "Aspirin",
                "opb": "Metformin",
                "opc": "X",
                "opd": "Y",
                "cop": 2,
            },
            {**mcq(9), "extra_field": {"nested": True}, "meta_info": "step1"},
        ],
    )
    recs = load_mcqs(MCQSource(path=path))
    bad = {r.line: r for r in recs if isinstance(r, BadMCQ)}
    assert {n: b.code for n, b in bad.items()} == {
        2: "invalid_json",
        3: "missing_field",
        4: "bad_answer",
        5: "answer_mismatch",
        6: "empty_question",
        7: "duplicate_id",
        8: "duplicate",
    }
    assert "already used at line 1" in bad[7].reason and str(path) in str(bad[7])
    good = [r for r in recs if not isinstance(r, BadMCQ)]
    assert [g.line for g in good] == [1, 9, 10]
    assert good[1].answer == "Metformin" and good[1].answer_idx == "B"  # MedMCQA's 1-based cop


def test_a_restated_answer_is_checked_with_the_shared_matcher(tmp_path):
    # The source's answer names the correct option in other words (a misspelling): kept, with the option's text;
    # one that names another option is still an answer_mismatch.
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0, answer="Metfromin"), mcq(1, answer="Aspirin")])
    recs = load_mcqs(MCQSource(path=path))
    good = [r for r in recs if not isinstance(r, BadMCQ)]
    bad = [r for r in recs if isinstance(r, BadMCQ)]
    assert [g.answer for g in good] == ["Metformin"] and good[0].line == 1
    assert [(b.line, b.code) for b in bad] == [(2, "answer_mismatch")]


def test_json_parquet_and_datasets_folder_sources(tmp_path):
    import datasets

    recs = [mcq(i) for i in range(3)]
    (tmp_path / "q.json").write_text(json.dumps(recs))
    rows = [{**r, "options": r["options"]} for r in recs]
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(tmp_path / "q.parquet"))
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "files").mkdir()
    write_jsonl(tmp_path / "files" / "train.jsonl", recs[:2])
    write_jsonl(tmp_path / "files" / "test.jsonl", recs[2:])
    for src in [
        MCQSource(path=tmp_path / "q.json"),
        MCQSource(path=tmp_path / "q.parquet"),
        MCQSource(path=tmp_path / "saved"),
        MCQSource(path=tmp_path / "files"),
    ]:
        got = load_mcqs(src)
        assert [type(g).__name__ for g in got] == ["SourceMCQ"] * 3, (src, got)
        assert sorted(g.source_id for g in got) == ["q0", "q1", "q2"]  # type: ignore[union-attr]
    assert len(load_mcqs(MCQSource(path=tmp_path / "files", split="test"))) == 1


def test_the_shipped_seed_questions_load_clean():
    recs = load_mcqs(None)
    assert len(recs) >= 40 and not [r for r in recs if isinstance(r, BadMCQ)]


# ------------------------------------------------------------------------------------------------ screens


def test_screens_and_quarantine(write_config, tmp_path):
    path = write_jsonl(
        tmp_path / "q.jsonl",
        [
            mcq(0),
            mcq(1, question="All of the following are causes of anaemia EXCEPT which one of these?"),
            mcq(2, question="Which drug?"),
            mcq(3, options={**OPTS, "E": "All of the above"}),
            mcq(4, answer_idx="Z"),
        ],
    )
    cfg = config(write_config, tmp_path, path, teachers=("default", "judge"), problems={"judge": "judge"})
    _res, quarantine = run(cfg, {"default": teacher(), "judge": teacher(judge="pass")})
    [p] = problems(cfg)
    assert p.ground_truth == "metformin" and p.source and p.source.source_id == "q0"
    assert [s.screen for s in p.screens] == ["rule", "rule_rewrite", "answer_kept", "judge"]
    assert all(s.passed for s in p.screens)
    reasons = {q["item_id"]: (q["error_type"], q["stage"], q["message"]) for q in quarantine}
    assert len(reasons) == 4
    kinds = sorted((t, s) for t, s, _ in reasons.values())
    assert kinds == [
        ("BadMCQ", "source:bad_answer"),
        ("ScreenRejected", "screen:rule"),
        ("ScreenRejected", "screen:rule"),
        ("ScreenRejected", "screen:rule"),
    ]
    messages = " | ".join(m for _, _, m in reasons.values())
    assert "asks_for_incorrect_option" in messages and "too_short" in messages
    assert "multiple_correct_answers" in messages and "q.jsonl:5 (id q4): bad_answer" in messages


@pytest.mark.parametrize(
    ("question", "options", "code"),
    [
        (
            "Each of the following is a cause of microcytic anaemia EXCEPT which one?",
            OPTS,
            "asks_for_incorrect_option",
        ),
        (
            "A 30-year-old woman has a rash. Which of these drugs is not a cause of it?",
            OPTS,
            "asks_for_incorrect_option",
        ),
        (
            "A 30-year-old man has chest pain. Which finding is least likely in this patient?",
            OPTS,
            "asks_for_incorrect_option",
        ),
        (
            "A 30-year-old man has chest pain. Select two findings that support the diagnosis.",
            OPTS,
            "multiple_correct_answers",
        ),
        (Q, {**OPTS, "E": "Both A and B"}, "multiple_correct_answers"),
        (Q, {**OPTS, "E": "None of the above"}, "multiple_correct_answers"),
        ("Regarding the thyroid gland, which of the following statements is true?", OPTS, "needs_options"),
        ("Which drug?", OPTS, "too_short"),
        (Q, OPTS, None),
        (
            "A 60-year-old who does not smoke has haemoptysis. What is the most likely diagnosis here?",
            OPTS,
            None,
        ),
        ("A child's temperature is 38.9 °C. Which organism most likely causes the infection?", OPTS, None),
    ],
)
def test_rule_screen_on_stems(question, options, code):
    from schemas.problem import SourceMCQ
    from synth.problems.screens import rule_screen_source

    v = rule_screen_source(
        SourceMCQ(dataset="t", question=question, options=options, answer_idx="A", answer=options["A"]), 40
    )
    assert v.passed == (code is None) and (code is None or v.reason.startswith(code)), v


@pytest.mark.parametrize(
    ("question", "answer", "code"),
    [
        ("Temperature 37.9 °C. Which organism is most likely?", "Escherichia coli", None),
        ("What is the treatment? A. metformin B. insulin", "metformin", "still_multiple_choice"),
        (
            "Which of the following is the first-line drug for her diabetes?",
            "metformin",
            "still_multiple_choice",
        ),
        (
            "Should this patient with type 2 diabetes start metformin or insulin first?",
            "metformin",
            "answer_in_question",
        ),
        (
            "What drug should she start first for her newly found diabetes?",
            "a biguanide such as metformin, unless the eGFR is under 30",
            "answer_not_short",
        ),
        ("What drug should she start first for her newly found diabetes?", "metformin", None),
        (
            "A 71-year-old man has fainted twice while climbing stairs over six months.",
            "aortic stenosis",
            "not_a_question",
        ),
        (
            "A 71-year-old man has fainted twice on stairs. Name the most likely valve lesion.",
            "aortic stenosis",
            None,
        ),
    ],
)
def test_rule_screen_on_rewrites(question, answer, code):
    from synth.problems.screens import rule_screen_rewrite

    v = rule_screen_rewrite(question, answer, 8)
    assert v.passed == (code is None) and (code is None or v.reason.startswith(code)), v


def test_ground_truth_from_the_option(write_config, tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0)])
    cfg = config(write_config, tmp_path, path, problems={"ground_truth": "option"})
    backend = teacher()
    _, quarantine = run(cfg, backend)
    [p] = problems(cfg)
    assert not quarantine and p.ground_truth == "Metformin" and p.aliases == []
    assert [s.screen for s in p.screens] == ["rule", "rule_rewrite"]  # nothing to check the answer against
    assert 'correct answer is\n"Metformin"' in backend.calls[0].messages[-1]["content"].replace("  ", " ")


def test_judge_screen_drops_ambiguous(write_config, tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0)])
    cfg = config(write_config, tmp_path, path, problems={"judge": "default"})
    _, quarantine = run(cfg, teacher(judge="ambiguous"))
    assert not problems(cfg)
    [q] = quarantine
    assert q["stage"] == "screen:judge" and q["message"].startswith("ambiguous: because")
    assert "metformin" in q["message"]  # the rewrite it judged is kept in the reason


def test_rewrite_that_changes_or_leaks_the_answer_is_dropped(write_config, tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0)])
    cfg = config(write_config, tmp_path, path)
    _, quarantine = run(cfg, teacher(rewrite={"question": Q, "answer": "insulin glargine"}))
    assert [q["stage"] for q in quarantine] == ["screen:answer_kept"]
    cfg = config(write_config, tmp_path / "b", path)
    _, quarantine = run(cfg, teacher(rewrite={"question": Q + " Is it metformin?", "answer": "metformin"}))
    assert [q["stage"] for q in quarantine] == ["screen:rule_rewrite"]
    assert "answer_in_question" in quarantine[0]["message"]


def test_too_easy_needs_every_probe_right(write_config, tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0), mcq(1)])

    cfg = config(
        write_config, tmp_path, path, teachers=("default", "p1", "p2"), problems={"probes": ["p1", "p2"]}
    )
    # p1 answers right, p2 wrong: kept, with both answers in the verdict. (Distinct model names: the request
    # cache rightly serves one model's answer to the same request from any teacher using that model.)
    p1, p2 = teacher(probe=lambda s: "metformin"), teacher(probe=lambda s: "glipizide")
    p1.model, p2.model = "probe-1", "probe-2"
    _res, _ = run(cfg, {"default": teacher(), "p1": p1, "p2": p2})
    ps = problems(cfg)
    assert len(ps) == 2
    easy = ps[0].screens[-1]
    assert easy.screen == "too_easy" and easy.passed and set(easy.details) == {"p1", "p2"}
    assert easy.details["p1"].startswith("true") and easy.details["p2"].startswith("false")
    # both right: dropped
    cfg2 = config(
        write_config,
        tmp_path / "b",
        path,
        teachers=("default", "p1", "p2"),
        problems={"probes": ["p1", "p2"]},
    )
    right = teacher(probe=lambda s: "Metformin.")
    _, quarantine = run(cfg2, {"default": teacher(), "p1": right, "p2": right})
    assert not problems(cfg2)
    assert {q["stage"] for q in quarantine} == {"screen:too_easy"}
    assert "2 of 2 probes" in quarantine[0]["message"]


def test_missing_source_and_dry_run(write_config, tmp_path):
    with pytest.raises(ConfigError, match=r"problems\.source\.path: .*nope\.jsonl does not exist"):
        config(write_config, tmp_path, tmp_path / "nope.jsonl")
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0), mcq(1), "{broken"])
    cfg = config(write_config, tmp_path, path, reasoning={"max_depth": 1})
    backend = teacher()
    problems_est, reasoning_est = Runner(cfg, backends={"default": backend}).estimate(build_jobs(cfg))
    assert (problems_est.items_todo, problems_est.requests) == (3, 2)  # the broken line costs nothing
    assert reasoning_est.items_todo == 2 and reasoning_est.requests == 2 * 3
    assert not backend.calls and not (tmp_path / "out" / "data").exists()


def test_config_names_unknown_probe_teachers(write_config, tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0)])
    with pytest.raises(ConfigError, match="probes"):
        config(write_config, tmp_path, path, problems={"probes": ["nope"]})
    with pytest.raises(ConfigError, match="max_depht"):
        config(write_config, tmp_path, path, reasoning={"max_depht": 2})


# ------------------------------------------------------------------------------------------------- search


def search_run(write_config, tmp_path, conclusions, **reasoning):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0)])
    cfg = config(write_config, tmp_path, path, reasoning={"max_depth": 2, "max_restarts": 0, **reasoning})
    backend = teacher(conclusions)
    _res, quarantine = run(cfg, backend)
    assert not quarantine, quarantine
    [t] = traces(cfg)
    return t, backend


def test_success_at_depth_zero(write_config, tmp_path):
    t, _ = search_run(write_config, tmp_path, lambda s, r: "Metformin")
    assert t.success and not t.label_hinted
    assert [(s.strategy, s.verdict, s.verdict_stage) for s in t.steps] == [("init", "true", "lexical")]
    assert t.natural_thinking and t.final_response
    roles = [c.role for c in t.provenance.calls]
    assert roles == ["reasoning_init", "reasoning_reformat"]


@pytest.mark.parametrize("strategy", ["explore_new_path", "verify", "correct"])
def test_success_after_each_strategy(write_config, tmp_path, strategy):
    t, backend = search_run(
        write_config,
        tmp_path,
        lambda s, r: "metformin" if s == strategy else "glipizide",
        strategies=[strategy],
    )
    assert [(s.iteration, s.strategy, s.verdict) for s in t.steps] == [
        (0, "init", "false"),
        (1, strategy, "true"),
    ]
    assert t.success
    # the continuation saw the failed chain
    cont = next(r for r in backend.calls if step_of(r) == strategy)
    assert "Conclusion: glipizide" in cont.messages[-1]["content"]


def test_backtrack_never_first_and_succeeds_later(write_config, tmp_path):
    t, _ = search_run(
        write_config,
        tmp_path,
        lambda s, r: "metformin" if s == "backtrack" else "glipizide",
        strategies=["backtrack", "verify"],
        max_depth=8,
    )
    assert [s.strategy for s in t.steps[:2]] == ["init", "verify"]  # backtrack is never the first
    assert t.success and (t.steps[-1].strategy, t.steps[-1].verdict) == ("backtrack", "true")
    assert all((s.strategy, s.verdict) == ("verify", "false") for s in t.steps[1:-1])
    cfg = ReasoningConfig(strategies=["backtrack", "verify", "correct"])
    for seed in range(50):
        assert "backtrack" not in allowed_strategies(cfg, 1)
        assert random.Random(seed).choice(allowed_strategies(cfg, 2)) in {"backtrack", "verify", "correct"}


def test_exhausted_search_is_kept_but_unverified(write_config, tmp_path):
    t, _ = search_run(write_config, tmp_path, lambda s, r: "glipizide", max_restarts=1)
    assert not t.success and t.natural_thinking is None
    assert [(s.attempt, s.iteration) for s in t.steps] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert all(s.verdict == "false" for s in t.steps)
    assert sft_example(t) is None and dpo_examples(t) == []


def test_restart_succeeds_with_a_fresh_seed(write_config, tmp_path):
    seeds: list[int] = []

    def conclusions(s: str, r: Request) -> str:
        if s == "init":
            seeds.append(r.params.seed)  # type: ignore[arg-type]
            return "metformin" if len(seeds) == 2 else "glipizide"
        return "glipizide"

    t, _ = search_run(write_config, tmp_path, conclusions, max_depth=1, max_restarts=2)
    assert t.success and [(s.attempt, s.iteration, s.verdict) for s in t.steps] == [
        (0, 0, "false"),
        (0, 1, "false"),
        (1, 0, "true"),
    ]
    assert len(set(seeds)) == 2


def test_label_hint_fallback_is_flagged(write_config, tmp_path):
    t, backend = search_run(
        write_config,
        tmp_path,
        lambda s, r: "metformin" if s == "label_hint" else "glipizide",
        max_depth=1,
        label_hint_fallback=True,
    )
    assert t.success and t.label_hinted
    assert t.steps[-1].strategy == "label_hint" and t.steps[-1].verdict == "true"
    assert "reasoning_label_hint" in {c.role for c in t.provenance.calls}
    hint = next(r for r in backend.calls if step_of(r) == "label_hint")
    assert 'The correct answer is "metformin"' in hint.messages[-1]["content"]
    assert sft_example(t) is None  # kept out of SFT unless asked for
    e = sft_example(t, label_hinted=True)
    assert e is not None and e.id.startswith("sft-hinted")
    assert dpo_examples(t) == []


def test_fallback_off_by_default(write_config, tmp_path):
    t, backend = search_run(write_config, tmp_path, lambda s, r: "glipizide")
    assert not t.success and not any(step_of(r) == "label_hint" for r in backend.calls)


# -------------------------------------------------------------------------------------------------- views


def test_views_from_a_run(write_config, tmp_path):
    calls = {"n": 0}

    def conclusions(s: str, r: Request) -> str:
        calls["n"] += 1
        return "metformin" if s != "init" else "glipizide"

    t, _ = search_run(write_config, tmp_path, conclusions, strategies=["correct"])
    e = sft_example(t)
    assert e is not None
    assert [m.role for m in e.messages] == ["user", "assistant"]
    text = e.messages[1].content
    assert text.startswith("## Thinking\n\n") and "\n\n## Final Response\n\n" in text
    [pair] = dpo_examples(t)
    assert pair.group == t.problem_id and "glipizide" in pair.rejected[0].content
    assert pair.chosen[0].content.endswith("metformin") and "does not hold up" in pair.chosen[0].content
    counts = write_views(tmp_path / "out")
    assert counts == {"sft": 1, "dpo": 1, "rl": 1}
    rl = json.loads((tmp_path / "out" / "views" / "rl.jsonl").read_text())
    assert rl["answer"] == "metformin" and rl["aliases"] == []  # "Metformin" differs only in case


def test_status_report_and_views_command(write_config, tmp_path):
    from typer.testing import CliRunner

    from synth.cli import app
    from synth.status import collect_status

    search_run(write_config, tmp_path, lambda s, r: "glipizide" if s == "init" else "metformin")
    st = collect_status(tmp_path / "out")
    r = st["reasoning"]
    assert r["problems"] == 1 and r["traces"] == 1 and r["verified_by_search"] == 1
    assert r["verified_at"] == {"attempt 0, depth 1": 1} and r["verdict_stages"] == {"lexical": 2}
    assert sum(v["verified"] for v in r["strategies"].values()) == 1
    res = CliRunner().invoke(app, ["views", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "sft: 1, dpo: 1, rl: 1" in res.output
    res = CliRunner().invoke(app, ["status", str(tmp_path / "out")])
    assert res.exit_code == 0 and "verified by search" in res.output, res.output


def test_rl_example_carries_aliases():
    p = VerifiableProblem(question="What?", ground_truth="ASA", aliases=["aspirin"])
    r = rl_example(p)
    assert r.answer == "ASA" and r.aliases == ["aspirin"] and r.group == p.id


# ------------------------------------------------------------------------------------------------- resume


def test_rerun_sends_nothing(write_config, tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(i) for i in range(3)])
    cfg = config(write_config, tmp_path, path, reasoning={"max_depth": 1})
    backend = teacher(lambda s, r: "glipizide" if s == "init" else "metformin")
    run(cfg, backend)
    sent = len(backend.calls)
    assert len(traces(cfg)) == 3 and sent == 3 * (1 + 2 + 1)  # rewrite; init + continuation; reformat
    res, _ = run(cfg, backend)
    assert len(backend.calls) == sent and [j.skipped for j in res.jobs] == [3, 3]
    assert len(traces(cfg)) == 3


# ----------------------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_one_real_problem_with_the_embedded_model(write_config, tmp_path, monkeypatch):
    """One MCQ through the rewrite and screens, then one problem through the search, with SmolLM2-135M under
    grammar-constrained decoding: every record validates and every step carries a verdict (a 135M model's
    medicine is not judged). The search gets a problem written directly, so it runs whatever the rewrite."""
    from schemas.embedded import embedded_model_path
    from synth.store.shards import ShardWriter

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedded_model_path()  # fails (never skips) when the embedded model is not installed
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0)])
    params = {"temperature": 0.7, "max_tokens": 600}
    cfg = config(write_config, tmp_path, path)
    cfg.teachers["default"].params = cfg.teachers["default"].params.model_copy(update=params)
    [job] = asyncio.run(Runner(cfg, argv=["test"]).run(build_jobs(cfg))).jobs
    quarantine = (cfg.run.output / "quarantine.jsonl").read_text()
    assert job.done + job.quarantined == 1
    if job.done:
        [p] = problems(cfg)
        assert p.question and p.ground_truth and [s.screen for s in p.screens][:2] == ["rule", "rule_rewrite"]
    else:  # the tiny model's rewrite was screened out or invalid: the typed reason must say which
        assert any(k in quarantine for k in ("ScreenRejected", "SchemaInvalid", "Truncated")), quarantine

    out = tmp_path / "search"
    problem = VerifiableProblem(question=Q, ground_truth="metformin")
    ShardWriter(out, "problems", "test", 0, max_records=10, max_bytes=2**30).write(
        [(problem.id, problem.id, problem.schema_version, problem.model_dump_json())]
    )
    cfg = load_config(
        write_config(
            {
                "run": {"output": str(out)},
                "teachers": {"default": {"backend": "local", "params": params}},
                "reasoning": {
                    "max_depth": 1,
                    "max_restarts": 0,
                    # bounds in the response schema keep a 135M model inside max_tokens
                    "max_thinking_steps": 2,
                    "max_step_chars": 300,
                    "max_reformat_chars": 600,
                },
            },
            name="search.yaml",
        )
    )
    [job] = asyncio.run(Runner(cfg, argv=["test"]).run(build_jobs(cfg))).jobs
    assert job.done == 1, (out / "quarantine.jsonl").read_text()
    [t] = traces(cfg)
    assert 1 <= len(t.steps) <= 2 and all(s.verdict in ("true", "false", "unsure") for s in t.steps)
    assert t.steps[0].strategy == "init" and t.steps[0].thinking and t.steps[0].conclusion
    assert t.success == (t.steps[-1].verdict == "true")
    assert (t.natural_thinking is not None) == t.success
    ReasoningTrace.model_validate_json(t.model_dump_json())
