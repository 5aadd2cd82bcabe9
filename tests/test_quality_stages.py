"""The text-level quality stages on tiny in-memory records: heuristics (every rule, both ways), leakage,
decontamination (every benchmark format, the 64-character boundary), exact and MinHash near-dup dedup."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from schemas import Consultation, ReasoningTrace, VerifiableProblem
from schemas.consultation import Evaluation, Termination, Turn
from schemas.problem import SearchStep
from synth.quality.base import Doc, Stage, StageContext, make_doc
from synth.quality.config import (
    DecontaminationConfig,
    ExactDedupConfig,
    HeuristicsConfig,
    LeakageConfig,
    NearDedupConfig,
)
from synth.quality.decontam import DecontaminationFilter
from synth.quality.dedup import ExactDedupFilter, MinHashDedupFilter
from synth.quality.heuristics import HeuristicsFilter, looks_truncated
from synth.quality.leakage import LeakageFilter
from synth.quality.text import language_score, normalise
from tests.test_dialogue import cfg_for, final_at, make_card, run, scripted, write_cases

# ------------------------------------------------------------------------------------ building records

GOOD = [
    ("patient", "answer", "My tummy has hurt since yesterday and it is getting worse."),
    ("doctor", "ask", "Where exactly is the pain, and does it move anywhere?"),
    ("patient", "answer", "It started around my belly button and now it is low on the right side."),
    ("doctor", "request_test", "CBC, abdominal exam"),
    ("examiner", "result", "Complete blood count: WBC 15.1 x10^9/L. Abdomen: tender at McBurney's point."),
    ("doctor", "ask", "Have you been sick to your stomach or had any fever?"),
    ("patient", "answer", "I threw up twice this morning and I feel a bit hot."),
    ("doctor", "final_diagnosis", "acute appendicitis"),
]


def consult(turns: list[tuple[str, str, str]] = GOOD, case_id: str = "case-x", **kw: Any) -> Consultation:
    return Consultation(
        case_id=case_id,
        turns=[Turn(index=i, speaker=s, act=a, text=t) for i, (s, a, t) in enumerate(turns)],  # type: ignore[arg-type]
        termination=Termination(reason="final_diagnosis", turn=len(turns) - 1),
        **kw,
    )


def with_turn(i: int, speaker: str, act: str, text: str) -> list[tuple[str, str, str]]:
    turns = list(GOOD)
    turns[i] = (speaker, act, text)
    return turns


def heur(**kw: Any) -> HeuristicsFilter:
    return HeuristicsFilter(HeuristicsConfig(stage="heuristics", **kw))


def check(stage: HeuristicsFilter | LeakageFilter, record: Any, table: str = "consultations") -> str | None:
    return stage.check(make_doc(table, record))


def drive(stage: Stage, docs: list[Doc]) -> tuple[list[Doc], StageContext]:
    ctx = StageContext()
    return asyncio.run(stage.run(docs, ctx)), ctx


def prose(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    vocab = [
        f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "su", "ta", "ve") for b in ("rin", "dal", "mos", "pex")
    ]
    vocab += ["the", "patient", "reports", "pain", "fever", "with", "and", "after", "night", "morning"]
    return " ".join(rng.choice(vocab) for _ in range(n)) + "."


PROBLEM_Q = (
    "A 54-year-old man with newly found type 2 diabetes, normal kidney function and a BMI of 33 asks "
    "which treatment he should start first. What is the first-line drug?"
)


def trace(**kw: Any) -> ReasoningTrace:
    base: dict[str, Any] = {
        "problem_id": "prob-1",
        "question": PROBLEM_Q,
        "ground_truth": "metformin",
        "steps": [
            SearchStep(
                iteration=0,
                strategy="init",
                thinking=["Obesity and normal renal function favour a drug without weight gain."],
                conclusion="metformin",
                verdict="true",
            )
        ],
        "success": True,
        "natural_thinking": (
            "The patient is obese with normal kidney function, so the usual first choice applies. "
            "It lowers glucose without weight gain or hypoglycaemia and is cheap."
        ),
        "final_response": "Start metformin, titrating the dose to limit stomach upset.",
    }
    base.update(kw)
    return ReasoningTrace(**base)


# ----------------------------------------------------------------------------------------- heuristics


def test_a_simulated_consultation_passes_the_heuristics(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, min_turns=4, max_turns=8)
    _, [c] = run(cfg, scripted(final_at(5)))
    assert [t.speaker for t in c.turns][:3] == ["patient", "doctor", "examiner"]
    doc = make_doc("consultations", c)
    assert heur().check(doc) is None
    assert doc.scores["language_en"] >= 0.5


def test_a_clean_handmade_consultation_passes():
    doc = make_doc("consultations", consult())
    assert heur().check(doc) is None and doc.scores["language_en"] == 1.0


def test_turn_bounds():
    assert check(heur(min_turns=10), consult()) == "turns: 8 turns (allowed 10-200)"
    assert check(heur(max_turns=6), consult()) == "turns: 8 turns (allowed 4-6)"
    assert check(heur(min_turns=8, max_turns=8), consult()) is None


def test_roles_alternate():
    two_doctors = with_turn(2, "doctor", "ask", "And how long have you had the pain in your belly?")
    assert check(heur(), consult(two_doctors)) == "roles: two doctor turns in a row (turns 1 and 2)"
    two_patients = with_turn(1, "patient", "answer", "Also I have not eaten anything since last night.")
    assert check(heur(), consult(two_patients)) == "roles: two patient turns in a row (turns 0 and 1)"
    examiner_after_ask = with_turn(3, "doctor", "ask", "Can you point to where it hurts the most for me?")
    reason = check(heur(), consult(examiner_after_ask))
    assert reason == "roles: examiner turn 4 follows a doctor ask turn, not a test request"
    assert check(heur(), consult([("examiner", "result", "Normal findings everywhere."), *GOOD])) == (
        "roles: examiner turn 0 follows the start, not a test request"
    )
    # What the director writes after a premature final diagnosis: doctor, system note, doctor.
    noted = [
        *GOOD[:3],
        ("doctor", "final_diagnosis", "appendicitis"),
        ("system", "note", "It is too early for a final diagnosis; please continue the consultation."),
        *GOOD[3:],
    ]
    assert check(heur(), consult(noted)) is None


def test_truncated_turns():
    assert (
        looks_truncated("It started around my belly button and now it is low on the")
        == "'…now it is low on the'"
    )
    assert looks_truncated("I have pain in my belly, fever, and also some nausea,")
    assert looks_truncated("The pain is worse when I walk or when I cough") is None  # no punctuation, not cut
    assert looks_truncated("I take no medicines") is None  # too short to judge
    assert looks_truncated("Is it worse after you eat a big meal or at night?") is None
    cut = with_turn(2, "patient", "answer", "It started around my belly button and now it is low on the")
    assert check(heur(), consult(cut)) == "truncated: patient turn 2 ends '…now it is low on the'"
    # A terse final diagnosis or test list is never taken for a cut turn.
    terse = with_turn(7, "doctor", "final_diagnosis", "appendicitis with a differential of mesenteric and")
    assert check(heur(), consult(terse)) is None


def test_repetition():
    loop = "I feel pain in my belly and it hurts a lot. " * 6
    reason = check(heur(), consult(with_turn(6, "patient", "answer", loop)))
    assert reason is not None and reason.startswith("repetition: ")
    assert "of word 5-grams repeated in the dialogue (max 0.3" in reason and "x6" in reason
    assert check(heur(max_repeat_ratio=0.9), consult(with_turn(6, "patient", "answer", loop))) is None


def test_empty_and_boilerplate_turns_by_share():
    ai = "As an AI language model, I cannot provide medical advice about this."
    one = with_turn(6, "patient", "answer", ai)  # 1 of 8 turns: 0.12
    assert check(heur(), consult(one)) is None
    three = with_turn(6, "patient", "answer", ai)
    three[2] = ("patient", "answer", "")
    three[4] = ("examiner", "result", "I'm sorry, but I can't help with that request today.")
    reason = check(heur(), consult(three))
    assert reason is not None and reason.startswith(
        "boilerplate: 0.38 of turns empty or boilerplate (max 0.3)"
    )
    assert "turn 2 empty" in reason and "turn 4 boilerplate \"I'm sorry, but I can't help\"" in reason
    assert check(heur(max_boilerplate_ratio=0.5), consult(three)) is None
    # Short by nature: the diagnosis (18 characters) and the test list never count as empty turns.
    assert check(heur(min_chars=20), consult()) is None
    reason = check(heur(min_chars=60), consult())
    assert reason is not None and reason.startswith("boilerplate: ") and "turn 1 empty" in reason
    assert "turn 3" not in reason and "turn 7" not in reason


def test_language_check():
    fr = [
        ("patient", "answer", "J'ai mal au ventre depuis hier soir et je ne me sens pas bien du tout."),
        ("doctor", "ask", "Est-ce que la douleur est dans le bas du ventre, à droite ou à gauche?"),
        ("patient", "answer", "C'est en bas à droite et ça fait plus mal quand je marche dans la rue."),
        ("doctor", "ask", "Avez-vous de la fièvre ou des vomissements depuis que la douleur a commencé?"),
        ("patient", "answer", "Oui, j'ai vomi deux fois ce matin et j'ai un peu de fièvre."),
        ("doctor", "final_diagnosis", "appendicite aiguë"),
    ]
    doc = make_doc("consultations", consult(fr))
    reason = heur().check(doc)
    assert reason is not None and reason.startswith("language: en score 0.00 (min 0.5) over ")
    assert doc.scores["language_en"] == 0.0
    assert language_score(" ".join(t for *_, t in fr), "fr")[0] == 1.0
    assert heur(language=None).check(make_doc("consultations", consult(fr))) is None
    # Too few words to judge: scored, never dropped.
    terse = make_doc(
        "problems", VerifiableProblem(question="RLQ pain, WBC 15, CRP 120: dx?", ground_truth="AA")
    )
    assert heur(min_chars=5).check(terse) is None and terse.scores["language_en"] < 0.5
    with pytest.raises(ValueError, match="no stopword list"):
        language_score("text", "xx")


def test_problem_rules():
    assert check(heur(), VerifiableProblem(question=PROBLEM_Q, ground_truth="metformin"), "problems") is None
    reason = check(heur(), VerifiableProblem(question="Dx?", ground_truth="MI"), "problems")
    assert reason == "empty: question has 3 characters (min 20)"
    assert check(heur(), VerifiableProblem(question=PROBLEM_Q, ground_truth="  "), "problems") == (
        "empty: ground truth is blank"
    )
    boiler = VerifiableProblem(
        question="As an AI language model I cannot say. " + PROBLEM_Q, ground_truth="x"
    )
    assert check(heur(), boiler, "problems") == "boilerplate: question contains 'As an AI'"


def test_trace_rules():
    assert check(heur(), trace(), "reasoning") is None
    cut = trace(final_response="Start metformin, and titrate the dose slowly to limit the")
    assert check(heur(), cut, "reasoning") == "truncated: final response ends '… slowly to limit the'"
    loop = trace(natural_thinking="Let me check the kidney function again. " * 8)
    reason = check(heur(), loop, "reasoning")
    assert reason is not None and reason.startswith("repetition: ") and "in the thinking" in reason
    assert check(heur(), trace(natural_thinking=None, final_response=None), "reasoning") == (
        "empty: a successful trace without thinking or final response"
    )
    # A failed trace (kept for DPO pairs) has no final response and is judged on its steps.
    failed = trace(success=False, natural_thinking=None, final_response=None)
    assert check(heur(), failed, "reasoning") is None
    assert check(heur(), trace(final_response="Metformin."), "reasoning") == (
        "empty: final response has 10 characters (min 20)"
    )


def test_heuristics_summary_counts_rules():
    stage = heur(min_turns=10)
    kept, ctx = drive(stage, [make_doc("consultations", consult()), make_doc("reasoning", trace())])
    assert [d.table for d in kept] == ["reasoning"]
    assert ctx.drops[0].stage == "heuristics" and ctx.drops[0].reason.startswith("turns: ")
    assert stage.summary == {"turns": 1}


# -------------------------------------------------------------------------------------------- leakage


def leak_stage(**kw: Any) -> LeakageFilter:
    card = make_card(0)  # diagnosis "Acute appendicitis", alias "appendicitis"
    return LeakageFilter(LeakageConfig(stage="leakage"), cases=kw.pop("cases", {card.id: card}), **kw)


def test_leakage_patient_naming_an_alias_is_dropped():
    card = make_card(0)
    stage = leak_stage()
    leaky = with_turn(6, "patient", "answer", "My sister thinks it could be Appendicitis, honestly.")
    assert (
        check(stage, consult(leaky, case_id=card.id))
        == "leakage: patient turn 6 names the diagnosis ('appendicitis')"
    )
    # The doctor may name it; the matcher works on whole words ("appendicitistest" is no mention).
    assert check(stage, consult(GOOD, case_id=card.id)) is None
    near = with_turn(6, "patient", "answer", "I read about appendicitistest results online somewhere.")
    assert check(stage, consult(near, case_id=card.id)) is None
    assert stage.summary["checked"] == 3 and stage.summary["leaking"] == 1


def test_leakage_flags_and_unknown_cases():
    card = make_card(0)
    stage = leak_stage()
    flagged = consult(GOOD, case_id=card.id, evaluation=Evaluation(leakage_flags=[4]))
    assert check(stage, flagged) == "leakage: patient turn 4 flagged by the simulator"
    # A case the stage has no card for: kept when unflagged, but counted as unchecked — never silent.
    assert check(stage, consult(GOOD, case_id="case-unknown")) is None
    unknown_flagged = consult(GOOD, case_id="case-unknown", evaluation=Evaluation(leakage_flags=[2]))
    assert "case case-unknown unknown" in (check(stage, unknown_flagged) or "")
    assert stage.summary["unchecked"] == 2 and stage.summary["unknown_cases"] == ["case-unknown"]
    assert (
        check(stage, VerifiableProblem(question=PROBLEM_Q, ground_truth="appendicitis"), "problems") is None
    )


def test_leakage_reads_cards_from_a_run_folder_and_the_seeds(tmp_path):
    card = make_card(3)
    write_cases(tmp_path / "run", [card])
    stage = LeakageFilter(LeakageConfig(stage="leakage", hidden_answers=tmp_path / "run"))
    leaky = with_turn(4, "examiner", "result", "WBC 15.1.")
    leaky[6] = ("patient", "answer", "Is this acute appendicitis, doctor?")
    assert check(stage, consult(leaky, case_id=card.id)) == (
        "leakage: patient turn 6 names the diagnosis ('Acute appendicitis')"
    )
    from synth.cases.seeds import load_seed_cases

    seed = load_seed_cases()[0]
    said = f"I looked it up and I am sure it is {seed.answer.diagnosis.lower()}."
    assert check(stage, consult(with_turn(6, "patient", "answer", said), case_id=seed.id)) is not None
    with pytest.raises(FileNotFoundError, match="no cases table"):
        LeakageFilter(LeakageConfig(stage="leakage", hidden_answers=tmp_path / "nothing"))


# ------------------------------------------------------------------------------------ decontamination

BENCH = [
    "A 67-year-old woman presents with sudden painless loss of vision in her right eye that began an hour ago.",
    "A 4-year-old boy has had a barking cough, hoarse voice and inspiratory stridor for two nights.",
    "Short question?",
]


def write_bench(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def decontam(tmp_path: Path, bench: list[Path] | None = None, **kw: Any) -> DecontaminationFilter:
    if bench is None:
        rows = [{"id": f"b{i}", "question": q} for i, q in enumerate(BENCH)]
        bench = [write_bench(tmp_path / "bench.jsonl", rows)]
    return DecontaminationFilter(DecontaminationConfig(stage="decontaminate", benchmarks=bench, **kw))


def problem(q: str, pid: str | None = None) -> Doc:
    return make_doc("problems", VerifiableProblem(id=pid or "", question=q, ground_truth="x"))


def test_decontamination_drops_shared_runs_after_normalisation(tmp_path):
    stage = decontam(tmp_path)
    copied = "Case: a 67 YEAR-OLD woman presents with... sudden, painless loss of VISION in her right eye!"
    clean = "A 67-year-old woman with a red, painful eye after a blow from a tennis ball two hours ago."
    kept, ctx = drive(stage, [problem(copied, "p1"), problem(clean, "p2")])
    assert [d.id for d in kept] == ["p2"]
    [drop] = ctx.drops
    assert drop.stage == "decontaminate" and drop.record_id == "p1"
    shared = "a 67 year old woman presents with sudden painless loss of vision in her right eye"
    assert (
        drop.reason
        == f'contamination: shares {len(shared)} characters with bench.jsonl #1 (id b0): "{shared}"'
    )
    assert stage.summary["questions"] == 3 and stage.summary["short_questions"] == 1
    assert normalise("Ｆｕｌｌ-width  ÉTÉ_x") == "full width été x"


def test_decontamination_boundary_is_exactly_chars(tmp_path):
    stage = decontam(tmp_path)
    q = normalise(BENCH[1])
    # Glued between letters the question does not have there, so the shared run is exactly n characters.
    for n, dropped in [(63, False), (64, True)]:
        run_ = q[5 : 5 + n]
        assert q[4] != "q" and q[5 + n] != "q"
        _, ctx = drive(stage, [problem(f"zzq{run_}qzz and more words here")])
        assert (len(ctx.drops) == 1) is dropped, n
    assert drive(decontam(tmp_path, chars=65), [problem(f"zzq{q[5:69]}qzz")])[1].drops == []
    assert len(drive(decontam(tmp_path, chars=65), [problem(f"zzq{q[5:70]}qzz")])[1].drops) == 1


def test_decontamination_reads_json_parquet_and_datasets_folders(tmp_path):
    import importlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    datasets: Any = importlib.import_module("datasets")  # by name: the repository has a datasets/ folder
    (tmp_path / "list.json").write_text(json.dumps([{"question": BENCH[0]}]))
    pq.write_table(pa.table({"prompt": [BENCH[1]]}), tmp_path / "b.parquet")
    datasets.DatasetDict(
        {"test": datasets.Dataset.from_dict({"question": ["nothing", BENCH[1]], "id": ["t1", "t2"]})}
    ).save_to_disk(str(tmp_path / "ds"))
    text = [problem(BENCH[0] + " extra"), problem("Then: " + BENCH[1])]
    _, ctx = drive(decontam(tmp_path, [tmp_path / "list.json"]), text)
    assert [d.reason.split(":")[1].split(" with ")[1] for d in ctx.drops] == ["list.json #1"]
    _, ctx = drive(decontam(tmp_path, [tmp_path / "b.parquet"], field="prompt"), text)
    assert "b.parquet #1:" in ctx.drops[0].reason
    _, ctx = drive(decontam(tmp_path, [tmp_path / "ds"]), text)
    assert "ds #test[2] (id t2):" in ctx.drops[0].reason
    with pytest.raises(ValueError, match="no 'question' text"):
        _ = decontam(tmp_path, [tmp_path / "b.parquet"]).index
    with pytest.raises(FileNotFoundError):
        _ = decontam(tmp_path, [tmp_path / "missing.jsonl"]).index


def test_decontamination_scales_to_many_records(tmp_path):
    rows = [{"id": i, "question": prose(i, 100)} for i in range(200)]
    stage = decontam(tmp_path, [write_bench(tmp_path / "many.jsonl", rows)])
    docs = [problem(prose(1000 + i, 300), f"r{i:04d}") for i in range(2000)]
    planted = {7, 99, 1500}
    for i in planted:
        q = rows[i % 200]["question"]
        docs[i] = problem(docs[i].text[:500] + " " + q[100:200] + " " + docs[i].text[500:], docs[i].id)
    kept, ctx = drive(stage, docs)
    assert {int(d.record_id[1:]) for d in ctx.drops} == planted and len(kept) == 1997


# ---------------------------------------------------------------------------------------------- dedup


def test_exact_dedup_keeps_the_smallest_id_per_table():
    docs = [
        problem("What is the first-line drug for type 2 diabetes?", "p3"),
        problem("what is the FIRST-LINE drug for type 2 diabetes", "p1"),
        problem("What is the first line drug for type 2 diabetes ?", "p2"),
        problem("A different question about asthma and inhalers?", "p4"),
        make_doc("consultations", consult()),
        make_doc("consultations", consult(case_id="case-y")),  # same dialogue, other case: same text
    ]
    kept, ctx = drive(ExactDedupFilter(ExactDedupConfig(stage="exact_dedup")), docs)
    assert [d.id for d in kept] == ["p1", "p4", min(docs[4].id, docs[5].id)]
    assert {(d.record_id, d.duplicate_of) for d in ctx.drops if d.table == "problems"} == {
        ("p2", "p1"),
        ("p3", "p1"),
    }
    assert all(d.stage == "exact_dedup" and "exact duplicate of" in d.reason for d in ctx.drops)


def near(**kw: Any) -> MinHashDedupFilter:
    return MinHashDedupFilter(NearDedupConfig(stage="near_dedup", **kw))


def edited(text: str, n: int) -> str:
    words = text.split()
    for k in range(n):
        words[10 + 7 * k] = "changed"
    return " ".join(words)


def test_near_dedup_drops_close_copies_and_keeps_distinct_texts():
    base = prose(1, 200)
    docs = [problem(base, "p2"), problem(edited(base, 1), "p1"), problem(prose(2, 200), "p3")]
    kept, ctx = drive(near(threshold=0.8), docs)
    assert sorted(d.id for d in kept) == ["p1", "p3"]  # equal scores and lengths: the smallest id
    [drop] = ctx.drops
    assert (drop.record_id, drop.duplicate_of, drop.stage) == ("p2", "p1", "near_dedup")
    assert drop.reason.startswith("near-duplicate of p1: estimated Jaccard 0.")
    # Stricter threshold: a copy with many edits is no longer a duplicate.
    far = [problem(base, "p1"), problem(edited(base, 8), "p2")]
    assert len(drive(near(threshold=0.95), far)[0]) == 2


def test_near_dedup_keeps_the_best_scored_member():
    base = prose(5, 200)
    a, b, c = (
        problem(base, "pa"),
        problem(edited(base, 1), "pb"),
        problem(edited(base, 2) + " more words", "pc"),
    )
    b.scores["quality"] = 8.0
    a.scores["quality"] = 6.0
    kept, ctx = drive(near(), [a, b, c])
    assert [d.id for d in kept] == ["pb"] and {d.duplicate_of for d in ctx.drops} == {"pb"}
    # Without scores: the longest text.
    kept, _ = drive(near(), [problem(base, "pa"), problem(edited(base, 2) + " more words", "pc")])
    assert [d.id for d in kept] == ["pc"]


def test_near_dedup_never_drops_both_members_of_a_pair():
    rng = random.Random(0)
    base = prose(9, 300)
    docs = [problem(base, "p000")]
    for i in range(1, 40):  # a chain of growing edits: neighbours similar, ends less so
        docs.append(problem(edited(base, rng.randint(0, 12)), f"p{i:03d}"))
    docs += [problem(prose(100 + i, 150), f"q{i:03d}") for i in range(20)]
    stage = near(threshold=0.7)
    kept, ctx = drive(stage, docs)
    kept_ids = {d.id for d in kept}
    assert ctx.drops and all(d.duplicate_of in kept_ids for d in ctx.drops)
    assert any("joined via" in d.reason for d in ctx.drops)  # members below the threshold with the kept one
    assert {d.id for d in docs if d.id.startswith("q")} <= kept_ids
    assert len(kept) + len(ctx.drops) == len(docs) and stage.summary["problems"]["dropped"] == len(ctx.drops)


def test_near_dedup_is_per_table_and_skips_wordless_texts():
    base = prose(3, 100)
    docs = [problem(base, "p1"), make_doc("reasoning", trace(question=base, natural_thinking=base))]
    assert len(drive(near(), docs)[0]) == 2
    wordless = [
        make_doc("problems", VerifiableProblem(id=f"p{i}", question="?!", ground_truth="-")) for i in (1, 2)
    ]
    kept, _ = drive(near(), wordless)
    assert len(kept) == 2


def test_window_hash_prefix_identity_matches_horner():
    import numpy as np

    from synth.quality.decontam import _BASE, Prefix, _codes, _row_hashes

    codes = _codes("ﬁrst naïve text, then plain words " * 4)
    for width in (1, 7, 32, 65):
        n = len(codes) - width + 1
        want = np.array(
            [
                sum(int(codes[i + j]) * _BASE ** (width - 1 - j) for j in range(width)) % 2**64
                for i in range(n)
            ],
            dtype=np.uint64,
        )
        assert (Prefix(codes).windows(width) == want).all(), width
    assert (_row_hashes(codes[:64].reshape(2, 32)) == Prefix(codes).windows(32)[[0, 32]]).all()
