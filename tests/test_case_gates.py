"""Case-card gates: each gate on hand-built cards, the labelled junk of the embedded model, no false rejects of
good cards, and the gates where cards enter and leave: synthesis (scripted teacher), `synth filter`, publish."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from schemas import LedgerEntry
from schemas.case import Answer, CaseCard, CaseSource, Demographics, DifferentialEntry, Fact, Finding
from synth.cases.gates import CODES, GateProfile, format_problems, gate_card, gate_codes, profile_for
from synth.cases.importers import import_cases
from synth.quality.config import FilterConfig
from synth.quality.pipeline import DEFAULT_TABLES, run_filter
from synth.store.shards import ShardWriter, iter_records
from tests.conftest import SAMPLES

LABELLED = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "case_gates_labelled.jsonl"


def card(**over) -> CaseCard:
    """A small synthesized card every gate passes; each test breaks one thing."""
    fields = {
        "specialty": "neurology",
        "acuity": "low",
        "prevalence": "common",
        "demographics": Demographics(age_years=52, sex="female"),
        "opening_statement": "The room spins for a few seconds whenever I roll over in bed.",
        "facts": [
            Fact(id="f1", category="history_present_illness", key=True,
                 text="Brief spinning episodes lasting under a minute, triggered by turning in bed, for 2 weeks.",
                 lay_text="For two weeks the room spins for a few seconds when I turn over in bed."),
            Fact(id="f2", category="history_present_illness",
                 text="No hearing loss, tinnitus or headache.",
                 lay_text="My hearing is fine and there's no ringing or headache."),
            Fact(id="f3", category="medications", text="Takes no regular medication.", lay_text="I take nothing."),
            Fact(id="f4", category="allergies", text="No known drug allergies.", lay_text="None."),
        ],
        "exam": [Finding(name="Dix-Hallpike test", result="Torsional nystagmus on the right, fatigable")],
        "tests": [Finding(name="Audiometry", result="Normal hearing thresholds both ears")],
        "answer": Answer(
            diagnosis="benign paroxysmal positional vertigo",
            aliases=["BPPV"],
            differential=[DifferentialEntry(diagnosis=d) for d in ("vestibular neuritis", "Meniere disease")],
        ),
        "source": CaseSource(dataset="synthetic", licence="CC-BY-4.0"),
    }  # fmt: skip
    return CaseCard(**{**fields, **over})


def codes(c: CaseCard, profile: GateProfile | None = None) -> set[str]:
    return {p.code for p in gate_card(c, profile)}


def with_fact(c: CaseCard, i: int, **change) -> list[Fact]:
    facts = list(c.facts)
    facts[i] = facts[i].model_copy(update=change)
    return facts


def with_ddx(*names: str) -> Answer:
    base = card().answer
    return base.model_copy(update={"differential": [DifferentialEntry(diagnosis=n) for n in names]})


def test_the_base_card_passes_and_every_code_is_listed():
    assert gate_card(card()) == []
    assert set(CODES) >= {"duplicate_facts", "empty_fact", "names_diagnosis", "too_thin", "no_findings"}


def test_duplicate_facts_equal_near_equal_and_cut_copies():
    c = card()
    same = with_fact(c, 1, text=c.facts[0].text.upper() + "!")
    assert "duplicate_facts" in codes(card(facts=same))
    pronoun = card(facts=[*c.facts, Fact(id="f5", text="Her rash spread to the arms over a week.")])
    pronoun = card(facts=[*pronoun.facts, Fact(id="f6", text="His rash spread to the arms over a week.")])
    assert "duplicate_facts" in codes(pronoun)
    lay = with_fact(c, 1, lay_text=c.facts[0].lay_text)
    assert "duplicate_facts" in codes(card(facts=lay))
    # One content word changed is another fact, however alike the strings look; so is another number.
    arms = [*c.facts, Fact(id="f5", text="The papules are located on the ventral side of the child's arms.")]
    legs = [
        *arms,
        Fact(id="f6", text="The papules are also located on the ventral side of the child's legs."),
    ]
    bp = [*c.facts, Fact(id="f5", text="Home BP 120/80."), Fact(id="f6", text="Home BP 160/95.")]
    swap = [*c.facts, Fact(id="f5", text="Pain worse on walking, better at rest."),
            Fact(id="f6", text="Pain better on walking, worse at rest.")]  # fmt: skip
    assert "duplicate_facts" not in codes(card(facts=legs)) | codes(card(facts=bp)) | codes(card(facts=swap))


def test_duplicate_findings_copied_between_exam_and_tests():
    c = card()
    copied = card(tests=[*c.tests, c.exam[0]])
    assert "duplicate_findings" in codes(copied)
    long_result = "Torsional upbeating nystagmus after a short latency, fading within thirty seconds"
    renamed = card(
        exam=[Finding(name="Alex", result=long_result)], tests=[Finding(name="Sam", result=long_result)]
    )
    assert "duplicate_findings" in codes(renamed)
    two_readings = card(
        exam=[Finding(name="BP", result="120/80 mmHg"), Finding(name="BP", result="150/90 mmHg")]
    )
    normal = card(
        exam=[Finding(name="Reflexes", result="Normal"), Finding(name="Sensation", result="Normal")]
    )
    assert "duplicate_findings" not in codes(two_readings) | codes(normal)


@pytest.mark.parametrize("text", ["benf.", "medical term.", "text", "...", "The patient says,"])
def test_empty_fact(text):
    assert "empty_fact" in codes(card(facts=with_fact(card(), 2, text=text)))


def test_empty_lay_text_and_what_is_not_empty():
    assert "empty_fact" in codes(card(facts=with_fact(card(), 2, lay_text="text")))
    short = [Fact(id="f5", text="Cough."), Fact(id="f6", text="Gout."), Fact(id="f7", text="Non-smoker.")]
    assert gate_card(card(facts=[*card().facts, *short])) == []  # "None." as lay text is in the base card


def test_echoes_prompt_only_for_synthesized_cards():
    echo = card(opening_statement="What the patient says first, in plain words.")
    assert "echoes_prompt" in codes(echo)
    acuity = card(facts=with_fact(card(), 2, text="Symptoms of the vertigo (common, low acuity) for days."))
    assert "echoes_prompt" in codes(acuity)
    # The same words on a seed card are not compared with a prompt that never made it.
    assert "echoes_prompt" not in codes(echo.model_copy(update={"source": CaseSource(dataset="seed")}))
    # Clinical phrasing the prompt happens to use is not an echo.
    plain = card(facts=with_fact(card(), 2, text="A 52-year-old female teacher, takes no medication."))
    assert "echoes_prompt" not in codes(plain)


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("opening", "I think I have benign paroxysmmal positional vertigo."),  # misspelt (the demo's card)
        ("fact", "benign paroxysmmal positional vertigo (benf)."),
        ("lay", "The GP said it might be BPPV."),  # abbreviation, via the alias
        ("fact", "Benign positional paroxysmal vertigo diagnosed last year."),
    ],
)
def test_names_diagnosis_variants(where, text):
    c = card()
    if where == "opening":
        c = card(opening_statement=text)
    elif where == "fact":
        c = card(facts=with_fact(c, 1, text=text))
    else:
        c = card(facts=with_fact(c, 1, lay_text=text))
    problems = [p for p in gate_card(c) if p.code == "names_diagnosis"]
    assert problems, text


def test_names_diagnosis_drops_generic_qualifiers_but_not_distinct_diseases():
    c = card(
        answer=Answer(diagnosis="acute appendicitis"), facts=with_fact(card(), 1, text="Had appendicitis.")
    )
    assert "names_diagnosis" in codes(c)
    af = card(answer=Answer(diagnosis="atrial fibrillation", aliases=["AF"]),
              facts=with_fact(card(), 1, text="Felt worse after climbing stairs; my gut was fine."))  # fmt: skip
    gout = card(answer=Answer(diagnosis="gout"), facts=with_fact(card(), 1, text="An upset gut last month."))
    assert "names_diagnosis" not in codes(af) | codes(gout)


def test_opening_message_reads_as_before():
    c = card(opening_statement="My doctor said it might be BPPV, I am worried.")
    [p] = [p for p in gate_card(c) if p.code == "names_diagnosis"]
    assert (
        str(p)
        == "names_diagnosis: opening statement names the diagnosis ('benign paroxysmal positional vertigo')"
    )


@pytest.mark.parametrize(
    "entry",
    [
        "The patient is an 25-year-old male whose main complaint is",
        "result",
        "benf. medical term.",
        "Syr-Luar-Bell 2019",
        "Celiac_Diseases_Celiac_Diseases",
        "Molodi: Common, Low-Acuity",
        "rare",
        "Dof",
    ],
)
def test_differential_not_diagnosis(entry):
    assert "differential_not_diagnosis" in codes(card(answer=with_ddx("vestibular neuritis", entry)))


def test_differential_names_of_any_shape_pass():
    names = ("tinea corporis", "athlete's heart", "teething", "Todd's paresis after an unwitnessed seizure",
             "bipolar II disorder, current depressive episode", "drug reaction with eosinophilia (DRESS)",
             "possible early sepsis", "May-Thurner syndrome", "HER2-positive breast cancer",
             "type I hypersensitivity reaction", "St. Louis encephalitis", "S. aureus bacteraemia")  # fmt: skip
    assert gate_card(card(answer=with_ddx(*names))) == []


@pytest.mark.parametrize(
    "entry", ["Benign paroxysmal positional vertigo", "BPPV", "benign paroxysmmal positional vertigo"]
)
def test_differential_repeats_answer(entry):
    assert "differential_repeats_answer" in codes(card(answer=with_ddx("vestibular neuritis", entry)))


def test_differential_qualifiers_that_change_the_disease_are_not_repeats():
    t2 = Answer(diagnosis="type 2 diabetes mellitus",
                differential=[DifferentialEntry(diagnosis="type 1 diabetes mellitus")])  # fmt: skip
    aura = Answer(
        diagnosis="migraine with aura", differential=[DifferentialEntry(diagnosis="migraine without aura")]
    )
    acute = Answer(diagnosis="acute appendicitis", differential=[DifferentialEntry(diagnosis="appendicitis")])
    assert "differential_repeats_answer" not in codes(card(answer=t2)) | codes(card(answer=aura))
    assert "differential_repeats_answer" in codes(card(answer=acute))


@pytest.mark.parametrize(
    "lay", ["The patient has a family history of it.", "Bilateral photophobia.", "Denies fever."]
)
def test_lay_text_not_lay(lay):
    assert "lay_text_not_lay" in codes(card(facts=with_fact(card(), 1, lay_text=lay)))


def test_opening_must_be_lay_except_for_imported_vignettes():
    third = card(opening_statement="The patient is a 52-year-old woman who presents with vertigo.")
    assert "lay_text_not_lay" in codes(third)
    imported = third.model_copy(update={"source": CaseSource(dataset="medqa")})
    assert "lay_text_not_lay" not in codes(imported)
    fine = card(facts=with_fact(card(), 1, lay_text="Mum had the same dizzy spells; she's fine now."))
    assert gate_card(fine) == []


def test_too_thin_and_no_findings_by_profile():
    c = card()
    thin = card(facts=[c.facts[0], c.facts[0].model_copy(update={"id": "f2"}), c.facts[2]])
    assert "too_thin" in codes(thin)
    assert "too_thin" not in codes(card(facts=c.facts[:3]))
    assert "too_thin" in codes(card(facts=c.facts[:3]), profile_for(c, min_facts=4))
    bare = card(exam=[], tests=[])
    assert "no_findings" in codes(bare)
    mcq = bare.model_copy(update={"source": CaseSource(dataset="mediq"), "facts": c.facts[:1]})
    assert gate_card(mcq) == []  # imported: one fact and no findings are what an MCQ vignette has


def test_messages_carry_the_codes():
    three = card(facts=card().facts[:3])
    problems = gate_card(card(facts=with_fact(three, 1, text="benf; benf")))  # empty_fact, then too_thin
    message = format_problems(problems)
    assert "benf, benf" in message  # a detail never holds the separator
    assert gate_codes(message) == [p.code for p in problems] and len(problems) >= 2
    assert gate_codes("not a gate message: x") == []


def test_labelled_junk_of_the_embedded_model_is_all_rejected():
    rows = [json.loads(x) for x in LABELLED.read_text().splitlines() if x.strip()]
    assert len(rows) >= 24
    for row in rows:
        got = codes(CaseCard.model_validate(row["card"]))
        assert got, f"{row['item_id']} passed every gate: {row['note']}"
        assert set(row["labels"]) <= set(CODES)
    # The card: "benf." facts, the diagnosis misspelt in f1, identical findings, sentence differentials.
    demo = next(r for r in rows if r["card"]["facts"][1]["text"] == "benf.")
    assert {"duplicate_facts", "duplicate_findings", "empty_fact", "names_diagnosis",
            "differential_not_diagnosis"} <= codes(CaseCard.model_validate(demo["card"]))  # fmt: skip


def _medqa_rows() -> list[dict]:
    out = []
    for name in ("mediq_imedqa_sample.jsonl", "mediq_craftmd_sample.jsonl"):
        for rec in (json.loads(x) for x in (SAMPLES / name).read_text().splitlines() if x.strip()):
            vignette = " ".join(
                s if s.rstrip().endswith((".", "?", "!")) else s + "." for s in rec["context"]
            )
            out.append({"question": f"{vignette} {rec['question']}", "options": rec["options"],
                        "answer_idx": rec["answer_idx"], "answer": rec["answer"]})  # fmt: skip
    return out


def test_no_false_rejects_of_sample_imports(tmp_path):
    medqa = tmp_path / "medqa.jsonl"
    medqa.write_text("\n".join(json.dumps(r) for r in _medqa_rows()) + "\n")
    files = [("agentclinic_osce_sample.jsonl", "agentclinic"), ("mediq_imedqa_sample.jsonl", "mediq"),
             ("mediq_craftmd_sample.jsonl", "mediq")]  # fmt: skip
    for path, fmt in [(SAMPLES / n, f) for n, f in files] + [(medqa, "medqa")]:
        res = import_cases(path, fmt, allow_non_diagnostic=True)
        assert res.skips == [] and res.written == res.read, (path.name, res.skips)


def test_import_skips_a_gated_card_with_its_code(tmp_path):
    rec = json.loads((SAMPLES / "agentclinic_osce_sample.jsonl").read_text().splitlines()[0])
    actor = rec["OSCE_Examination"]["Patient_Actor"]
    actor["Symptoms"]["Secondary_Symptoms"] = ["Double vision"]  # the primary symptom twice
    path = tmp_path / "ac.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    res = import_cases(path, "agentclinic", strict=True)  # a gate's skip is a policy skip: strict goes on
    assert res.written == 0 and res.skips[0].code == "duplicate_facts" and not res.skips[0].bad


# ------------------------------------------------------------------------ where cards enter and leave


def _junk_card() -> CaseCard:
    row = next(json.loads(x) for x in LABELLED.read_text().splitlines() if '"benf."' in x)
    return CaseCard.model_validate(row["card"])


def _write_cases(root: Path, cards: list[CaseCard]) -> Path:
    w = ShardWriter(root, "cases", "t", 0, max_records=1000, max_bytes=2**30)
    w.write([(c.id, c.id, c.schema_version, c.model_dump_json()) for c in cards])
    (root / "manifest.json").write_text(json.dumps({"run_id": "r1"}))
    return root


def test_synthesis_quarantines_junk_with_codes(write_config, tmp_path):
    from synth.config import load_config
    from synth.runner import Runner, build_jobs
    from synth.status import collect_status
    from tests.fakes import ScriptedBackend, good_case_draft, raw

    def script(req):
        if "Write a case of" in req.messages[-1]["content"] and len(script.calls) % 2:
            script.calls.append(1)
            junk = json.loads(good_case_draft(req).text)
            junk["facts"] = [{"category": "medications", "text": "benf.", "lay_text": "benf. medical term.",
                              "key": False}] * 3  # fmt: skip
            junk["differential"] = ["The patient is an 25-year-old male whose main complaint is", "result"]
            return raw(json.dumps(junk))
        script.calls.append(1)
        return good_case_draft(req)

    script.calls = []  # type: ignore[attr-defined]
    cfg = load_config(write_config({"run": {"output": str(tmp_path / "out"), "concurrency": 1},
                                    "teachers": {"default": {"backend": "local"}},
                                    "cases": {"synthesize": {"n": 4}}}))  # fmt: skip
    runner = Runner(cfg, backends={"default": ScriptedBackend(script)}, argv=["test"])
    res = asyncio.run(runner.run(build_jobs(cfg)))
    assert res.jobs[0].done == 2 and res.jobs[0].quarantined == 2
    q = [json.loads(x) for x in (cfg.run.output / "quarantine.jsonl").read_text().splitlines()]
    assert {e["error_type"] for e in q} == {"InconsistentCase"} and {e["stage"] for e in q} == {"case_gates"}
    for e in q:
        assert {"duplicate_facts", "empty_fact", "differential_not_diagnosis", "too_thin"} <= set(
            gate_codes(e["message"])
        )
    assert collect_status(cfg.run.output)["items"]["case_synthesis"] == {"done": 2, "quarantined": 2}
    from schemas.case import CaseCard as Card

    assert all(gate_card(c) == [] for c in iter_records(cfg.run.output, "cases", Card))


def test_filter_reads_cases_by_default_and_ledgers_the_gate_codes(tmp_path):
    from synth.cases.seeds import load_seed_cases

    good = load_seed_cases()[:3]
    run = _write_cases(tmp_path / "in", [*good, _junk_card()])
    assert "cases" in DEFAULT_TABLES
    stages = [{"stage": "case_gates"}, {"stage": "heuristics"}, {"stage": "exact_dedup"},
              {"stage": "near_dedup"}, {"stage": "complexity", "select": {"threshold": 5}}]  # fmt: skip
    res = asyncio.run(run_filter(run, tmp_path / "out", FilterConfig.model_validate({"stages": stages})))
    kept = {c.id for c in iter_records(res.out, "cases", CaseCard)}
    assert kept == {c.id for c in good}  # the judges' selection leaves cards alone
    [drop] = [LedgerEntry.model_validate_json(x) for x in (res.out / "ledger.jsonl").read_text().splitlines()]
    assert drop.record_id == _junk_card().id and drop.stage == "case_gates" and drop.table == "cases"
    assert {"duplicate_facts", "names_diagnosis", "empty_fact"} <= set(gate_codes(drop.reason))
    funnel = json.loads((res.out / "funnel.json").read_text())
    gates = next(s for s in funnel if s["stage"] == "case_gates")
    assert gates["summary"]["duplicate_facts"] == 1 and gates["by_table"]["cases"] == {"in": 4, "out": 3}


def test_dedup_compares_card_content_not_ids(tmp_path):
    from synth.cases.seeds import load_seed_cases

    a = load_seed_cases()[0]
    b = a.model_copy(update={"id": "case-copy", "source": a.source.model_copy(update={"source_id": "copy"})})
    run = _write_cases(tmp_path / "in", [a, b])
    cfg = FilterConfig.model_validate({"stages": [{"stage": "exact_dedup"}]})
    res = asyncio.run(run_filter(run, tmp_path / "out", cfg))
    assert len(list(iter_records(res.out, "cases", CaseCard))) == 1


def test_publish_skips_gated_cards(tmp_path):
    from synth.cases.seeds import load_seed_cases
    from synth.publish import PublishError, publish_folder
    from synth.publish.layout import read_published_records
    from tests.test_publish import consultation

    good = load_seed_cases()[:2]
    junk = _junk_card()
    run = _write_cases(tmp_path / "run", [*good, junk])
    talks = [consultation(good[0], True), consultation(junk, True)]
    w = ShardWriter(run, "consultations", "t", 0, max_records=1000, max_bytes=2**30)
    w.write([(c.id, c.id, c.schema_version, c.model_dump_json()) for c in talks])
    res = publish_folder([run], tmp_path / "pub")
    assert set(res.gated["cases"]) == {junk.id}
    assert "names_diagnosis" in gate_codes(res.gated["cases"][junk.id])
    assert set(res.gated["consultations"]) == {talks[1].id}  # a consultation held on a junk card goes too
    kept = {json.loads(js)["id"] for js in read_published_records(tmp_path / "pub", "consultations")}
    assert kept == {talks[0].id}
    published = {json.loads(js)["id"] for js in read_published_records(tmp_path / "pub", "cases")}
    assert published == {c.id for c in good}
    only_junk = _write_cases(tmp_path / "junk", [junk])
    with pytest.raises(PublishError, match="all 1 records failed a case gate"):
        publish_folder([only_junk], tmp_path / "pub2")

    # The CLI says so in its summary, not only record by record on stderr.
    from typer.testing import CliRunner

    from synth.cli import app

    out = CliRunner().invoke(app, ["publish", str(run), "--to", str(tmp_path / "pub3")])
    assert out.exit_code == 0, out.output
    assert "left out by a case gate: cases 1, consultations 1" in out.stdout


def test_filter_that_drops_every_card_still_writes_the_layout(tmp_path):
    run = _write_cases(tmp_path / "in", [_junk_card()])
    cfg = FilterConfig.model_validate({"stages": [{"stage": "case_gates"}]})
    res = asyncio.run(run_filter(run, tmp_path / "out", cfg))
    assert res.kept == {} and res.dropped == 1 and (res.out / "data").is_dir()
