"""The doctor's snapshot contract in the simulator, with the scripted fake teacher: every failure class
(duplicate names, a sum above 1, sentence-length names, unsorted, a sentence as the final diagnosis) re-asked
and fixed, or kept as written and flagged when the re-asks run out; the re-ask as a new request; a doctor
that cannot be re-asked (train's replay)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from schemas import Consultation
from schemas.consultation import DDxItem
from synth.dialogue.ddx import snapshot_problems
from synth.teachers.base import Request
from tests.test_dialogue import (
    _prefix_ok,
    cfg_for,
    doctor_out,
    final_at,
    is_reask,
    last,
    make_card,
    role,
    run,
    scripted,
)

# ------------------------------------------------------------------------------------------ snapshot contract

GOOD = [("acute appendicitis", 0.6), ("gastroenteritis", 0.3)]


def doctor_breaking(bad: dict[str, Any], fixed: dict[str, Any] | None, k: int = 3):
    """Asks, then a final from turn k; every first reply of a turn is `bad` (ddx and/or final fields), the
    re-asked one `fixed` (or `bad` again when None)."""

    def doctor(i: int, req: Request) -> dict[str, Any]:
        reasked = is_reask(req.messages[-1])
        fields = (fixed if fixed is not None else bad) if reasked else bad
        if i >= k or "must end now" in last(req):
            return {**doctor_out("final_diagnosis", "acute appendicitis"), **fields}
        return {**doctor_out("ask", f"Tell me about symptom number {i}?"), **fields}

    return doctor


def ddx_of(pairs: list[tuple[str, float]]) -> dict[str, Any]:
    return {"ddx": [{"diagnosis": d, "probability": p} for d, p in pairs]}


def doctor_turns(c: Consultation):
    return [t for t in c.turns if t.speaker == "doctor"]


@pytest.mark.parametrize(
    ("pairs", "flags", "says"),
    [
        ([("appendicitis", 0.5), ("Acute appendicitis", 0.3)], ["duplicate_diagnoses"], "same diagnosis"),
        ([("appendicitis", 0.7), ("gastroenteritis", 0.5)], ["probability_sum_above_one"], "add up to 1.20"),
        (
            [("I think the patient has appendicitis", 0.6), ("gastroenteritis", 0.3)],
            ["sentence_name"],
            "not a diagnosis name",
        ),
        ([("gastroenteritis", 0.3), ("appendicitis", 0.6)], ["unsorted"], "most likely diagnosis first"),
        # the demo's 135M model: one name four times, each certain
        ([("appendicitis", 1.0)] * 4, ["duplicate_diagnoses", "probability_sum_above_one"], "same diagnosis"),
    ],
)
def test_broken_snapshot_is_reasked_and_the_fixed_reply_kept(write_config, tmp_path, pairs, flags, says):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4, snapshot_retries=1)
    backend = scripted(doctor_breaking(ddx_of(pairs), ddx_of(GOOD)))
    _, [c] = run(cfg, backend)
    doc = doctor_turns(c)
    assert len(doc) == 3 and all(t.reasks == 1 and t.snapshot_flags == [] for t in doc)
    assert all([(d.diagnosis, d.probability) for d in t.ddx] == GOOD for t in doc)
    assert c.evaluation.snapshot_reasks == 3 and c.evaluation.broken_snapshots == []
    assert c.scores["snapshot_reasks"] == 3.0
    reasks = [r for r in backend.calls if role(r) == "doctor" and is_reask(r.messages[-1])]
    assert len(reasks) == 3
    # A new request: the bad reply and the note with the error; the history keeps only the accepted reply.
    first = reasks[0]
    assert json.loads(first.messages[-2]["content"])["ddx"] == ddx_of(pairs)["ddx"]
    assert says in first.messages[-1]["content"]
    later = [r for r in backend.calls if role(r) == "doctor" and not is_reask(r.messages[-1])][-1]
    assert not any(is_reask(m) for m in later.messages)
    assert all(
        json.loads(m["content"])["ddx"] == ddx_of(GOOD)["ddx"]
        for m in later.messages
        if m["role"] == "assistant"
    )
    # The re-ask was for this failure class and no other.
    assert [
        p.flag for p in snapshot_problems([DDxItem(diagnosis=d, probability=p) for d, p in pairs])
    ] == flags


@pytest.mark.parametrize(
    ("pairs", "flags"),
    [
        ([("appendicitis", 0.5), ("appendicitis", 0.3)], ["duplicate_diagnoses"]),
        ([("appendicitis", 1.0)] * 4, ["duplicate_diagnoses", "probability_sum_above_one"]),
        ([("gastroenteritis", 0.3), ("acute appendicitis", 0.6)], ["unsorted"]),
        ([("appendicitis because of the right-sided pain", 0.6)], ["sentence_name"]),
    ],
)
def test_snapshot_still_broken_after_reasks_is_kept_as_written_and_flagged(
    write_config, tmp_path, pairs, flags
):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4, snapshot_retries=2)
    backend = scripted(doctor_breaking(ddx_of(pairs), None))
    _, [c] = run(cfg, backend)
    doc = doctor_turns(c)
    assert len(doc) == 3
    for t in doc:
        assert t.reasks == 2 and t.snapshot_flags == flags
        assert [(d.diagnosis, d.probability) for d in t.ddx] == pairs  # never repaired, never re-sorted
    assert sum(role(r) == "doctor" for r in backend.calls) == 3 * 3  # 1 + 2 re-asks per turn
    ev = c.evaluation
    assert ev.broken_snapshots == [t.index for t in doc]
    assert ev.snapshot_flags == {f: 3 for f in flags} and ev.snapshot_reasks == 6
    assert c.final.differential == doc[-1].ddx


def test_no_reask_budget_flags_at_once(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4, snapshot_retries=0)
    backend = scripted(doctor_breaking(ddx_of([("appendicitis", 0.9), ("gastroenteritis", 0.9)]), None))
    _, [c] = run(cfg, backend)
    assert sum(role(r) == "doctor" for r in backend.calls) == 3
    assert all(t.snapshot_flags == ["probability_sum_above_one"] and t.reasks == 0 for t in doctor_turns(c))


def test_final_diagnosis_name_apart_from_the_words_to_the_patient(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4)
    said = "You most likely have an inflamed appendix; we will operate today."
    backend = scripted(doctor_breaking({"diagnosis": "Acute appendicitis", "text": said}, None))
    _, [c] = run(cfg, backend)
    assert c.final.diagnosis == "Acute appendicitis" and c.final.name_source == "diagnosis"
    assert c.final.statement == said and c.final.plan == "surgical review" and c.final.flags == []
    final = c.turns[c.termination.turn]
    assert final.text == "Acute appendicitis" and final.statement == said and final.reasks == 0
    assert c.evaluation.correct is True


def test_sentence_as_final_diagnosis_is_reasked(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4, snapshot_retries=1)
    sentence = {"diagnosis": "", "text": "I think you have appendicitis and need surgery."}
    fixed = {"diagnosis": "Acute appendicitis", "text": "You have appendicitis."}
    backend = scripted(doctor_breaking(sentence, fixed))
    _, [c] = run(cfg, backend)
    final = c.turns[c.termination.turn]
    assert final.reasks == 1 and final.snapshot_flags == [] and final.text == "Acute appendicitis"
    assert c.final.name_source == "diagnosis" and c.final.flags == []
    asks = [t for t in doctor_turns(c) if t.act == "ask"]
    assert asks and all(t.reasks == 0 for t in asks)  # only the final turn broke the contract
    [note] = [
        r.messages[-1]["content"] for r in backend.calls if role(r) == "doctor" and is_reask(r.messages[-1])
    ]
    assert 'short name in "diagnosis"' in note


@pytest.mark.parametrize(
    ("text", "ddx", "name", "source"),
    [
        # the one differential entry the sentence names is taken, flagged
        ("Most likely acute appendicitis; surgery today.", GOOD, "acute appendicitis", "extracted"),
        ("I think it is appendicitis.", [("appendicitis", 0.6), ("gastroenteritis", 0.3)], "appendicitis",
         "extracted"),
        # an entry that says more than the sentence ("acute") is not put in the doctor's mouth
        ("I think you have appendicitis and need surgery.", GOOD, None, "sentence"),
        # a sentence that negates, or names two entries, is kept as written: the verifier judges it
        ("It is not gastroenteritis, it is appendicitis.", [("appendicitis", 0.6), ("gastroenteritis", 0.3)],
         None, "sentence"),
        ("Either appendicitis or gastroenteritis, we will see.", [("appendicitis", 0.6), ("gastroenteritis", 0.3)],
         None, "sentence"),
    ],
)  # fmt: skip
def test_sentence_final_kept_after_reasks_is_extracted_with_a_flag(
    write_config, tmp_path, text, ddx, name, source
):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4, snapshot_retries=1)
    backend = scripted(doctor_breaking({"diagnosis": "", "text": text, **ddx_of(ddx)}, None))
    _, [c] = run(cfg, backend)
    final = c.turns[c.termination.turn]
    assert final.snapshot_flags == ["final_is_sentence"] and final.reasks == 1
    assert c.final.flags == ["final_is_sentence"] and c.evaluation.snapshot_flags == {"final_is_sentence": 1}
    if source == "sentence":
        assert c.final.diagnosis == text and c.final.name_source == "sentence"
        assert c.evaluation.correct is not True  # a sentence is never a lexical "match"
    else:
        assert c.final.name_source == "extracted" and c.final.statement == text
        assert c.final.diagnosis == name and c.evaluation.correct is True


def test_reasks_are_new_requests_and_the_prefix_property_holds(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=2, max_turns=4, snapshot_retries=1)
    backend = scripted(
        doctor_breaking(ddx_of([("appendicitis", 0.7), ("gastroenteritis", 0.7)]), ddx_of(GOOD))
    )
    run(cfg, backend)
    doctor = [r for r in backend.calls if role(r) == "doctor"]
    firsts = [r for r in doctor if not is_reask(r.messages[-1])]
    _prefix_ok(firsts)  # the accepted exchanges: each turn's first request extends the last one
    keys = {json.dumps(r.messages) for r in doctor}
    assert len(keys) == len(
        doctor
    )  # no two requests alike: the cache cannot answer a re-ask with the bad reply


def test_a_doctor_without_reask_is_measured_as_it_answers():
    """train's replay doctor has `hear` and `act` only, and leaves `diagnosis` out: never re-asked, flagged,
    its short final text taken as the name."""
    from synth.dialogue.agents import DDxGuess, DoctorOutput, PatientAgent
    from synth.dialogue.config import ConsultationsConfig
    from synth.dialogue.director import Director
    from synth.teachers.base import SamplingParams
    from synth.teachers.teacher import Teacher

    class Replayed:
        def __init__(self) -> None:
            self.turns = 0

        def hear(self, kind: str, text: str = "", **_: str) -> str:
            return f"{kind}: {text}"

        async def act(self) -> DoctorOutput:
            self.turns += 1
            final = self.turns >= 2
            return DoctorOutput(
                reasoning="r",
                ddx=[DDxGuess(diagnosis="appendicitis", probability=0.4)] * 2,  # a duplicate
                action="final_diagnosis" if final else "ask",
                text="appendicitis" if final else "Any fever?",
                confidence=0.6,
                plan="",
            )

    card = make_card()
    patient = PatientAgent(Teacher("p", scripted(final_at(9))), SamplingParams(), card, "neutral")
    doctor = Replayed()
    cfg = ConsultationsConfig(min_turns=2, max_turns=4, snapshot_retries=3)
    t = asyncio.run(Director(cfg, card, doctor, patient).run())  # type: ignore[arg-type]
    assert doctor.turns == 2 and t.snapshot_reasks == 0
    assert all(x.snapshot_flags == ["duplicate_diagnoses"] for x in t.turns if x.speaker == "doctor")
    assert t.final is not None and t.final.diagnosis == "appendicitis" and t.final.name_source == "text"
