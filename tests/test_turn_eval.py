"""The doctor's hidden reasoning, verified turn by turn: the snapshot contract (synth/dialogue/ddx.py), the
per-turn metrics on hand-built transcripts with hand-computed scores, old records, the `ddx` filter stage,
the DPO pairing, and what `synth status`, `synth report` and the dataset card show of it."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from schemas import Consultation, DDxItem, FinalDiagnosis, Termination
from schemas.matching.verdict import verify_lexical
from synth.cli import app
from synth.dialogue.ddx import final_name, is_diagnosis_name, snapshot_problems
from synth.dialogue.director import Transcript
from synth.dialogue.evaluate import evaluate
from synth.dialogue.report import consultation_report
from synth.dialogue.turn_eval import LOG_EPS, turn_metrics
from synth.publish.options import PublishOptions
from synth.publish.views import build_rows
from synth.quality.config import FilterConfig
from synth.quality.pipeline import read_ledger, run_filter
from synth.store.shards import ShardWriter, iter_records
from tests.test_dialogue import cfg_for, doctor_out, last, make_card, run, scripted

CARD = make_card()  # answer "Acute appendicitis" (alias "appendicitis"); key facts f1, f2; f3 not key


def items(*pairs: tuple[str, float]) -> list[DDxItem]:
    return [DDxItem(diagnosis=d, probability=p) for d, p in pairs]


# ------------------------------------------------------------------------------------------ the contract


def test_names_and_sentences():
    for name in ["acute appendicitis", "Non ST elevation myocardial infarction", "possible appendicitis",
                 "Type 2 diabetes mellitus", "Graves' disease"]:  # fmt: skip
        assert is_diagnosis_name(name), name
    for sentence in ["I think it is appendicitis", "The patient has acute appendicitis",
                     "appendicitis because of the pain", "Appendicitis. Plan: surgery", "",
                     "acute inflammation of the vermiform appendix with local peritonitis and abscess"]:  # fmt: skip
        assert not is_diagnosis_name(sentence), sentence


def test_each_failure_class_is_named_and_a_good_snapshot_passes():
    def flags(*pairs: tuple[str, float]) -> list[str]:
        return [p.flag for p in snapshot_problems(items(*pairs))]

    assert flags(("acute appendicitis", 0.6), ("gastroenteritis", 0.3)) == []
    assert flags(("gastroenteritis", 0.34), ("appendicitis", 0.34), ("ovarian torsion", 0.33)) == []  # 1.01
    assert flags(("appendicitis", 0.5), ("Appendicitis, acute", 0.3)) == ["duplicate_diagnoses"]
    assert flags(("appendicitis", 0.6), ("gastroenteritis", 0.45)) == ["probability_sum_above_one"]
    assert flags(("I think it is appendicitis", 0.6)) == ["sentence_name"]
    assert flags(("gastroenteritis", 0.2), ("appendicitis", 0.5)) == ["unsorted"]
    # "acute" vs "chronic" is a different disease, not a duplicate
    assert flags(("acute pancreatitis", 0.5), ("chronic pancreatitis", 0.3)) == []


def test_final_name_sources():
    ddx = items(("appendicitis", 0.6), ("gastroenteritis", 0.3))
    assert final_name("Acute appendicitis", "You need surgery.", ddx, True).source == "diagnosis"
    assert final_name("", "acute appendicitis", ddx, True) == final_name("", "acute appendicitis", ddx, True)
    n = final_name("", "acute appendicitis", ddx, True)
    assert (n.name, n.source, n.flags) == ("acute appendicitis", "text", [])
    n = final_name("", "I think it is appendicitis.", ddx, True)
    assert (n.name, n.source, n.flags) == ("appendicitis", "extracted", ["final_is_sentence"])
    n = final_name("", "It is not appendicitis.", ddx, True)
    assert (n.name, n.source) == ("It is not appendicitis.", "sentence")
    # told to commit, it asked again: its most probable entry, whatever order it wrote them in
    n = final_name("", "Any fever?", items(("gastroenteritis", 0.2), ("appendicitis", 0.5)), False)
    assert (n.name, n.source, n.flags) == ("appendicitis", "leader", [])
    n = final_name("", "Any fever?", items(("Appendicitis is a medical condition", 1.0)), False)
    assert (n.source, n.flags) == ("leader", ["final_is_sentence"])


# ------------------------------------------------------------------------------------------ metrics by hand


def build(
    snapshots: list[list[tuple[str, float]]],
    final: str,
    revealed: list[list[str]] | None = None,
    reason: str = "final_diagnosis",
    flags: dict[int, list[str]] | None = None,
) -> Transcript:
    """Opening, then per snapshot a doctor turn (the last one the final diagnosis) and, between them, a
    patient answer revealing `revealed[k]`."""
    revealed = revealed or [[] for _ in snapshots]
    t = Transcript()
    t.add(speaker="patient", act="answer", text=CARD.opening_statement)
    for k, snap in enumerate(snapshots):
        is_final = k == len(snapshots) - 1
        t.add(speaker="doctor", act="final_diagnosis" if is_final else "ask",
              text=final if is_final else f"question {k}", reasoning="r", ddx=items(*snap),
              snapshot_flags=(flags or {}).get(k, []))  # fmt: skip
        if not is_final:
            t.add(speaker="patient", act="answer", text=f"answer {k}", revealed_fact_ids=revealed[k])
    t.final = FinalDiagnosis(diagnosis=final, differential=items(*snapshots[-1]), confidence=0.8)
    t.termination = Termination(reason=reason, turn=len(t.turns) - 1)  # type: ignore[arg-type]
    return t


CONVERGING = [
    [("gastroenteritis", 0.5), ("ovarian torsion", 0.3)],  # truth absent: other = 0.2
    [("gastroenteritis", 0.5), ("appendicitis", 0.4)],  # truth 2nd: other = 0.1
    [("acute appendicitis", 0.7), ("gastroenteritis", 0.2)],  # truth leads: other = 0.1
    [("acute appendicitis", 0.9)],  # final: other = 0.1
]


def test_per_turn_scores_computed_by_hand():
    t = build(CONVERGING, "acute appendicitis", revealed=[["f1"], ["f2", "f3"], []])
    m = turn_metrics(t.turns, CARD, t.termination.turn, correct=True)
    s = m["per_turn"]
    assert [x.doctor_turn for x in s] == [1, 2, 3, 4] and [x.turn for x in s] == [1, 3, 5, 7]
    assert [x.truth_rank for x in s] == [None, 2, 1, 1]
    assert [x.truth_probability for x in s] == [0.0, 0.4, 0.7, 0.9]
    assert [x.leader for x in s] == ["gastroenteritis", "gastroenteritis", "acute appendicitis"] * 1 + [
        "acute appendicitis"
    ]
    assert [x.leader_is_truth for x in s] == [False, False, True, True]
    # Brier: (0.5-0)^2 + (0.3-0)^2 + (0.2-1)^2 = 0.25 + 0.09 + 0.64 = 0.98
    #        (0.5-0)^2 + (0.4-1)^2 + (0.1-0)^2 = 0.25 + 0.36 + 0.01 = 0.62
    #        (0.7-1)^2 + (0.2-0)^2 + (0.1-0)^2 = 0.09 + 0.04 + 0.01 = 0.14
    #        (0.9-1)^2 + (0.1-0)^2             = 0.01 + 0.01        = 0.02
    assert [x.brier for x in s] == pytest.approx([0.98, 0.62, 0.14, 0.02])
    # log: -ln 0.2 (the "other" mass: truth unlisted), -ln 0.4, -ln 0.7, -ln 0.9
    logs = [1.609438, 0.916291, 0.356675, 0.105361]
    assert [x.log_score for x in s] == pytest.approx(logs, abs=1e-6)
    assert m["brier"] == pytest.approx(1.76 / 4) and m["log_score"] == pytest.approx(sum(logs) / 4, abs=1e-4)
    assert m["truth_first_listed"] == 2 and m["truth_first_leading"] == 3
    assert m["leader_changes"] == 1 and m["truth_dropped"] == 0
    assert m["facts_elicited"] == {"f1": 2, "f2": 4, "f3": 4}
    assert m["premature_closure"] is False and m["key_facts_missing"] == []
    assert m["lucky_guess"] is False
    assert m["snapshot_flags"] == {} and m["broken_snapshots"] == [] and m["snapshot_reasks"] == 0


def test_unlisted_truth_with_no_other_mass_is_floored():
    t = build([[("gastroenteritis", 0.6), ("ovarian torsion", 0.4)]], "gastroenteritis")
    [s] = turn_metrics(t.turns, CARD, t.termination.turn, correct=False)["per_turn"]
    assert s.truth_rank is None and s.truth_probability == 0.0
    assert s.brier == pytest.approx(0.36 + 0.16 + 1.0)  # other = 0, y_other = 1
    assert s.log_score == pytest.approx(-math.log(LOG_EPS))


def test_unsure_is_not_a_hit():
    assert verify_lexical("perforated appendicitis", "Acute appendicitis", ["appendicitis"]).correct is None
    t = build([[("perforated appendicitis", 0.8)]], "perforated appendicitis")
    [s] = turn_metrics(t.turns, CARD, t.termination.turn, correct=None)["per_turn"]
    assert s.truth_rank is None and s.truth_probability == 0.0 and not s.leader_is_truth


def test_volatility_premature_closure_and_lucky_guess():
    snaps = [
        [("appendicitis", 0.5), ("gastroenteritis", 0.4)],  # truth listed, leads
        [("gastroenteritis", 0.6), ("ovarian torsion", 0.3)],  # leader changes, truth dropped
        [("ovarian torsion", 0.6), ("gastroenteritis", 0.3)],  # leader changes
        [("ovarian torsion", 0.7)],
    ]
    t = build(snaps, "ovarian torsion", revealed=[["f1"], [], []], flags={1: ["unsorted"]})
    m = turn_metrics(t.turns, CARD, t.termination.turn, correct=False)
    assert m["leader_changes"] == 2 and m["truth_dropped"] == 1
    assert m["truth_first_listed"] == 1 and m["truth_first_leading"] == 1
    assert m["premature_closure"] is True and m["key_facts_missing"] == ["f2"]
    assert m["lucky_guess"] is None  # not correct: no guess to call lucky
    assert m["snapshot_flags"] == {"unsorted": 1} and m["broken_snapshots"] == [3]
    lucky = build([[("gastroenteritis", 0.6)], [("gastroenteritis", 0.5)], [("appendicitis", 0.6)]],
                  "appendicitis", revealed=[["f1"], ["f2"]])  # fmt: skip
    m = turn_metrics(lucky.turns, CARD, lucky.termination.turn, correct=True)
    assert m["lucky_guess"] is True and m["truth_first_listed"] == 3 and m["premature_closure"] is False


def test_evaluation_is_stored_and_old_records_still_read():
    t = build(CONVERGING, "acute appendicitis", revealed=[["f1"], ["f2"], []])
    ev, _ = asyncio.run(evaluate(t, CARD, None, 0))
    c = Consultation(case_id=CARD.id, turns=t.turns, termination=t.termination, final=t.final, evaluation=ev)
    assert c.schema_version == "1.1" and ev.correct is True and ev.brier == pytest.approx(0.44)
    back = Consultation.model_validate_json(c.model_dump_json())
    assert back == c and back.evaluation.per_turn[1].truth_rank == 2
    # A 1.0 record: none of the new fields, still valid, read with empty defaults.
    old = json.loads(c.model_dump_json())
    old["schema_version"] = "1.0"
    for k in ("per_turn", "truth_first_listed", "truth_first_leading", "brier", "log_score", "leader_changes",
              "truth_dropped", "premature_closure", "key_facts_missing", "facts_elicited", "lucky_guess",
              "snapshot_flags", "broken_snapshots", "snapshot_reasks"):  # fmt: skip
        del old["evaluation"][k]
    for turn in old["turns"]:
        for k in ("statement", "snapshot_flags", "reasks"):
            del turn[k]
    for k in ("statement", "name_source", "flags"):
        del old["final"][k]
    legacy = Consultation.model_validate(old)
    assert legacy.evaluation.per_turn == [] and legacy.evaluation.brier is None
    assert legacy.final is not None and legacy.final.name_source is None


def test_top_k_ranks_an_unsorted_final_differential_by_probability():
    t = build(
        [[("ovarian torsion", 0.1), ("gastroenteritis", 0.5), ("appendicitis", 0.4)]], "gastroenteritis"
    )
    ev, _ = asyncio.run(evaluate(t, CARD, None, 0))
    assert ev.correct is False and ev.top_k_hit == 2  # gastroenteritis, then appendicitis (0.4 > 0.1)


def test_schema_export_holds_the_per_turn_evaluation(tmp_path):
    r = CliRunner().invoke(app, ["schema", "export", str(tmp_path)])
    assert r.exit_code == 0, r.output
    schema = json.loads((tmp_path / "consultation.schema.json").read_text())
    defs = schema["$defs"]
    assert {"per_turn", "brier", "log_score", "lucky_guess", "premature_closure"} <= set(
        defs["Evaluation"]["properties"]
    )
    assert {"truth_rank", "truth_probability", "leader", "brier", "log_score"} <= set(
        defs["TurnScore"]["properties"]
    )
    assert "final_is_sentence" in json.dumps(defs["Turn"]["properties"]["snapshot_flags"])


# ------------------------------------------------------------------------------------------ records


def record(
    snapshots: list[list[tuple[str, float]]],
    final: str,
    revealed: list[list[str]] | None = None,
    reason: str = "final_diagnosis",
    flags: dict[int, list[str]] | None = None,
) -> Consultation:
    t = build(snapshots, final, revealed, reason, flags)
    ev, _ = asyncio.run(evaluate(t, CARD, None, 0))
    return Consultation(case_id=CARD.id, turns=t.turns, termination=t.termination, final=t.final,
                        evaluation=ev, doctor_turns=len(snapshots))  # fmt: skip


ALL_FACTS = [["f1"], ["f2"], [], [], []]
GOOD = record(CONVERGING, "acute appendicitis", ALL_FACTS)
LUCKY = record([[("gastroenteritis", 0.6)], [("gastroenteritis", 0.5)], [("appendicitis", 0.6)]],
               "appendicitis", ALL_FACTS)  # fmt: skip
EARLY_WRONG = record([[("gastroenteritis", 0.6)], [("gastroenteritis", 0.7)]], "gastroenteritis", [["f1"]])
FORCED_WRONG = record([[("ovarian torsion", 0.5)]] * 4, "ovarian torsion", ALL_FACTS, reason="forced_final")
BROKEN = record(CONVERGING, "appendicitis", ALL_FACTS, flags={0: ["duplicate_diagnoses"]})
# lucky-guess shaped, but as a 1.0 record: no per-turn evaluation to judge it by
OLD = record([[("gastroenteritis", 0.6)], [("acute appendicitis", 0.6)]], "acute appendicitis", [["f1"]])


def write_consultations(root, recs: list[Consultation]) -> None:
    w = ShardWriter(root, "consultations", "test", 0, max_records=1000, max_bytes=2**30)
    w.write([(r.id, r.id, r.schema_version, r.model_dump_json()) for r in recs])


def legacy(c: Consultation) -> Consultation:
    """The same consultation as a 1.0 record would have it: no per-turn evaluation."""
    ev = c.evaluation.model_copy(update={"per_turn": [], "lucky_guess": None, "premature_closure": None})
    return c.model_copy(update={"evaluation": ev, "schema_version": "1.0"})


def test_facts_of_the_fixture_records():
    assert GOOD.evaluation.correct is True and GOOD.evaluation.lucky_guess is False
    assert LUCKY.evaluation.correct is True and LUCKY.evaluation.lucky_guess is True
    assert EARLY_WRONG.evaluation.correct is False and EARLY_WRONG.evaluation.premature_closure is True
    assert FORCED_WRONG.evaluation.correct is False and FORCED_WRONG.termination.reason == "forced_final"
    assert BROKEN.evaluation.broken_snapshots == [1] and BROKEN.evaluation.lucky_guess is False


def run_ddx(tmp_path, recs: list[Consultation], **opts: Any):
    write_consultations(tmp_path / "in", recs)
    cfg = FilterConfig(stages=[{"stage": "ddx", **opts}])  # type: ignore[list-item]
    res = asyncio.run(run_filter(tmp_path / "in", tmp_path / "out", cfg))
    kept = {c.id for c in iter_records(res.out, "consultations", Consultation)}
    reasons = {d.record_id: d.reason for d in read_ledger(res.out)}
    return kept, reasons, res.funnel[-1]["summary"]


def test_ddx_stage_drops_lucky_guesses_by_default(tmp_path):
    old = legacy(OLD)
    kept, reasons, summary = run_ddx(tmp_path, [GOOD, LUCKY, EARLY_WRONG, BROKEN, old])
    assert kept == {GOOD.id, EARLY_WRONG.id, BROKEN.id, old.id}
    assert reasons == {
        LUCKY.id: "lucky_guess: correct final diagnosis 'appendicitis' at doctor turn 3 was in no "
        "differential before it"
    }
    assert summary["lucky_guess"] == 1 and summary["unevaluated"] == 1 and summary["checked"] == 4


def test_ddx_stage_options(tmp_path):
    old = legacy(OLD)
    kept, reasons, summary = run_ddx(
        tmp_path, [GOOD, EARLY_WRONG, BROKEN, old], drop_lucky_guess=False, drop_broken_snapshots=True,
        drop_premature_closure=True, require_evaluation=True,
    )  # fmt: skip
    assert kept == {GOOD.id}
    assert reasons[BROKEN.id] == (
        "broken_snapshot: 1 doctor turn(s) kept broken after re-asks, first turn 1: duplicate_diagnoses"
    )
    assert (
        reasons[EARLY_WRONG.id]
        == "premature_closure: final diagnosis at turn 3 before key facts f2 were elicited"
    )
    assert reasons[old.id].startswith("unevaluated: ")
    assert summary["broken_snapshot"] == 1 and summary["premature_closure"] == 1


# ------------------------------------------------------------------------------------------ DPO


def test_dpo_pairs_a_converging_consultation_with_an_early_wrong_closure():
    opts = PublishOptions()
    recs = [GOOD, LUCKY, EARLY_WRONG, FORCED_WRONG]
    rows = build_rows({"consultations": {c.id: c for c in recs}}, opts)["dpo"]
    [pair] = rows  # the lucky guess is no chosen side; the forced wrong final is no early closure
    assert pair["source_id"] == GOOD.id and pair["id"].startswith("dpo-consult-")
    # At the depth where the wrong one closed (its doctor turn 2): GOOD's 2nd doctor turn goes on asking.
    assert pair["chosen"][0]["content"].endswith("question 1")
    assert "Differential: gastroenteritis (0.50); appendicitis (0.40)" in pair["chosen"][0]["content"]
    assert pair["rejected"][0]["content"].endswith("Final diagnosis: gastroenteritis")
    assert sum(m["role"] == "assistant" for m in pair["prompt"]) == 1 and pair["prompt"][-1]["role"] == "user"
    # 1.0 records (no per-turn evaluation) pair as before: correct final against incorrect final.
    old = build_rows({"consultations": {c.id: legacy(c) for c in (LUCKY, FORCED_WRONG)}}, opts)["dpo"]
    [p] = old
    assert p["chosen"][0]["content"].endswith("Final diagnosis: appendicitis")


# ------------------------------------------------------------------------------------------ status, report, card


def converging_doctor(i: int, req: Any) -> dict[str, Any]:
    """The CONVERGING snapshots through the simulator, final at doctor turn 3 (odd cases go wrong)."""
    wrong = int(req.messages[1]["content"].split("(")[1][0]) % 2
    snaps = CONVERGING[:2] + ([[("gastroenteritis", 0.8)]] if wrong else [CONVERGING[2]])
    if i >= 3 or "must end now" in last(req):
        dx = "gastroenteritis" if wrong else "acute appendicitis"
        return doctor_out("final_diagnosis", dx, snaps[2], diagnosis=dx)
    return doctor_out("ask", f"question {i}?", snaps[i - 1])


def test_status_and_report_show_the_per_turn_metrics(write_config, tmp_path):
    cfg = cfg_for(write_config, tmp_path, cards=2, min_turns=2, max_turns=4)
    run(cfg, scripted(converging_doctor))
    out = cfg.run.output
    pt = consultation_report(out)["per_turn"]
    assert pt["evaluated"] == 2 and pt["correct"] == 1 and pt["lucky_guesses"] == 0
    # correct: 0.98, 0.62, 0.14 (as by hand above); wrong: 0.98, 0.62, then (0.8 - 0)^2 + (0.2 - 1)^2 = 1.28
    assert pt["brier"]["mean"] == pytest.approx(
        ((0.98 + 0.62 + 0.14) / 3 + (0.98 + 0.62 + 1.28) / 3) / 2, abs=1e-4
    )
    assert pt["truth_probability_by_turn"] == {"correct": {"1": 0.0, "2": 0.4, "3": 0.7},
                                               "incorrect": {"1": 0.0, "2": 0.4, "3": 0.0}}  # fmt: skip
    assert pt["truth_listed_rate"] == 1.0 and pt["truth_leading_rate"] == 0.5
    assert pt["mean_truth_dropped"] == 0.5 and pt["broken_snapshots"]["consultations"] == 0

    r = CliRunner().invoke(app, ["status", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "Brier score (turn mean)" in r.output and "lucky guesses" in r.output
    assert "truth probability by doctor turn" in r.output
    r = CliRunner().invoke(app, ["status", str(out), "--json"])
    assert json.loads(r.stdout)["consultations"]["per_turn"]["evaluated"] == 2

    fy = tmp_path / "filter.yaml"
    fy.write_text(yaml.safe_dump({"stages": [{"stage": "ddx"}]}))
    r = CliRunner().invoke(app, ["filter", str(out), str(tmp_path / "filtered"), "--config", str(fy)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path / "filtered")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "per-turn evaluation" in r.output and "2 of 2 consultations" in r.output
    png = tmp_path / "filtered" / "plots" / "truth-probability.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(app, ["report", str(tmp_path / "filtered"), "--json", "--no-plots"])
    assert json.loads(r.stdout)["consultations"]["per_turn"]["brier"]["n"] == 2
    # the run's own folder (no filter funnel): the per-turn evaluation and its plot all the same
    r = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "per-turn evaluation" in r.output and "2 of 2 consultations" in r.output
    assert (out / "plots" / "truth-probability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(app, ["report", str(out), "--json", "--no-plots"])
    assert json.loads(r.stdout)["consultations"]["per_turn"]["evaluated"] == 2


def test_dataset_card_summarises_the_per_turn_metrics(write_config, tmp_path):
    from synth.publish import publish_folder

    cfg = cfg_for(write_config, tmp_path, cards=2, min_turns=2, max_turns=4)
    run(cfg, scripted(converging_doctor))
    publish_folder([cfg.run.output], tmp_path / "pub")
    card = (tmp_path / "pub" / "README.md").read_text()
    assert "## Consultation reasoning, turn by turn" in card
    assert (
        "| lucky guesses | 0 of 1 correct |" in card
        and "| per-turn evaluation | 2 of 2 consultations |" in card
    )
    assert "![truth probability by turn](plots/truth-probability.png)" in card
    assert (tmp_path / "pub" / "plots" / "truth-probability.png").exists()
