"""Publishing: views, splits by group, the Hub layout loaded back with `datasets`, the card, incremental
publishes, the secret guard, the CLI, the push (against a local stand-in of the Hub), and TRL on the views.

The real Hub is not reachable from the test machines and the upload code is huggingface_hub's own: the push
test points HfApi at `HubStandIn`, a small http.server on 127.0.0.1 answering the endpoints create_repo and
upload_folder call (repo creation, YAML validation, preupload, commit, tree listing, repo info).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas import (
    Answer,
    CaseCard,
    CaseSource,
    Consultation,
    Demographics,
    Evaluation,
    Fact,
    FinalDiagnosis,
    Finding,
    Provenance,
    ReasoningTrace,
    SearchStep,
    TeacherCall,
    TemplateRef,
    Termination,
    Turn,
    VerifiableProblem,
)
from schemas.arrow import decode_row
from schemas.consultation import DDxItem
from synth.cli import app
from synth.publish import PublishError, publish_folder
from synth.publish.options import PublishOptions
from synth.publish.push import is_transient, push_folder, upload_plan, with_retries
from synth.publish.splits import split_of
from synth.publish.views import build_rows, consultation_messages
from synth.store.shards import ShardWriter

TABLES = {"cases": CaseCard, "consultations": Consultation, "problems": VerifiableProblem,
          "reasoning": ReasoningTrace}  # fmt: skip


def prov(role: str, run: str = "r1") -> Provenance:
    ref = TemplateRef(id=role, version=1, sha256=hashlib.sha256(role.encode()).hexdigest())
    call = TeacherCall(role=role, teacher="default", backend="openai", model="m-1", template=ref,
                       prompt_tokens=100, completion_tokens=20)  # fmt: skip
    return Provenance(engine_version="0.1.0", run_id=run, job=role, calls=[call])


def card(i: int) -> CaseCard:
    return CaseCard(
        demographics=Demographics(age_years=30 + i, sex="female"),
        opening_statement=f"I have had a cough for {i + 2} weeks.",
        facts=[
            Fact(id="f1", text=f"cough {i}", key=True),
            Fact(id="f2", text="night sweats"),
            Fact(id="f3", text="weight loss of 4 kg"),
        ],
        exam=[Finding(name="Chest", result="crackles at the right apex")],  # a card the case gates pass
        answer=Answer(diagnosis=f"disease {i}"),
        source=CaseSource(dataset="synthetic", licence="CC-BY-4.0"),
        provenance=prov("case_synthesis"),
    )


def consultation(case: CaseCard, correct: bool, k: int = 0) -> Consultation:
    dx = case.answer.diagnosis if correct else f"wrong {k}"
    turns = [
        Turn(index=0, speaker="patient", act="answer", text=case.opening_statement),
        Turn(index=1, speaker="doctor", act="ask", text=f"Any fever? ({k})", reasoning="Think TB.",
             ddx=[DDxItem(diagnosis="tb", probability=0.6)]),
        Turn(index=2, speaker="patient", act="answer", text="Yes, at night."),
        Turn(index=3, speaker="doctor", act="request_test", text="chest x-ray", reasoning="Image it."),
        Turn(index=4, speaker="examiner", act="result", text="chest x-ray: cavitation"),
        Turn(index=5, speaker="system", act="note", text="Note: it is too early to decide."),
        Turn(index=6, speaker="doctor", act="final_diagnosis", text=dx, reasoning="Fits."),
    ]  # fmt: skip
    return Consultation(
        case_id=case.id, turns=turns, termination=Termination(reason="final_diagnosis", turn=6),
        final=FinalDiagnosis(diagnosis=dx, confidence=0.8, plan="Start treatment."),
        evaluation=Evaluation(correct=correct), scores={"complexity": 3.0 + k}, provenance=prov("doctor"),
    )  # fmt: skip


def problem(i: int) -> VerifiableProblem:
    return VerifiableProblem(question=f"Which drug first for type 2 diabetes, case {i}?",
                             ground_truth="metformin", provenance=prov("problem_rewrite"))  # fmt: skip


def trace(p: VerifiableProblem) -> ReasoningTrace:
    steps = [
        SearchStep(iteration=0, strategy="init", thinking=["Maybe a sulfonylurea."], conclusion="glipizide",
                   verdict="false"),
        SearchStep(iteration=1, strategy="correct", thinking=["First line is metformin."],
                   conclusion="metformin", verdict="true"),
    ]  # fmt: skip
    return ReasoningTrace(problem_id=p.id, question=p.question, ground_truth=p.ground_truth, steps=steps,
                          success=True, natural_thinking="Metformin is first line.", final_response="Metformin.",
                          provenance=prov("reasoning_init"))  # fmt: skip


def write_run(root: Path, records: dict[str, list[Any]], run_id: str = "run-a", **manifest: Any) -> Path:
    for table, recs in records.items():
        if recs:
            w = ShardWriter(root, table, run_id, 0, max_records=1000, max_bytes=2**30)
            for r in recs:
                w.add(table, r.id, [r])
            w.write(w.take()[0])
    m = {"engine_version": "0.1.0", "runs": [{"run_id": run_id}],
         "config": {"run": {"output": str(root)}, "teachers": {"default": {"backend": "openai", "model": "m-1",
                    "api_key_env": "OPENAI_API_KEY"}}},
         "prompts": {"doctor": {"version": 1, "sha256": hashlib.sha256(b"doctor").hexdigest()}}, **manifest}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(m))
    return root


def corpus(n_cases: int = 6, n_problems: int = 6, offset: int = 0) -> dict[str, list[Any]]:
    cards = [card(offset + i) for i in range(n_cases)]
    cons = [c for cd in cards for c in (consultation(cd, True), consultation(cd, False, 1))]
    probs = [problem(offset + i) for i in range(n_problems)]
    return {"cases": cards, "consultations": cons, "problems": probs, "reasoning": [trace(p) for p in probs]}


def load(root: Path, config: str, tmp: Path, **kw: Any) -> Any:
    import datasets

    return datasets.load_dataset(str(root), config, cache_dir=str(tmp / "hf-cache"), **kw)


# A stand-in for the Hub endpoints HfApi.create_repo / upload_folder call: preupload answers "regular" for
# every file (base64 inside the commit, no LFS/Xet storage); `fail_next[path_prefix] = n` answers the next n
# requests under that path with 503; a request without the expected token gets 401.
@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


class HubStandIn:
    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.fail_next: dict[str, int] = {}
        self.requests: list[tuple[str, str, int]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                hub.requests.append((self.command, self.path, code))

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _gate(self) -> bool:
                for prefix, n in list(hub.fail_next.items()):
                    if self.path.startswith(prefix) and n > 0:
                        hub.fail_next[prefix] = n - 1
                        self._body()
                        self._send(503, {"error": "injected: service unavailable"})
                        return False
                if self.headers.get("authorization") != f"Bearer {hub.token}":
                    self._body()
                    self._send(401, {"error": "Invalid credentials"})
                    return False
                return True

            def do_POST(self) -> None:
                if not self._gate():
                    return
                body = self._body()
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    p = json.loads(body)
                    repo_id = f"{p['organization']}/{p['name']}"
                    if repo_id in hub.repos:
                        return self._send(409, {"error": "You already created this dataset repo",
                                               "url": f"{hub.url}/datasets/{repo_id}"})  # fmt: skip
                    hub.repos[repo_id] = Repo(private=p.get("visibility", "public") == "private")
                    return self._send(200, {"url": f"{hub.url}/datasets/{repo_id}"})
                if path == "/api/validate-yaml":
                    return self._send(200, {"errors": [], "warnings": []})
                m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path)
                if not m or m.group(1) not in hub.repos:
                    return self._send(404, {"error": "Repository not found"})
                repo = hub.repos[m.group(1)]
                if m.group(2) == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                        for f in files
                    ]})  # fmt: skip
                for line in body.splitlines():
                    item = json.loads(line)
                    v = item["value"]
                    if item["key"] == "file":
                        repo.files[v["path"]] = base64.b64decode(v["content"])
                    elif item["key"] == "deletedFile":
                        repo.files.pop(v["path"], None)
                sha = hashlib.sha1(json.dumps(sorted(repo.files)).encode() + body).hexdigest()
                repo.commits.append(sha)
                return self._send(200, {"commitUrl": f"{hub.url}/datasets/{m.group(1)}/commit/{sha}",
                                        "commitOid": sha, "pullRequestUrl": None})  # fmt: skip

            def do_GET(self) -> None:
                if not self._gate():
                    return
                path = self.path.split("?")[0]
                m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/(tree|revision)/([^/]+)(/.*)?", path)
                if not m or m.group(1) not in hub.repos:
                    return self._send(404, {"error": "Repository not found"})
                repo = hub.repos[m.group(1)]
                if m.group(2) == "revision":
                    return self._send(200, {"id": m.group(1), "sha": repo.sha, "private": repo.private})
                return self._send(200, [
                    {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for p, b in sorted(repo.files.items())
                ])  # fmt: skip

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_consultation_rendering_keeps_or_drops_reasoning():
    c = consultation(card(0), True)
    keep = consultation_messages(c, "keep")
    drop = consultation_messages(c, "drop")
    assert [m["role"] for m in keep] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert keep[2]["content"].startswith("<reasoning>\nThink TB.\nDifferential: tb (0.60)\n</reasoning>\n\n")
    assert keep[2]["content"].endswith("Any fever? (0)")
    # examiner results and the director's note are what the doctor heard before its final turn
    assert keep[5]["content"] == "Results:\nchest x-ray: cavitation\n\nNote: it is too early to decide."
    assert keep[6]["content"].endswith("Final diagnosis: disease 0\nPlan: Start treatment.")
    assert not any("<reasoning>" in m["content"] for m in drop) and "<reasoning>" in keep[0]["content"]
    rows = build_rows(
        {"consultations": {c.id: c, (w := consultation(card(0), False)).id: w}}, PublishOptions()
    )
    assert [r["source_id"] for r in rows["sft"]] == [c.id]  # correct only by default
    [pair] = rows["dpo"]
    assert pair["prompt"] == keep[:-1] and pair["chosen"] == [keep[-1]]
    assert pair["rejected"][0]["content"].endswith("Final diagnosis: wrong 0\nPlan: Start treatment.")
    assert (
        len(build_rows({"consultations": {c.id: c, w.id: w}}, PublishOptions(all_consultations=True))["sft"])
        == 2
    )


def test_every_config_loads_back_with_datasets(tmp_path):
    recs = corpus()
    run = write_run(tmp_path / "run", recs)
    res = publish_folder([run], tmp_path / "pub")
    expected = build_rows({t: {r.id: r for r in v} for t, v in recs.items()}, PublishOptions())
    assert set(res.counts) == {"sft", "dpo", "rl", "consultations", "problems", "reasoning", "cases"}
    for config, rows in expected.items():
        if not rows:  # a config with no rows (rm, preferences: this corpus has no judged pairs) is left out
            continue
        ds = load(tmp_path / "pub", config, tmp_path)
        got = {r["id"]: r for split in ds.values() for r in split}
        assert sorted(got) == [r["id"] for r in rows], config
        for r in rows:
            g = got[r["id"]]
            assert {k: g[k] for k in g} == {k: r[k] for k in g}, (config, r["id"])
        if config in TABLES:  # the full record comes back equal from its typed columns, and validates
            back = {g["id"]: decode_row(TABLES[config], g) for g in got.values()}
            assert back == {r.id: r for r in recs[config]}
        streamed = load(tmp_path / "pub", config, tmp_path, streaming=True)
        srows = [r for s in streamed.values() for r in s]
        assert sorted(r["id"] for r in srows) == sorted(got)
        if config in TABLES:  # streaming gives the same nested rows
            assert {r["id"]: decode_row(TABLES[config], r) for r in srows} == back
    cons = load(tmp_path / "pub", "consultations", tmp_path)["train"]
    turn = cons.features["turns"].feature  # nested features, not a JSON blob
    assert {"speaker", "act", "text", "reasoning", "ddx"} <= set(turn)
    assert turn["ddx"].feature["probability"].dtype == "float64"
    assert cons.features["evaluation"]["correct"].dtype == "bool"
    assert "record" not in cons.features
    first = cons[0]
    assert first["turns"][1]["speaker"] == "doctor" and first["turns"][1]["ddx"][0]["diagnosis"] == "tb"
    sft = load(tmp_path / "pub", "sft", tmp_path)["train"]
    assert sft.features["messages"].feature["role"].dtype == "string"
    dpo = load(tmp_path / "pub", "dpo", tmp_path)
    assert {r["source"] for s in dpo.values() for r in s} == {"consultation", "problem"}


def test_splits_keep_groups_together_and_are_stable(tmp_path):
    recs = corpus(n_cases=20, n_problems=20)
    publish_folder([write_run(tmp_path / "run", recs)], tmp_path / "pub", {"fractions": (0.5, 0.25, 0.25)})
    split_of_group: dict[str, str] = {}
    for config in ("sft", "dpo", "rl", "consultations", "cases", "problems", "reasoning"):
        for split, ds in load(tmp_path / "pub", config, tmp_path).items():
            for r in ds:
                g = r.get("group") or r.get("case_id") or r.get("problem_id") or r["id"]
                assert split_of_group.setdefault(g, split) == split, f"{g} in two splits ({config})"
    assert set(split_of_group.values()) == {"train", "validation", "test"}
    assert all(split_of(g, 0, (0.5, 0.25, 0.25)) == s for g, s in split_of_group.items())
    # another seed moves groups: the seed is part of the assignment
    assert any(split_of(g, 1, (0.5, 0.25, 0.25)) != s for g, s in split_of_group.items())


def test_empty_splits_are_left_out_of_the_card(tmp_path):
    from huggingface_hub import DatasetCard

    recs = {"problems": [problem(0)], "reasoning": [trace(problem(0))]}
    publish_folder([write_run(tmp_path / "run", recs)], tmp_path / "pub")
    data = DatasetCard.load(tmp_path / "pub" / "README.md").data.to_dict()
    rl = next(c for c in data["configs"] if c["config_name"] == "rl")
    assert len(rl["data_files"]) == 1 and "consultations" not in [c["config_name"] for c in data["configs"]]
    ds = load(tmp_path / "pub", "rl", tmp_path)
    assert list(ds) == [rl["data_files"][0]["split"]] and ds[next(iter(ds))][0]["answer"] == "metformin"


def test_shards_are_size_bounded_and_named_for_the_hub(tmp_path):
    publish_folder([write_run(tmp_path / "run", corpus(n_cases=10))], tmp_path / "pub",
                   {"max_shard_bytes": 4000, "fractions": (1.0, 0.0, 0.0)})  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "pub" / "data" / "consultations").iterdir())
    assert len(names) > 2 and all(
        re.fullmatch(rf"train-\d{{5}}-of-{len(names):05d}\.parquet", n) for n in names
    )
    assert load(tmp_path / "pub", "consultations", tmp_path)["train"].num_rows == 20


def test_card_header_parses_and_body_says_how_it_was_made(tmp_path):
    from huggingface_hub import DatasetCard

    from synth.quality.config import FilterConfig
    from synth.quality.pipeline import run_filter

    run = write_run(tmp_path / "run", corpus())
    filt = asyncio.run(run_filter(run, tmp_path / "filtered", FilterConfig.model_validate(
        {"stages": [{"stage": "exact_dedup"}]}))).out  # fmt: skip
    publish_folder([filt], tmp_path / "pub", {"license": "cc-by-4.0"})
    text = (tmp_path / "pub" / "README.md").read_text()
    c = DatasetCard.load(tmp_path / "pub" / "README.md")
    d = c.data.to_dict()
    assert d["license"] == "cc-by-4.0" and d["language"] == ["en"] and "medical" in d["tags"]
    assert d["task_categories"] == ["text-generation", "question-answering"] and d["size_categories"] == [
        "n<1K"
    ]
    assert {x["config_name"] for x in d["dataset_info"]} == {x["config_name"] for x in d["configs"]}
    assert "not for clinical use" in text.lower()
    assert hashlib.sha256(b"doctor").hexdigest() in text  # prompt template hash
    assert "exact_dedup" in text and "| openai / m-1 |" in text
    pngs = re.findall(r"\]\((plots/[^)]+\.png)\)", text)
    assert any("funnel" in p for p in pngs) and any("scores-" in p for p in pngs)
    assert all((tmp_path / "pub" / p).stat().st_size > 1000 for p in pngs)
    assert str(tmp_path) not in text and str(tmp_path) not in (tmp_path / "pub" / "publish.json").read_text()


def test_a_secret_is_never_published(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_API_KEY", "s3cr3t-value-123")
    run = write_run(tmp_path / "a", corpus(2, 0), config={"teachers": {"x": {"key": "s3cr3t-value-123"}}})
    with pytest.raises(PublishError, match="secret"):
        publish_folder([run], tmp_path / "pub")
    run = write_run(tmp_path / "b", corpus(2, 0), config={"teachers": {"x": {"api_key": "abc"}}})
    with pytest.raises(PublishError, match="api_key"):
        publish_folder([run], tmp_path / "pub")
    assert not (tmp_path / "pub").exists()


def test_incremental_publish_merges_and_keeps_ids_unique(tmp_path):
    a = corpus(6, 4)
    b = corpus(6, 4, offset=3)  # cases/problems 3..5 are in both runs
    pub = tmp_path / "pub"
    publish_folder([write_run(tmp_path / "a", a, "run-a")], pub, {"seed": 5})
    before = {r["id"]: s for s, ds in load(pub, "consultations", tmp_path).items() for r in ds}
    res = publish_folder([write_run(tmp_path / "b", b, "run-b")], pub)  # the stored seed is kept
    assert res.duplicates["consultations"] == 6 and res.added["consultations"] == 6
    after = {r["id"]: s for s, ds in load(pub, "consultations", tmp_path).items() for r in ds}
    assert len(after) == 18 and all(after[i] == s for i, s in before.items())
    for config in ("sft", "dpo", "rl", "cases", "problems", "reasoning"):
        ids = [r["id"] for ds in load(pub, config, tmp_path).values() for r in ds]
        assert len(ids) == len(set(ids)), config
    text = (pub / "README.md").read_text()
    assert "run-a" in text and "run-b" in text and "seed=5" in text
    with pytest.raises(PublishError, match="seed"):
        publish_folder([tmp_path / "b"], pub, {"seed": 6})


def test_cli_publish_and_dry_run(tmp_path):
    run = write_run(tmp_path / "run", corpus(3, 3))
    r = CliRunner().invoke(app, ["publish", str(run), "--to", str(tmp_path / "dry"), "--dry-run",
                                 "--repo-id", "org/name"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "nothing written" in r.output and "README.md" in r.output and not (tmp_path / "dry").exists()
    r = CliRunner().invoke(app, ["publish", str(run), "--to", str(tmp_path / "pub"), "--reasoning", "drop"])
    assert r.exit_code == 0, r.output
    assert "sft:" in r.output and (tmp_path / "pub" / "README.md").exists()
    sft = load(tmp_path / "pub", "sft", tmp_path)
    assert not any("<reasoning>" in m["content"] for ds in sft.values() for r in ds for m in r["messages"])
    r = CliRunner().invoke(app, ["publish", str(tmp_path / "nothing"), "--to", str(tmp_path / "x")])
    assert r.exit_code == 2 and "no data/" in r.output


def test_transient_errors_are_retried_and_others_are_not():
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    def err(code: int) -> HfHubHTTPError:
        return HfHubHTTPError("x", response=httpx2.Response(code, request=httpx2.Request("GET", "http://h")))

    assert is_transient(err(503)) and is_transient(err(429)) and not is_transient(err(404))
    assert is_transient(ConnectionError()) and not is_transient(ValueError())
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise err(502)
        return "ok"

    assert with_retries(flaky, attempts=3, base_delay_s=0, sleep=lambda s: None) == "ok" and len(calls) == 3
    with pytest.raises(HfHubHTTPError):
        with_retries(
            lambda: (_ for _ in ()).throw(err(404)), attempts=3, base_delay_s=0, sleep=lambda s: None
        )


def test_push_to_a_local_hub_stand_in(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "t" * 34)
    pub = tmp_path / "pub"
    publish_folder([write_run(tmp_path / "run", corpus(10, 0))], pub, {"max_shard_bytes": 4000})
    (pub / ".git").mkdir()
    (pub / ".git" / "config").write_text("not uploaded")
    with HubStandIn(token="hf_" + "t" * 34) as hub:
        hub.fail_next["/api/repos/create"] = 1  # one transient failure: retried
        url = push_folder(pub, "org/med", endpoint=hub.url, base_delay_s=0.01)
        repo = hub.repos["org/med"]
        assert repo.private and "/commit/" in url
        assert [c for m, p, c in hub.requests if p == "/api/repos/create"] == [503, 200]
        local = {p: (pub / p).read_bytes() for p, _ in upload_plan(pub)}
        assert repo.files == local and ".git/config" not in repo.files
        # republish with bigger shards: fewer files; the stale shards are deleted from the repo
        publish_folder([tmp_path / "run"], tmp_path / "pub2", {"max_shard_bytes": 2**20})
        push_folder(tmp_path / "pub2", "org/med", endpoint=hub.url)
        assert repo.files == {
            p: (tmp_path / "pub2" / p).read_bytes() for p, _ in upload_plan(tmp_path / "pub2")
        }
        monkeypatch.setenv("HF_TOKEN", "hf_" + "w" * 34)
        with pytest.raises(Exception, match="401"):
            push_folder(pub, "org/med", endpoint=hub.url)


@pytest.mark.slow
def test_trl_trainers_accept_the_sft_and_dpo_configs(tmp_path):
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from schemas.embedded import embedded_model_path

    publish_folder(
        [write_run(tmp_path / "run", corpus(4, 4))], tmp_path / "pub", {"fractions": (1.0, 0.0, 0.0)}
    )
    cons = load(tmp_path / "pub", "consultations", tmp_path)["train"]
    turn = cons.features["turns"].feature  # nested features, not a JSON blob
    assert {"speaker", "act", "text", "reasoning", "ddx"} <= set(turn)
    assert turn["ddx"].feature["probability"].dtype == "float64"
    assert cons.features["evaluation"]["correct"].dtype == "bool"
    assert "record" not in cons.features
    first = cons[0]
    assert first["turns"][1]["speaker"] == "doctor" and first["turns"][1]["ddx"][0]["diagnosis"] == "tb"
    sft = load(tmp_path / "pub", "sft", tmp_path)["train"]
    dpo = load(tmp_path / "pub", "dpo", tmp_path)["train"]
    path = str(embedded_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    common = dict(max_steps=1, per_device_train_batch_size=2, report_to=[], save_strategy="no",
                  logging_steps=1, use_cpu=True, dataloader_num_workers=0)  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(path)
    t = SFTTrainer(model=model, args=SFTConfig(output_dir=str(tmp_path / "sft"), max_length=512, **common),
                   train_dataset=sft, processing_class=tok)  # fmt: skip
    assert t.train().global_step == 1
    model = AutoModelForCausalLM.from_pretrained(path)
    t = DPOTrainer(model=model, args=DPOConfig(output_dir=str(tmp_path / "dpo"), max_length=512, **common),
                   train_dataset=dpo, processing_class=tok)  # fmt: skip
    assert t.train().global_step == 1
