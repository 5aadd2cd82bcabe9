"""Consultation replay: the model under evaluation plays the doctor over held-out cases, against the
generator's own patient simulator, examiner and director. The one part of `train` that imports synth (lazily:
`train` installs and runs everything else without the generator).

The doctor talks in the published `sft` format it was trained on (docs/publish.md): it hears "Patient: …",
"Results: …" and "Note: …" messages under the consultations' system prompt, and replies with an optional
`<reasoning>` block and either a question, "I would like these examinations or tests: …" or "Final diagnosis:
…". `ReplayDoctor` turns each reply into the director's `DoctorOutput`, so the turn budget, forced finals,
loop detection, leakage guard and evaluation are exactly the generator's.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

from train.data import load_split
from train.lm import generate
from train.recipe import EvalRecipe, GenerationSpec, ReplayTask

_TESTS = "I would like these examinations or tests:"
_FINAL = re.compile(r"^\s*final diagnosis\s*:\s*", re.IGNORECASE)
_DIFFERENTIAL = re.compile(r"^\s*differential\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_DDX_ITEM = re.compile(r"^(.*?)\s*\((0(?:\.\d+)?|1(?:\.0+)?)\)\s*$")
_NOTES = {
    "premature": "Note: it is too early to decide. Continue the consultation: ask more questions or request "
    "tests before you give a final diagnosis.",
    "force": "Note: the consultation must end now. Reply with 'Final diagnosis:' and your single most likely "
    "diagnosis.",
    "loop": "Note: you are repeating questions you have already asked. The consultation must end now. Reply "
    "with 'Final diagnosis:' and your single most likely diagnosis.",
}


def parse_doctor_reply(reply: str) -> dict[str, Any]:
    """reasoning, ddx [(diagnosis, p)], action, text, plan from a reply in the sft view's doctor format."""
    reasoning = ""
    m = re.search(r"<reasoning>(.*?)(?:</reasoning>|$)", reply, flags=re.DOTALL)
    visible = reply
    if m:
        reasoning = m.group(1).strip()
        visible = (reply[: m.start()] + reply[m.end() :]).strip()
    ddx: list[tuple[str, float]] = []
    d = _DIFFERENTIAL.search(reasoning)
    if d:
        for part in d.group(1).split(";"):
            item = _DDX_ITEM.match(part.strip())
            if item and item.group(1).strip():
                ddx.append((item.group(1).strip(), float(item.group(2))))
        reasoning = (reasoning[: d.start()] + reasoning[d.end() :]).strip()
    visible = visible.strip()
    plan = ""
    if _FINAL.match(visible):
        body = _FINAL.sub("", visible, count=1)
        diagnosis, _, rest = body.partition("\n")
        p = re.search(r"plan\s*:\s*(.+)", rest, flags=re.IGNORECASE | re.DOTALL)
        plan = p.group(1).strip() if p else ""
        action, text = "final_diagnosis", diagnosis.strip()
    elif visible.lower().startswith(_TESTS.lower()):
        action, text = "request_test", visible[len(_TESTS) :].strip()
    else:
        action, text = "ask", visible.split("\n\n")[0].strip()
    return {"reasoning": reasoning, "ddx": ddx, "action": action, "text": text, "plan": plan}


class ReplayDoctor:
    """The director's doctor interface (`hear`, `act`) over a transformers model in the sft format."""

    def __init__(self, model: Any, tok: Any, gen: GenerationSpec, system: str, opening: str):
        self.model, self.tok, self.gen = model, tok, gen
        self.messages: list[dict[str, str]] = [{"role": "system", "content": system}]
        self.pending: list[str] = [f"Patient: {opening}"]
        self.replies: list[str] = []

    def hear(self, kind: str, text: str = "", **_: str) -> str:
        if kind == "patient":
            said = f"Patient: {text}"
        elif kind == "result":
            said = f"Results:\n{text}"
        else:
            said = _NOTES[kind]
        self.pending.append(said)
        return said

    async def act(self) -> Any:
        from synth.dialogue.agents import DDxGuess, DoctorOutput

        self.messages.append({"role": "user", "content": "\n\n".join(self.pending)})
        self.pending = []
        reply = (await asyncio.to_thread(generate, self.model, self.tok, [list(self.messages)], self.gen))[0]
        self.replies.append(reply)
        self.messages.append({"role": "assistant", "content": reply})
        p = parse_doctor_reply(reply)
        text = p["text"][:150] or "(no reply)"
        guesses = p["ddx"][:4] or [(text if p["action"] == "final_diagnosis" else "undetermined", 1.0)]
        return DoctorOutput(
            reasoning=(p["reasoning"] or "(none)")[:240],
            ddx=[DDxGuess(diagnosis=d[:60] or "undetermined", probability=pr) for d, pr in guesses],
            action=p["action"],
            text=text,
            confidence=max(pr for _, pr in guesses),
            plan=p["plan"][:150],
        )


async def _replay(recipe: EvalRecipe, task: ReplayTask, model: Any, tok: Any) -> dict[str, Any]:
    from schemas import CaseCard
    from schemas.arrow import decode_row
    from synth.dialogue.agents import PatientAgent
    from synth.dialogue.config import ConsultationsConfig
    from synth.dialogue.director import Director
    from synth.dialogue.evaluate import evaluate
    from synth.publish.views import SYSTEM_PROMPT_REASONING
    from synth.teachers.base import SamplingParams
    from synth.teachers.config import LocalTeacherConfig
    from synth.teachers.registry import build_teacher

    cards = [decode_row(CaseCard, r) for r in load_split(task.data, "cases")]
    cfg = ConsultationsConfig(min_turns=task.min_turns, max_turns=task.max_turns, leakage="regenerate")
    gen = recipe.generation.model_copy(update={"max_new_tokens": task.doctor_max_tokens, "batch_size": 1})
    patient_teacher = build_teacher(
        "patient", LocalTeacherConfig(backend="local", model=task.patient), cache=None
    )
    items: list[dict[str, Any]] = []
    try:
        for i, card in enumerate(cards):
            doctor = ReplayDoctor(model, tok, gen, SYSTEM_PROMPT_REASONING, card.opening_statement)
            params = SamplingParams(temperature=0.7, max_tokens=task.patient_max_tokens, seed=recipe.seed + i)
            patient = PatientAgent(patient_teacher, params, card, "neutral")
            transcript = await Director(cfg, card, doctor, patient).run()  # type: ignore[arg-type]
            ev, _ = await evaluate(transcript, card, None, recipe.seed + i)
            assert transcript.termination is not None and transcript.final is not None
            items.append({
                "case_id": card.id, "diagnosis": card.answer.diagnosis, "final": transcript.final.diagnosis,
                "correct": ev.correct, "top_k_hit": ev.top_k_hit, "questions": ev.questions_asked,
                "tests": ev.tests_ordered, "doctor_turns": sum(t.speaker == "doctor" for t in transcript.turns),
                "termination": transcript.termination.reason, "key_fact_recall": ev.key_fact_recall,
                "replies": doctor.replies,
            })  # fmt: skip
    finally:
        await patient_teacher.aclose()
    n = len(items)
    return {
        "n": n,
        "accuracy": sum(it["correct"] is True for it in items) / n,
        "top3_hit": sum(it["top_k_hit"] is not None and it["top_k_hit"] <= 3 for it in items) / n,
        "mean_questions": sum(it["questions"] for it in items) / n,
        "mean_tests": sum(it["tests"] for it in items) / n,
        "mean_doctor_turns": sum(it["doctor_turns"] for it in items) / n,
        "terminations": dict(Counter(it["termination"] for it in items)),
        "items": json.loads(json.dumps(items, default=str)),
    }


def replay(recipe: EvalRecipe, task: ReplayTask, model: Any, tok: Any) -> dict[str, Any]:
    try:
        import synth  # noqa: F401
    except ImportError as e:
        raise RuntimeError(
            "consultation replay needs the generator (the `synth` package of medsynth) for its patient and "
            "examiner simulators; every other evaluation runs without it"
        ) from e
    return asyncio.run(_replay(recipe, task, model, tok))
