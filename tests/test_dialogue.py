"""Consultations with a scripted fake teacher that plays doctor and patient (dispatching on the system prompt):
turn budget, notes, loops, leakage, examiner, evaluation, the prompt prefix property, resume, report."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from schemas import Answer, CaseCard, CaseSource, Consultation, Demographics, Fact, Finding
from synth.config import ConfigError, load_config
from synth.dialogue.examiner import Examiner, split_requests
from synth.dialogue.report import consultation_report, render_consultation_report
from synth.runner import Runner, build_jobs
from synth.store.shards import ShardWriter, iter_records
from synth.teachers.base import Request
from tests.fakes import ScriptedBackend, good_case_draft, raw

LAY = ["it hurts low on the right side of my belly", "I threw up twice this morning", "I take no medicines"]


def make_card(i: int = 0) -> CaseCard:
    return CaseCard(
        demographics=Demographics(age_years=24 + i, sex="female"),
        opening_statement=f"My tummy has hurt since yesterday ({i}).",
        facts=[
            Fact(id="f1", category="history_present_illness", text="RLQ pain", lay_text=LAY[0], key=True),
            Fact(id="f2", category="review_of_systems", text="Vomiting x2", lay_text=LAY[1], key=True),
            Fact(id="f3", category="medications", text="No medications", lay_text=LAY[2]),
        ],
        exam=[Finding(name="Abdomen", result="Tender at McBurney's point", system="abdominal")],
        tests=[Finding(name="Complete blood count", result="WBC 15.1 x10^9/L")],
        answer=Answer(diagnosis="Acute appendicitis", aliases=["appendicitis"]),
        source=CaseSource(dataset="test", source_id=str(i)),
    )


def write_cases(out, cards: list[CaseCard]) -> None:
    """Cards in the run's `cases` table, as the case synthesis job would have written them."""
    w = ShardWriter(out, "cases", "test", 0, max_records=1000, max_bytes=2**30)
    w.write([(c.id, c.id, c.schema_version, c.model_dump_json()) for c in cards])


def role(req: Request) -> str:
    system = req.messages[0]["content"]
    if "careful physician" in system:
        return "doctor"
    if "playing a patient" in system:
        return "patient"
    if "strict medical examiner" in system:
        return "judge"
    return "cases"


def doctor_out(
    action: str, text: str, ddx: list[tuple[str, float]] | None = None, diagnosis: str | None = None
) -> dict[str, Any]:
    ddx = ddx or [("acute appendicitis", 0.6), ("gastroenteritis", 0.3)]
    out = {
        "reasoning": f"thinking before {action}",
        "ddx": [{"diagnosis": d, "probability": p} for d, p in ddx],
        "action": action,
        "text": text,
        "confidence": 0.7,
        "plan": "surgical review" if action == "final_diagnosis" else "",
    }
    if diagnosis is not None:
        out["diagnosis"] = diagnosis
    return out


def is_reask(m: dict[str, str]) -> bool:
    return m["role"] == "user" and "breaks the rules" in m["content"]


def doctor_turn_no(req: Request) -> int:
    """1-based number of the doctor turn this request asks for (a re-ask is the same turn again)."""
    return 1 + sum(m["role"] == "assistant" for m in req.messages) - sum(is_reask(m) for m in req.messages)


def last(req: Request) -> str:
    return req.messages[-1]["content"]


def scripted(
    doctor: Callable[[int, Request], dict[str, Any]],
    patient: Callable[[Request], str] | None = None,
) -> ScriptedBackend:
    def default_patient(req: Request) -> str:
        n = sum(m["role"] == "assistant" for m in req.messages)  # the opening counts as one
        return LAY[(n - 1) % len(LAY)]

    patient = patient or default_patient

    def script(req: Request):
        r = role(req)
        if r == "doctor":
            return raw(json.dumps(doctor(doctor_turn_no(req), req)))
        if r == "patient":
            return raw(json.dumps({"answer": patient(req)}))
        if r == "judge":
            return raw(json.dumps({"verdict": "true", "reason": "same condition"}))
        return good_case_draft(req)

    return ScriptedBackend(script)


def final_at(k: int, diagnosis: str = "acute appendicitis") -> Callable[[int, Request], dict[str, Any]]:
    """A doctor that examines, asks distinct questions and gives a final diagnosis from turn k on."""

    def doctor(i: int, req: Request) -> dict[str, Any]:
        if i >= k or "must end now" in last(req):
            return doctor_out("final_diagnosis", diagnosis)
        if i == 1:
            return doctor_out("request_test", "CBC, physical exam, lipase")
        return doctor_out("ask", f"Tell me about symptom number {i}?")

    return doctor


def cfg_for(write_config, tmp_path, cards=1, **consult):
    out = tmp_path / "out"
    write_cases(out, [make_card(i) for i in range(cards)])
    c = {"min_turns": 2, "max_turns": 8, **consult}
    return load_config(
        write_config(
            {
                "run": {"output": str(out), "concurrency": 4},
                "teachers": {"default": {"backend": "local"}},
                "consultations": c,
            }
        )
    )


def run(cfg, backend, **kw):
    res = asyncio.run(Runner(cfg, backends={"default": backend}, argv=["test"], **kw).run(build_jobs(cfg)))
    return res, list(iter_records(cfg.run.output, "consultations", Consultation))


def speakers(c: Consultation) -> list[str]:
    return [t.speaker for t in c.turns]


# ------------------------------------------------------------------------------------------ turn budget


def test_early_final_after_min_turns(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=8)
    res, [c] = run(cfg, scripted(final_at(3)))
    assert res.status == "completed" and res.jobs[0].done == 1
    assert c.termination.reason == "final_diagnosis" and c.doctor_turns == 3
    assert speakers(c) == ["patient", "doctor", "examiner", "doctor", "patient", "doctor"]
    assert "system" not in speakers(c)
    assert c.termination.turn == len(c.turns) - 1
    assert c.final.diagnosis == "acute appendicitis" and c.final.plan == "surgical review"
    for t in c.turns:
        if t.speaker == "doctor":
            assert t.reasoning and t.ddx and t.ddx[0].probability >= t.ddx[-1].probability


def test_premature_final_is_answered_by_a_note(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=4, max_turns=8)
    _, [c] = run(cfg, scripted(final_at(2)))
    assert c.termination.reason == "final_diagnosis" and c.doctor_turns == 4
    notes = [t for t in c.turns if t.speaker == "system"]
    assert len(notes) == 2 and all(n.act == "note" and "too early" in n.text for n in notes)
    # Each premature final is recorded as the doctor said it, then the note.
    i = c.turns.index(notes[0])
    assert c.turns[i - 1].act == "final_diagnosis"


def test_max_turns_forces_a_final(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=5)
    backend = scripted(final_at(99))
    _, [c] = run(cfg, backend)
    assert c.termination.reason == "forced_final" and c.doctor_turns == 6
    assert c.turns[-2].speaker == "system" and "must end now" in c.turns[-2].text
    assert c.turns[-1].act == "final_diagnosis" and c.final.diagnosis == "acute appendicitis"


def test_forced_doctor_that_keeps_asking_commits_to_its_leading_ddx(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=1, max_turns=3)

    def stubborn(i, req):
        return doctor_out("ask", f"question {i}", ddx=[("gastroenteritis", 0.2), ("appendicitis", 0.5)])

    _, [c] = run(cfg, scripted(stubborn))
    assert c.termination.reason == "forced_final"
    assert c.final.diagnosis == "appendicitis" and c.turns[-1].act == "final_diagnosis"
    assert c.evaluation.correct is True


def test_loop_detected_after_k_repeats(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=20, loop_repeats=3)
    backend = scripted(
        lambda i, req: (
            doctor_out("final_diagnosis", "appendicitis")
            if "repeating" in last(req)
            else doctor_out("ask", "Do you have a FEVER?" if i % 2 else "do you have fever")
        )
    )
    _, [c] = run(cfg, backend)
    assert c.termination.reason == "loop_detected"
    assert c.evaluation.repeated_questions == 3 and c.evaluation.questions_asked == 4
    # The fourth (third repeated) question is not answered: the doctor is told to commit instead.
    assert sum(role(r) == "patient" for r in backend.calls) == 3
    assert c.turns[-2].speaker == "system" and c.final.diagnosis == "appendicitis"


# ------------------------------------------------------------------------------------------ leakage


def test_leakage_regenerated_with_a_note(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=3, max_turns=8, leakage="regenerate", leakage_retries=2)

    def patient(req):
        return (
            "fine, nothing to worry about" if "named a diagnosis" in last(req) else "maybe my appendicitis?"
        )

    backend = scripted(final_at(3), patient)
    _, [c] = run(cfg, backend)
    patient_turns = [t for t in c.turns if t.speaker == "patient"][1:]
    assert patient_turns and all(
        t.text == "fine, nothing to worry about" and not t.leakage for t in patient_turns
    )
    assert c.evaluation.leakage_flags == [] and c.scores["leakage_regenerations"] == len(patient_turns)
    # The regeneration is a new request (the cache would otherwise return the same leaking answer).
    regen = [r for r in backend.calls if role(r) == "patient" and "named a diagnosis" in last(r)]
    assert len(regen) == len(patient_turns)


def test_leakage_flagged_after_retries(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=3, max_turns=8, leakage="regenerate", leakage_retries=2)
    backend = scripted(final_at(3), lambda req: "the nurse said Acute Appendicitis")
    _, [c] = run(cfg, backend)
    flagged = [t.index for t in c.turns if t.leakage]
    assert flagged and c.evaluation.leakage_flags == flagged
    assert all(c.turns[i].speaker == "patient" for i in flagged)
    assert sum(role(r) == "patient" for r in backend.calls) == 3 * len(flagged)  # 1 + 2 retries each


def test_leakage_quarantines_the_item(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=3, max_turns=8, leakage="quarantine")
    res, records = run(cfg, scripted(final_at(3), lambda req: "I read online it is appendicitis"))
    assert records == [] and res.jobs[0].quarantined == 1 and res.jobs[0].failures["Leakage"] == 1
    q = [json.loads(line) for line in (cfg.run.output / "quarantine.jsonl").read_text().splitlines()]
    assert q[0]["error_type"] == "Leakage" and q[0]["stage"] == "patient"


# ------------------------------------------------------------------------------------------ examiner


def test_examiner_matches_listed_names_and_defaults_the_rest():
    card = make_card()
    e = Examiner(card)
    assert e.lookup("CBC").findings == (card.tests[0],)
    assert e.lookup("full blood counts").findings == (card.tests[0],)
    assert e.lookup("physical examination").findings == tuple(card.exam)
    assert e.lookup("abdominal exam").findings == tuple(card.exam)
    assert e.lookup("serum lipase").findings == ()
    text = e.answer(split_requests("CBC, serum lipase; ECG", 6))
    assert text.splitlines() == [
        "Complete blood count: WBC 15.1 x10^9/L",
        "serum lipase: Within normal limits.",
        "ECG: Within normal limits.",
    ]
    assert split_requests("a, b, c, d", 2) == ["a", "b"]


def test_examiner_turn_in_a_consultation(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2)
    _, [c] = run(cfg, scripted(final_at(2)))
    doc, exam = c.turns[1], c.turns[2]
    assert doc.act == "request_test" and doc.tests_requested == ["CBC", "physical exam", "lipase"]
    assert exam.speaker == "examiner" and exam.act == "result"
    assert (
        "WBC 15.1" in exam.text and "McBurney" in exam.text and "lipase: Within normal limits." in exam.text
    )
    assert c.evaluation.tests_ordered == 3


# ------------------------------------------------------------------------------------------ evaluation


def test_evaluation_fields(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=5, max_turns=8)
    ddx = [("gastroenteritis", 0.5), ("appendicitis", 0.4), ("ovarian torsion", 0.1)]

    def doctor(i, req):
        if i >= 5:
            return doctor_out("final_diagnosis", "gastroenteritis", ddx)
        return doctor_out("ask", f"question {i}")

    _, [c] = run(cfg, scripted(doctor))
    ev = c.evaluation
    assert ev.correct is False and ev.verdict_stage == "lexical" and ev.top_k_hit == 2
    assert ev.key_fact_recall == 1.0  # both key facts were said by the patient
    assert ev.questions_asked == 4 and ev.tests_ordered == 0 and ev.repeated_questions == 0
    said = {f for t in c.turns for f in t.revealed_fact_ids}
    assert said == {"f1", "f2", "f3"}


def test_correct_by_lexical_match_and_judge_when_unsure(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4)
    _, [c] = run(cfg, scripted(final_at(2, "Appendicitis, acute")))
    assert (
        c.evaluation.correct is True
        and c.evaluation.verdict_stage == "lexical"
        and c.evaluation.top_k_hit == 1
    )

    cfg2 = cfg_for(write_config, tmp_path / "j", min_turns=2, max_turns=4, judge="default")
    backend = scripted(final_at(2, "inflamed vermiform appendix"))
    _, [c2] = run(cfg2, backend)
    assert c2.evaluation.correct is True and c2.evaluation.verdict_stage == "judge"
    assert [call.role for call in c2.provenance.calls].count("diagnosis_judge") == 1


# ------------------------------------------------------------------------------------------ prompts, resume


def _prefix_ok(requests: list[Request]) -> None:
    for prev, cur in itertools.pairwise(requests):
        assert list(cur.messages[: len(prev.messages)]) == list(prev.messages)
        assert len(cur.messages) > len(prev.messages)


def test_each_request_extends_the_previous_one(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=1, min_turns=4, max_turns=6)
    backend = scripted(final_at(99))  # tests, questions, a forced final: every kind of message
    run(cfg, backend)
    doctor = [r for r in backend.calls if role(r) == "doctor"]
    patient = [r for r in backend.calls if role(r) == "patient"]
    assert len(doctor) == 7 and len(patient) == 5
    _prefix_ok(doctor)
    _prefix_ok(patient)
    # Strict alternation after the system prompt, whatever the doctor heard in between.
    for r in doctor:
        assert [m["role"] for m in r.messages[1:]] == ["user", "assistant"] * (len(r.messages) // 2 - 1) + [
            "user"
        ]
    # The patient never sees the diagnosis, the exam or the tests.
    assert all("appendicitis" not in m["content"].lower() for r in patient for m in r.messages)
    assert all("WBC" not in m["content"] for r in patient for m in r.messages)


def test_resume_sends_nothing(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=3, per_case=2)
    res1, recs1 = run(cfg, scripted(final_at(3)))
    assert res1.jobs[0].done == 6 and len(recs1) == 6
    b2 = scripted(final_at(3))
    res2, recs2 = run(cfg, b2)
    assert b2.calls == [] and res2.jobs[0].skipped == 6 and len(recs2) == 6


def test_interrupted_consultations_replay_from_the_cache(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=2)
    run(cfg, scripted(final_at(3)))
    # Forget the finished items but keep the request cache: redoing them sends nothing.
    (cfg.run.output / "state.sqlite").unlink()
    for p in (cfg.run.output / "data" / "consultations").glob("*.parquet"):
        p.unlink()
    b2 = scripted(final_at(3))
    res, recs = run(cfg, b2)
    assert b2.calls == [] and res.jobs[0].done == 2 and len(recs) == 2


def test_items_ids_personas_and_caps(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=3, per_case=2, n=5, personas=["vague", "anxious"])
    [job] = build_jobs(cfg)
    items = list(job.items())
    ids = [c.id for c in sorted((make_card(i) for i in range(3)), key=lambda c: c.id)]
    assert [it.id for it in items] == [
        f"{ids[0]}-0",
        f"{ids[0]}-1",
        f"{ids[1]}-0",
        f"{ids[1]}-1",
        f"{ids[2]}-0",
    ]
    assert job.total() == 5 and {job.persona(it) for it in items} <= {"vague", "anxious"}
    _, recs = run(cfg, scripted(final_at(2)))
    assert len(recs) == 5 and all(r.persona in ("vague", "anxious") for r in recs)
    assert {r.case_id for r in recs} == set(ids)


def test_personas_reach_the_patient_prompt(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, personas=["low_health_literacy"])
    backend = scripted(final_at(3))
    run(cfg, backend)
    system = next(r for r in backend.calls if role(r) == "patient").messages[0]["content"]
    assert "little health knowledge" in system and LAY[0] in system


def test_from_run_consults_on_synthesized_cases(write_config, tmp_path):
    cfg = load_config(
        write_config(
            {
                "run": {"output": str(tmp_path / "out")},
                "teachers": {"default": {"backend": "local"}},
                "cases": {"synthesize": {"n": 3}},
                "consultations": {"cases": "from_run", "min_turns": 2, "max_turns": 4},
            }
        )
    )
    res, recs = run(cfg, scripted(final_at(2)))
    assert [j.job for j in res.jobs] == ["case_synthesis", "consultations"]
    assert len(recs) == 3 and len({r.case_id for r in recs}) == 3


def test_config_reports_missing_teachers_and_bad_budgets(write_config, tmp_path):
    base = {"run": {"output": str(tmp_path / "o")}, "teachers": {"default": {"backend": "local"}}}
    with pytest.raises(ConfigError, match=r"consultations\.patient names teacher 'nope'"):
        load_config(write_config({**base, "consultations": {"patient": "nope"}}))
    with pytest.raises(ConfigError, match="min_turns"):
        load_config(write_config({**base, "consultations": {"min_turns": 9, "max_turns": 3}}))
    imported = {"consultations": {"cases": {"import": "data/x.jsonl", "format": "medqa"}}}
    with pytest.raises(ConfigError, match=r"consultations\.cases\.import: .*x\.jsonl does not exist"):
        load_config(write_config({**base, **imported}))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text("")
    cfg = load_config(
        write_config({**base, "consultations": {"cases": {"import": "data/x.jsonl", "format": "medqa"}}})
    )
    assert cfg.consultations.cases.path == (tmp_path / "data" / "x.jsonl").resolve()


def test_report(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=4, min_turns=2, max_turns=3)

    def doctor(i, req):
        case_no = int(req.messages[1]["content"].split("(")[1][0])
        if "must end now" in last(req) or (case_no % 2 and i >= 2):
            return doctor_out("final_diagnosis", "appendicitis" if case_no < 2 else "gastroenteritis")
        return doctor_out("ask", f"q{i}")

    run(cfg, scripted(doctor))
    rep = consultation_report(cfg.run.output)
    assert rep["n"] == 4 and rep["accuracy"] == 0.5 and rep["undecided"] == 0
    assert rep["termination"] == {"final_diagnosis": 2, "forced_final": 2}
    assert rep["doctor_turns"]["min"] == 2 and rep["doctor_turns"]["max"] == 4
    assert sum(rep["doctor_turns"]["histogram"].values()) == 4
    assert rep["top_k_hit_rate"] == 1.0  # appendicitis is in every differential
    assert rep["leakage"] == {"consultations_flagged": 0, "turns_flagged": 0}
    from rich.console import Console

    buf = io.StringIO()
    render_consultation_report(rep, Console(file=buf, width=120))
    assert "diagnostic accuracy" in buf.getvalue() and "50.0%" in buf.getvalue()
    assert consultation_report(tmp_path / "empty") == {"n": 0}


# ------------------------------------------------------------------------------------------ the real model


@pytest.mark.slow
def test_one_real_consultation_with_the_embedded_model(write_config, tmp_path, monkeypatch):
    """Doctor and patient played by SmolLM2-135M under grammar-constrained decoding: the record is valid and
    every doctor turn carries reasoning and a DDx (the content of a 135M model's consultation is not judged)."""
    from schemas.embedded import embedded_model_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedded_model_path()  # fails (never skips) when the embedded model is not installed
    out = tmp_path / "out"
    write_cases(out, [make_card()])
    cfg = load_config(
        write_config(
            {
                "run": {"output": str(out)},
                "teachers": {
                    "default": {"backend": "local", "params": {"temperature": 0.7, "max_tokens": 640}}
                },
                "consultations": {
                    "min_turns": 2,
                    "max_turns": 3,
                    "patient_params": {"temperature": 0.7, "max_tokens": 120},
                },
            }
        )
    )
    res = asyncio.run(Runner(cfg, argv=["test"]).run(build_jobs(cfg)))
    quarantine = (out / "quarantine.jsonl").read_text()
    assert res.jobs[0].done == 1, quarantine
    [c] = list(iter_records(out, "consultations", Consultation))
    doctor_turns = [t for t in c.turns if t.speaker == "doctor"]
    assert 2 <= len(doctor_turns) <= 4 and c.final is not None
    assert all(t.reasoning and t.ddx for t in doctor_turns)
    assert c.termination.reason in ("final_diagnosis", "forced_final", "loop_detected")
    assert c.evaluation.verdict_stage == "lexical"
    assert {call.role for call in c.provenance.calls} <= {"doctor", "patient"}
    Consultation.model_validate_json(c.model_dump_json())


def test_dry_run_estimate_counts_cached_first_requests(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=2, min_turns=2, max_turns=4)
    backend = scripted(final_at(2))
    [est] = Runner(cfg, backends={"default": backend}).estimate(build_jobs(cfg))
    assert est.items_todo == 2 and est.requests > 0 and est.cached_requests == 0 and backend.calls == []
    run(cfg, backend)
    (cfg.run.output / "state.sqlite").unlink()
    [est] = Runner(cfg, backends={"default": backend}).estimate(build_jobs(cfg))
    assert est.items_todo == 2 and est.cached_requests == 2


def test_imported_cases(write_config, tmp_path):
    from tests.conftest import SAMPLES

    sample = SAMPLES / "agentclinic_osce_sample.jsonl"
    assert sample.exists(), f"{sample}: the public samples must sit in ../shared/samples"
    cfg = load_config(
        write_config(
            {
                "run": {"output": str(tmp_path / "out")},
                "teachers": {"default": {"backend": "local"}},
                "consultations": {
                    "cases": {"import": str(sample), "format": "agentclinic"},
                    "limit": 2,
                    "min_turns": 2,
                    "max_turns": 3,
                },
            }
        )
    )
    _, recs = run(cfg, scripted(final_at(2)))
    assert len(recs) == 2 and all(r.termination.reason == "final_diagnosis" for r in recs)
