"""Mixing external corpora into the sft / dpo views (synth/publish/mix.py): every format, count and ratio,
malformed rows reported with file:line, decontamination and dedup drops with their reasons, identifier
scrubbing, the `source` column, the card, the CLI's strict options file, and an unreachable Hub id."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from synth.cli import app
from synth.publish import PublishError, publish_folder
from synth.publish.builder import read_input
from synth.publish.mix import MixSource, hub_rows
from synth.publish.mix_formats import BadRow, detect, dpo_messages, medmcqa_cop_base, sft_messages
from synth.publish.options import PublishOptions
from synth.publish.views import build_rows

from .conftest import SAMPLES
from .train_corpus import build_run

CHEST = "I have had crushing chest pain for two hours that spreads to my left arm and jaw, with sweating."
MI = "This sounds like a myocardial infarction until proven otherwise: call an ambulance now."
BENCH_Q = ("A 63-year-old man has had progressive exertional dyspnoea over eight months with bibasal fine "
           "crackles and finger clubbing; what is the most likely diagnosis?")  # fmt: skip


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _user_assistant(u: str, a: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": u}, {"role": "assistant", "content": a}]


# ------------------------------------------------------------------------------------------- formats alone


def test_each_format_becomes_a_conversation():
    sg = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Q?"},
                            {"from": "gpt", "value": "A."}]}  # fmt: skip
    assert detect(sg) == "sharegpt"
    assert sft_messages(sg, "sharegpt") == [
        {"role": "system", "content": "Be brief."},
        *_user_assistant("Q?", "A."),
    ]
    assert sft_messages({"messages": _user_assistant("Q?", "A.")}, "messages") == _user_assistant("Q?", "A.")
    assert sft_messages({"prompt": "Q?", "completion": "A."}, "prompt_completion") == _user_assistant(
        "Q?", "A."
    )
    alpaca = {"instruction": "Explain.", "input": "Gout", "output": "Urate crystals."}
    assert detect(alpaca) == "qa"
    assert sft_messages(alpaca, "qa") == _user_assistant("Explain.\n\nGout", "Urate crystals.")
    mcq = {"question": "Which?", "opa": "w", "opb": "x", "opc": "y", "opd": "z", "cop": 3, "exp": "Because."}
    assert detect(mcq) == "medmcqa"
    assert sft_messages(mcq, "medmcqa", cop_base=1)[-1]["content"] == "Because.\n\nThe answer is C. y"
    assert sft_messages(mcq, "medmcqa", cop_base=0)[-1]["content"] == "Because.\n\nThe answer is D. z"


def test_the_medqa_shapes_of_the_public_samples():
    rows = [json.loads(line) for line in (SAMPLES / "mediq_imedqa_sample.jsonl").read_text().splitlines()]
    for row in rows:
        assert detect(row) == "medqa"
        user, assistant = sft_messages(row, "medqa")
        assert row["question"] in user["content"] and row["context"][0] in user["content"]
        assert assistant["content"] == f"The answer is {row['answer_idx']}. {row['answer']}"
    listed = {
        "question": "Q?",
        "answer_idx": "B",
        "options": [{"key": "A", "value": "x"}, {"key": "B", "value": "y"}],
    }
    assert sft_messages(listed, "medqa")[-1]["content"] == "The answer is B. y"


@pytest.mark.parametrize(
    ("row", "fmt", "reason"),
    [
        ({"question": "Q?", "options": {"A": "x", "B": "y"}, "answer_idx": "C"}, "medqa", "bad_answer: answer_idx"),
        ({"question": "Q?", "options": {"A": "x", "B": "y"}, "answer_idx": "A", "answer": "y"}, "medqa",
         "bad_answer: answer does not match"),
        ({"question": "Q?", "opa": "x", "opb": "y", "cop": 2}, "medmcqa", "bad_answer: cop 2"),
        ({"messages": [{"role": "user", "content": "Q?"}]}, "messages", "structure"),
        ({"messages": [{"role": "assistant", "content": "A."}]}, "messages", "no user message"),
        ({"conversations": [{"from": "human", "value": "Q"}, {"from": "tool", "value": "x"}]}, "sharegpt",
         "bad_role"),
        ({"prompt": "Q?", "completion": "  "}, "prompt_completion", "empty: completion"),
        ({"text": "free text"}, None, "unknown_format"),
    ],
)  # fmt: skip
def test_a_malformed_row_names_its_fault(row, fmt, reason):
    with pytest.raises(BadRow, match=reason):
        sft_messages(row, fmt or detect(row), cop_base=0)


def test_preference_rows_explicit_and_implicit_prompt():
    assert dpo_messages({"prompt": "Q?", "chosen": "good", "rejected": "bad"}) == (
        [{"role": "user", "content": "Q?"}], [{"role": "assistant", "content": "good"}],
        [{"role": "assistant", "content": "bad"}])  # fmt: skip
    implicit = {"chosen": _user_assistant("Q?", "good"), "rejected": _user_assistant("Q?", "bad")}
    prompt, chosen, _ = dpo_messages(implicit)
    assert prompt == [{"role": "user", "content": "Q?"}] and chosen[0]["content"] == "good"
    with pytest.raises(BadRow, match="the same"):
        dpo_messages({"prompt": "Q?", "chosen": "x", "rejected": "x"})


def test_the_medmcqa_answer_base_is_decided_per_source_or_not_at_all():
    assert medmcqa_cop_base([1, 2, 4]) == 1 and medmcqa_cop_base([0, 3]) == 0
    assert medmcqa_cop_base([1, 2, 3]) is None and medmcqa_cop_base([0, 4]) is None


def test_the_config_is_strict():
    with pytest.raises(ValueError, match="licence"):
        PublishOptions.model_validate({"mix": {"sources": [{"name": "a", "path": "x.jsonl"}]}})
    with pytest.raises(ValueError, match="extra"):
        PublishOptions.model_validate(
            {"mix": {"sources": [{"name": "a", "path": "x", "licence": "mit", "rate": 1}]}}
        )
    with pytest.raises(ValueError, match="ratio: or count:"):
        MixSource(name="a", path=Path("x"), licence="mit", ratio=0.5, count=3)
    with pytest.raises(ValueError, match="cannot go into"):
        MixSource(name="a", path=Path("x"), licence="mit", format="medqa", view="dpo")
    with pytest.raises(ValueError, match="unique"):
        PublishOptions.model_validate(
            {"mix": {"sources": [{"name": "a", "path": "x", "licence": "mit"}] * 2}}
        )


def test_an_unreachable_hub_id_fails_fast_naming_the_id(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    t0 = time.monotonic()
    with pytest.raises(PublishError, match="'someone/medical-dialogues'"):
        hub_rows(MixSource(name="hub", hub="someone/medical-dialogues", licence="cc-by-4.0"))
    assert time.monotonic() - t0 < 30


# ---------------------------------------------------------------------------------------- one mixed publish


def _synthetic_sft_row(run: Path) -> dict[str, Any]:
    tables, _, _ = read_input(run)
    rows = build_rows({t: {r.id: r for r in recs} for t, recs in tables.items()}, PublishOptions())
    return next(r for r in rows["sft"] if r["source"] == "consultation")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict[str, Any]:
    import datasets

    tmp = tmp_path_factory.mktemp("mix")
    run = build_run(tmp / "run", 4, 8)
    ext = tmp / "ext"
    ext.mkdir()
    synth_copy = _synthetic_sft_row(run)
    _jsonl(ext / "chat.jsonl", [
        {"conversations": [{"from": "human", "value": CHEST + " I am Mr. John Carter, phone 0207 946 0958."},
                           {"from": "gpt", "value": MI}]},
        {"conversations": [{"from": "human", "value": "hello"}, {"from": "alien", "value": "x"}]},
        "{not json",
        {"conversations": [{"from": "human", "value": CHEST + " I am Mr. John Carter, phone 0207 946 0958."},
                           {"from": "gpt", "value": MI}]},
        {"conversations": [{"from": "human", "value": CHEST + " I am Mr. John Carter, phone 0207 946 0958."},
                           {"from": "gpt", "value": MI.replace("call", "please call")}]},
        {"conversations": [{"from": "human", "value": "My ankle is swollen after a fall yesterday."},
                           {"from": "gpt", "value": "An X-ray will rule out a fracture."}]},
        {"conversations": [{"from": "human", "value": "Use my key hf_" + "a1B2" * 9 + " to fetch it."},
                           {"from": "gpt", "value": "Never share keys."}]},
    ])  # fmt: skip
    _jsonl(ext / "trl.jsonl", [
        {"messages": [m for m in synth_copy["messages"] if m["role"] != "system"]},  # a synthetic row again
        {"messages": _user_assistant("What lowers HbA1c first line in type 2 diabetes?", "Metformin.")},
        {"messages": [{"role": "user", "content": "no answer"}]},
    ])  # fmt: skip
    pq.write_table(pa.Table.from_pylist([
        {"prompt": "Define tachycardia.", "completion": "A heart rate above 100 per minute."},
        {"prompt": "Define bradycardia.", "completion": ""},
    ]), ext / "pc.parquet")  # fmt: skip
    (ext / "qa.json").write_text(json.dumps([
        {"question": BENCH_Q, "answer": "Idiopathic pulmonary fibrosis."},
        {"question": "What is the antidote to paracetamol poisoning?", "answer": "Acetylcysteine."},
    ]))  # fmt: skip
    _jsonl(ext / "medmcqa.jsonl", [
        {"question": "Drug of choice in absence seizures?", "opa": "Ethosuximide", "opb": "Phenytoin",
         "opc": "Carbamazepine", "opd": "Gabapentin", "cop": 1},
        {"question": "Commonest site of a berry aneurysm?", "opa": "ACom", "opb": "PCom", "opc": "MCA",
         "opd": "Basilar", "cop": 4},
        {"question": "Broken key?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 7},
    ])  # fmt: skip
    disk_qa = [("First test for suspected anaemia?", "A full blood count."),
               ("Which vaccine prevents cervical cancer?", "HPV vaccine."),
               ("Typical rash of measles starts where?", "Behind the ears, spreading down."),
               ("Classic triad of Wernicke encephalopathy?", "Confusion, ataxia, ophthalmoplegia."),
               ("Inheritance of cystic fibrosis?", "Autosomal recessive."),
               ("Reversal agent for dabigatran?", "Idarucizumab.")]  # fmt: skip
    datasets.Dataset.from_list([{"messages": _user_assistant(q, a)} for q, a in disk_qa]).save_to_disk(
        str(ext / "disk")
    )
    _jsonl(ext / "prefs.jsonl", [
        {"prompt": "Fever and neck stiffness: next step?", "chosen": "Blood cultures then antibiotics now.",
         "rejected": "Wait for the CT before any antibiotic."},
        {"chosen": _user_assistant("Suspected sepsis?", "Give fluids and antibiotics within the hour."),
         "rejected": _user_assistant("Suspected sepsis?", "Reassess tomorrow.")},
        {"prompt": "Same?", "chosen": "x", "rejected": "x"},
    ])  # fmt: skip
    _jsonl(tmp / "bench.jsonl", [{"id": "b1", "question": BENCH_Q}])
    sources = [
        {"name": "chat", "path": str(ext / "chat.jsonl"), "licence": "cc-by-4.0", "format": "sharegpt"},
        {"name": "trl", "path": str(ext / "trl.jsonl"), "licence": "apache-2.0"},
        {"name": "pc", "path": str(ext / "pc.parquet"), "licence": "mit"},
        {"name": "qa", "path": str(ext / "qa.json"), "licence": "cc0-1.0"},
        {
            "name": "medqa",
            "path": str(SAMPLES / "mediq_imedqa_sample.jsonl"),
            "licence": "cc-by-4.0",
            "count": 2,
        },
        {"name": "medmcqa", "path": str(ext / "medmcqa.jsonl"), "licence": "apache-2.0"},
        {"name": "disk", "path": str(ext / "disk"), "licence": "mit", "ratio": 0.25},
        {"name": "prefs", "path": str(ext / "prefs.jsonl"), "licence": "mit", "format": "preference"},
    ]
    opts = tmp / "publish.yaml"
    opts.write_text(yaml.safe_dump({"seed": 3, "fractions": [1.0, 0.0, 0.0], "mix": {
        "sources": sources, "decontaminate": {"benchmarks": [str(tmp / "bench.jsonl")]}, "near_dedup": 0.5}}))  # fmt: skip
    pub = tmp / "pub"
    r = CliRunner().invoke(app, ["publish", str(run), "--to", str(pub), "--options", str(opts)])
    assert r.exit_code == 0, r.output
    sft = pq.read_table(sorted((pub / "data" / "sft").glob("train-*.parquet"))).to_pylist()
    dpo = pq.read_table(sorted((pub / "data" / "dpo").glob("train-*.parquet"))).to_pylist()
    ledger = [json.loads(line) for line in (pub / "mix" / "ledger.jsonl").read_text().splitlines()]
    summary = {s["name"]: s for s in json.loads((pub / "mix" / "summary.json").read_text())}
    return {"pub": pub, "run": run, "output": r.output, "sft": sft, "dpo": dpo, "ledger": ledger,
            "summary": summary, "synth_copy": synth_copy, "opts": opts}  # fmt: skip


def _by_source(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["source"], []).append(r)
    return out


def test_every_row_has_a_source_and_the_shares_are_kept(mixed):
    sft, dpo, s = _by_source(mixed["sft"]), _by_source(mixed["dpo"]), mixed["summary"]
    assert set(sft) >= {"consultation", "problem", "external:chat", "external:trl", "external:pc", "external:qa",
                        "external:medqa", "external:medmcqa", "external:disk"}  # fmt: skip
    assert set(dpo) >= {"consultation", "external:prefs"}
    n_synth = sum(len(v) for k, v in sft.items() if not k.startswith("external:"))
    assert len(sft["external:medqa"]) == 2 and s["medqa"]["not_chosen"] == 1  # count: 2 of 3
    assert len(sft["external:disk"]) == round(0.25 * n_synth) == s["disk"]["mixed"]  # ratio of the synthetic
    assert s["disk"]["read"] == 6 and s["disk"]["not_chosen"] == 6 - round(0.25 * n_synth)
    assert len(dpo["external:prefs"]) == 2
    assert {r["label_source"] for k, v in sft.items() if k.startswith("external:") for r in v} <= {
        "keywords",
        "none",
    }
    answers = {
        r["messages"][0]["content"].split("\n")[2]: r["messages"][-1]["content"]
        for r in sft["external:medmcqa"]
    }
    assert answers == {"Drug of choice in absence seizures?": "The answer is A. Ethosuximide",
                       "Commonest site of a berry aneurysm?": "The answer is D. Basilar"}  # fmt: skip


def test_malformed_rows_are_reported_with_file_and_line_and_nothing_else_is_lost(mixed):
    bad = {(e["source"], e["where"]): e["reason"] for e in mixed["ledger"] if e["stage"] == "malformed"}
    assert bad.keys() == {("chat", "chat.jsonl:2"), ("chat", "chat.jsonl:3"), ("trl", "trl.jsonl:3"),
                          ("pc", "pc.parquet:2"), ("medmcqa", "medmcqa.jsonl:3"), ("prefs", "prefs.jsonl:3")}  # fmt: skip
    assert (
        bad[("chat", "chat.jsonl:3")].startswith("invalid_json")
        and "bad_role" in bad[("chat", "chat.jsonl:2")]
    )
    secret = [e for e in mixed["ledger"] if e["stage"] == "secret"]
    assert [(e["source"], e["where"]) for e in secret] == [("chat", "chat.jsonl:7")]
    assert "hf_" not in json.dumps(mixed["ledger"]) and "hf_" not in json.dumps(mixed["sft"])
    s = mixed["summary"]
    for name, st in s.items():  # every row read is mixed, or in the ledger, or beyond the share
        left = sum(1 for e in mixed["ledger"] if e["source"] == name)
        assert st["read"] == st["mixed"] + left + st["not_chosen"], name
    assert "mix chat -> sft:" in mixed["output"] and "2 malformed" in mixed["output"]


def test_decontamination_and_dedup_drop_external_rows_with_reasons(mixed):
    by = {(e["source"], e["where"]): e for e in mixed["ledger"] if e["stage"] != "malformed"}
    contam = by[("qa", "qa.json:1")]
    assert contam["stage"] == "decontaminate" and "bench.jsonl #1 (id b1)" in contam["reason"]
    exact = [e for k, e in by.items() if k[0] == "chat" and e["stage"] == "exact_dedup"]
    assert len(exact) == 1 and exact[0]["duplicate_of"].startswith("chat:chat.jsonl:")
    near = [e for k, e in by.items() if k[0] == "chat" and e["stage"] == "near_dedup"]
    assert (
        len(near) == 1 and "estimated Jaccard" in near[0]["reason"] and "threshold 0.5" in near[0]["reason"]
    )
    assert {near[0]["where"], near[0]["duplicate_of"]} == {"chat.jsonl:1", "chat:chat.jsonl:5"}
    copy = by[("trl", "trl.jsonl:1")]  # a synthetic row brought back from outside: the synthetic one stays
    assert copy["stage"] == "exact_dedup" and copy["duplicate_of"] == mixed["synth_copy"]["source_id"]
    assert any(r["id"] == mixed["synth_copy"]["id"] for r in mixed["sft"])


def test_external_text_is_scrubbed_before_it_is_written(mixed):
    chat = [r for r in mixed["sft"] if r["source"] == "external:chat"]
    text = json.dumps(chat)
    assert "0207 946 0958" not in text and "John Carter" not in text and "[PHONE_1]" in text
    assert mixed["summary"]["chat"]["phi_replacements"]["phone"] >= 1


def test_the_card_records_what_was_mixed_from_where_under_which_licence(mixed):
    card = (mixed["pub"] / "README.md").read_text()
    assert "### Mixed external corpora" in card and "No real patient data was used" not in card
    for name, origin, licence in [("medqa", "mediq_imedqa_sample.jsonl", "cc-by-4.0"), ("disk", "disk", "mit"),
                                  ("prefs", "prefs.jsonl", "mit"), ("qa", "qa.json", "cc0-1.0")]:  # fmt: skip
        assert f"| `external:{name}` | {origin} | {licence} |" in card
    assert str(mixed["pub"].parent) not in card  # a source is named by its file, never its machine path


def test_a_second_publish_keeps_the_stored_mix(mixed, tmp_path):
    import shutil

    pub = tmp_path / "pub"
    shutil.copytree(mixed["pub"], pub)
    res = publish_folder([mixed["run"]], pub)
    assert {m["name"]: m["mixed"] for m in res.mix} == {k: v["mixed"] for k, v in mixed["summary"].items()}
    again = pq.read_table(sorted((pub / "data" / "sft").glob("train-*.parquet"))).to_pylist()
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in mixed["sft"])


def test_an_unknown_key_in_the_options_file_is_refused(tmp_path, mixed):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"mix": {"sources": [{"name": "x", "path": "x.jsonl", "licence": "mit",
                                                        "weight": 2}]}}))  # fmt: skip
    r = CliRunner().invoke(
        app, ["publish", str(mixed["run"]), "--to", str(tmp_path / "p"), "--options", str(bad)]
    )
    assert r.exit_code != 0 and "weight" in r.output


def test_trl_reads_the_mixed_sft_view_untouched(mixed):
    """The dataset TRL's SFTTrainer gets: conversational rows whose chat template renders (the tokenizer of
    the embedded model); the 1-step training run is in test_mix_train.py."""
    from trl.data_utils import is_conversational

    from datasets import load_dataset

    ds = load_dataset(str(mixed["pub"]), "sft", split="train")
    assert len(ds) == len(mixed["sft"]) and "source" in ds.column_names
    assert all(is_conversational(row) for row in ds)


def test_a_curriculum_stage_selects_the_mixed_rows_by_source(mixed):
    from datasets import load_dataset
    from train.recipe import CurriculumStage
    from train.sft import select_stage

    ds = load_dataset(str(mixed["pub"]), "sft", split="train")
    ext = select_stage(ds, CurriculumStage(name="real", max_steps=1, where={"source": ["external"]}), "x")
    assert len(ext) == sum(r["source"].startswith("external:") for r in mixed["sft"]) > 0
    ours = select_stage(
        ds, CurriculumStage(name="ours", max_steps=1, where={"source": ["consultation"]}), "x"
    )
    assert {r["source"] for r in ours} == {"consultation"}


def test_a_missing_source_or_benchmark_is_an_error_naming_it(tmp_path, mixed):
    gone = {"sources": [{"name": "gone", "path": str(tmp_path / "nope.jsonl"), "licence": "mit"}]}
    with pytest.raises(PublishError, match=r"nope\.jsonl does not exist"):
        publish_folder([mixed["run"]], tmp_path / "a", {"mix": gone})
    ok = _jsonl(tmp_path / "ok.jsonl", [{"question": "Q?", "answer": "A."}])
    bench = {"sources": [{"name": "ok", "path": str(ok), "licence": "mit"}],
             "decontaminate": {"benchmarks": [str(tmp_path / "bench.jsonl")]}}  # fmt: skip
    with pytest.raises(PublishError, match=r"decontaminate: .*bench\.jsonl"):
        publish_folder([mixed["run"]], tmp_path / "b", {"mix": bench})
