"""A small generated corpus for the train package's tests and evidence runs, published with `synth publish`.

Written by script from the shipped seed cards and seed MCQs, not by a teacher (a 135M model writes too little
that verifies to train on): per case one consultation that reaches the card's diagnosis and one that settles
on the first differential entry instead (DPO pairs; only the first reaches SFT), the patient answering with the
card's lay facts and the examiner with its findings; per MCQ a verifiable problem and a reasoning trace
whose first chain concludes on a distractor and whose second, verified, on the answer. Everything then goes
through the real `publish_folder`, so train reads exactly what users publish.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from schemas import (
    CaseCard,
    Consultation,
    Evaluation,
    FinalDiagnosis,
    Provenance,
    ReasoningTrace,
    SearchStep,
    SourceMCQ,
    TeacherCall,
    TemplateRef,
    Termination,
    Turn,
    VerifiableProblem,
)
from schemas.consultation import DDxItem
from synth.cases.seeds import load_seed_cases
from synth.publish import publish_folder
from synth.resources import resource_dir
from synth.store.shards import ShardWriter

QUESTIONS = {
    "history_present_illness": "Can you tell me more about how this started and how it has changed?",
    "past_medical_history": "Do you have any medical conditions?",
    "medications": "Do you take any medicines regularly?",
    "allergies": "Are you allergic to anything?",
    "family_history": "Does anything run in your family?",
    "social_history": "Tell me about your work, smoking and drinking.",
    "review_of_systems": "Have you noticed anything else, anywhere else in your body?",
    "chief_complaint": "What bothers you most?",
    "other": "Is there anything else you think I should know?",
}


def _prov(role: str) -> Provenance:
    ref = TemplateRef(id=role, version=1, sha256=hashlib.sha256(role.encode()).hexdigest())
    call = TeacherCall(role=role, teacher="script", backend="script", model="train-corpus", template=ref,
                       prompt_tokens=0, completion_tokens=0)  # fmt: skip
    return Provenance(engine_version="0.1.0", run_id="train-corpus", job=role, calls=[call])


def consultation(card: CaseCard, correct: bool) -> Consultation:
    answer = card.answer.diagnosis
    alternatives = [d.diagnosis for d in card.answer.differential]
    final = answer if correct else alternatives[0]
    ddx = [answer, *alternatives][:3] if correct else [alternatives[0], answer, *alternatives[1:]][:3]
    turns = [Turn(index=0, speaker="patient", act="answer", text=card.opening_statement)]
    asked: set[str] = set()
    for fact in card.facts[:4]:
        q = QUESTIONS[fact.category]
        if q in asked:
            continue
        asked.add(q)
        turns.append(Turn(index=len(turns), speaker="doctor", act="ask", text=q,
                          reasoning=f"Opening: {card.opening_statement[:80]} I need the {fact.category.replace('_', ' ')}.",
                          ddx=[DDxItem(diagnosis=d, probability=round(0.6 / (i + 1), 2)) for i, d in enumerate(ddx)]))  # fmt: skip
        turns.append(Turn(index=len(turns), speaker="patient", act="answer", text=fact.lay_text or fact.text))
    findings = [*card.exam[:2], *card.tests[:2]]
    if findings:
        names = ", ".join(f.name for f in findings)
        turns.append(Turn(index=len(turns), speaker="doctor", act="request_test", text=names,
                          reasoning=f"Examination and tests to separate {' from '.join(ddx[:2])}.",
                          tests_requested=[f.name for f in findings]))  # fmt: skip
        turns.append(Turn(index=len(turns), speaker="examiner", act="result",
                          text="\n".join(f"{f.name}: {f.result}" for f in findings)))  # fmt: skip
    turns.append(Turn(index=len(turns), speaker="doctor", act="final_diagnosis", text=final,
                      reasoning=f"The history and findings fit {final} best.",
                      ddx=[DDxItem(diagnosis=d, probability=round(0.7 / (i + 1), 2)) for i, d in enumerate(ddx)]))  # fmt: skip
    return Consultation(
        case_id=card.id, turns=turns, termination=Termination(reason="final_diagnosis", turn=len(turns) - 1),
        final=FinalDiagnosis(diagnosis=final, differential=[DDxItem(diagnosis=d, probability=0.3) for d in ddx],
                             confidence=0.7, plan="Treat and follow up."),
        evaluation=Evaluation(correct=correct, verdict_stage="lexical"), persona="neutral",
        doctor_turns=sum(t.speaker == "doctor" for t in turns), provenance=_prov("doctor"),
    )  # fmt: skip


def problem_and_trace(mcq: dict[str, Any]) -> tuple[VerifiableProblem, ReasoningTrace]:
    answer = mcq["answer"]
    wrong = next(v for k, v in sorted(mcq["options"].items()) if k != mcq["answer_idx"])
    source = SourceMCQ(dataset="datasets/seeds/mcqs/medqa_style.jsonl", source_id=mcq["id"],
                       question=mcq["question"], options=mcq["options"], answer_idx=mcq["answer_idx"],
                       answer=answer)  # fmt: skip
    p = VerifiableProblem(question=mcq["question"], ground_truth=answer, source=source,
                          provenance=_prov("problem_rewrite"))  # fmt: skip
    first = [
        f"The question describes: {mcq['question'].split('. ')[0]}.",
        f"{wrong} is a possibility to weigh.",
    ]
    second = [f"Looking again, the key findings are typical of {answer}, not {wrong}.",
              f"So the best answer is {answer}."]  # fmt: skip
    steps = [
        SearchStep(iteration=0, strategy="init", thinking=first, conclusion=wrong, verdict="false"),
        SearchStep(iteration=1, strategy="correct", thinking=second, conclusion=answer, verdict="true"),
    ]
    t = ReasoningTrace(problem_id=p.id, question=p.question, ground_truth=answer, steps=steps, success=True,
                       natural_thinking="\n\n".join(first + second), final_response=f"{answer}.",
                       provenance=_prov("reasoning_init"))  # fmt: skip
    return p, t


def seed_mcqs() -> list[dict[str, Any]]:
    path = resource_dir("datasets/seeds") / "mcqs" / "medqa_style.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def build_run(root: Path, n_cases: int = 16, n_mcqs: int = 48) -> Path:
    cards = load_seed_cases()[:n_cases]
    cons = [consultation(c, ok) for c in cards for ok in (True, False)]
    pairs = [problem_and_trace(m) for m in seed_mcqs()[:n_mcqs]]
    tables: dict[str, list[Any]] = {"cases": cards, "consultations": cons,
                                    "problems": [p for p, _ in pairs], "reasoning": [t for _, t in pairs]}  # fmt: skip
    for table, recs in tables.items():
        w = ShardWriter(root, table, "train-corpus", 0, max_records=10_000, max_bytes=2**30)
        w.write([(r.id, r.id, r.schema_version, r.model_dump_json()) for r in recs])
    manifest = {"engine_version": "0.1.0", "runs": [{"run_id": "train-corpus"}],
                "config": {"run": {"output": root.name}}, "prompts": {}}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def build_published(tmp: Path, n_cases: int = 16, n_mcqs: int = 48, fractions=(0.75, 0.0, 0.25)) -> Path:
    """tmp/run (the records) and tmp/published (Hub layout); returns the published folder."""
    run = build_run(tmp / "run", n_cases, n_mcqs)
    publish_folder([run], tmp / "published", {"fractions": fractions, "seed": 0})
    return tmp / "published"
