"""PHI scrubbing over the Safe Harbor classes: each new class, the clinical allow-list against the model
engine, consistent surrogates, running offline, the publish refusal and the import hook."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from schemas.problem import VerifiableProblem
from synth.quality.phi import Surrogates, find_phi, scrub_text
from synth.quality.phi_publish import PhiLeakError, check_publishable

ENGINES = ["rules", "combined"]


def found(text: str, engine: str = "combined") -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_phi(text, engine=engine)]  # type: ignore[arg-type]


# one per Safe Harbor class the first rule set missed (the probe failures among them)
NEW_CLASSES = [
    ("Admitted on 03/14/2021 with chest pain.", "date", "03/14/2021"),
    ("Discharged on 2021-03-19.", "date", "2021-03-19"),
    ("Follow-up booked for March 22nd.", "date", "March 22nd"),
    ("Seen again on the 4th of June 2020.", "date", "4th of June 2020"),
    ("Last reviewed on 3/14 by the team.", "date", "3/14"),
    ("A 93-year-old woman with a hip fracture.", "age", "93"),
    ("He is aged 101 and lives alone.", "age", "101"),
    ("Results on https://portal.example-health.com/p/10293 tonight.", "url", "https://portal.example-health.com/p/10293"),
    ("See www.riversideclinic.org/leaflets for advice.", "url", "www.riversideclinic.org/leaflets"),
    ("The upload came from 192.168.14.201 yesterday.", "ip", "192.168.14.201"),
    ("Transferred from St. Jude Hospital overnight.", "location", "St. Jude Hospital"),
    ("She lives in Fresno with her husband.", "location", "Fresno"),
    ("Seen by nurse practitioner Maria Lopez in clinic.", "name", "Maria Lopez"),
    ("Discussed with the attending, John Whitfield, who agreed.", "name", "John Whitfield"),
    ("Pacemaker serial number PX88231A was checked.", "id", "PX88231A"),
    ("VIN 1HGCM82633A004352 was noted by police.", "id", "1HGCM82633A004352"),
    ("Licence number D1234567 on the form.", "id", "D1234567"),
    ("Health plan number XK4410923 is on file.", "id", "XK4410923"),
    ("Street: 12 Mill Close, Great Ayton.", "address", "12 Mill Close, Great Ayton"),
]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("text", "kind", "span"), NEW_CLASSES)
def test_finds_every_safe_harbor_class(text: str, kind: str, span: str, engine: str) -> None:
    assert (kind, span) in found(text, engine)


# medicine that must never be scrubbed, by class; the model engine alone took several of these for PHI
ALLOWED = [
    "Graves disease was diagnosed after a suppressed TSH.",  # eponym the model reads as a person
    "Bell's palsy, a positive Murphy sign and a Babinski response.",
    "Parkinson disease on levodopa; Cheyne-Stokes breathing overnight.",
    "Started apixaban 5 mg bd and Jardiance 10 mg daily.",  # drugs, doses
    "Lasix 40 mg IV, metoprolol 25 mg.",
    "BP 168/92, HR 88, SpO2 94% on air, temperature 38.9 °C.",  # vitals
    "GCS 14/15, Wells score 4, CURB-65 of 2, a 2/6 systolic murmur.",  # scores
    "Pain for 3 hours; a seizure lasting 1 and 5 minutes; fever since yesterday.",  # durations
    "Fever, jaundice and kidney injury after travel to West Africa.",  # regions above state level
    "Widespread ST elevation in V2-V6 with PR depression; JVP not raised.",  # ECG leads, signs
    "Symptoms began in 2019; he was 58 years old.",  # a year and an age under 90 are allowed
]


@pytest.mark.parametrize("text", ALLOWED)
def test_allow_list_keeps_medicine(text: str) -> None:
    assert found(text, "combined") == []


def test_presidio_alone_is_filtered_too() -> None:
    # "Graves disease" as a person and "3 hours" as a date were the model's damage in the probe
    assert found("Graves disease; pain for 3 hours, 1 and 5 minutes.", "presidio") == []
    assert ("name", "Maria Lopez") in found("Seen by Maria Lopez today.", "presidio")


def test_same_identifier_same_surrogate_within_a_document() -> None:
    sur = Surrogates()
    a, _ = scrub_text("Dr. Maria Lopez saw her; call (415) 555-0100.", engine="rules", surrogates=sur)
    b, _ = scrub_text("Dr. Maria  Lopez agreed; Dr. Chen disagreed.", engine="rules", surrogates=sur)
    assert a == "[NAME_1] saw her; call [PHONE_1]."
    assert b == "[NAME_1] agreed; [NAME_2] disagreed."
    # a new document starts its own numbering
    c, _ = scrub_text("Dr. Chen agreed.", engine="rules")
    assert c == "[NAME_1] agreed."


def test_model_engine_never_opens_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presidio's email recogniser calls tldextract, which downloads a suffix list unless told not to."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    spans = found("Write to maria.lopez@example.co.uk or see https://example.org/x.", "presidio")
    assert ("email", "maria.lopez@example.co.uk") in spans


# ------------------------------------------------------------------------------------------------ publish


def test_publish_refuses_a_record_with_an_identifier() -> None:
    clean = VerifiableProblem(
        question="Potassium 6.1 mmol/L with peaked T waves: first drug?", ground_truth="calcium"
    )
    leaky = VerifiableProblem(
        question="Mrs. Alvarez, MRN 44109823, has a TSH of 0.01 mU/L.", ground_truth="Graves"
    )
    assert check_publishable({"problems": {clean.id: clean}}) == []
    with pytest.raises(PhiLeakError) as err:
        check_publishable({"problems": {clean.id: clean, leaky.id: leaky}})
    message = str(err.value)
    assert f"problems record {leaky.id}: name in question" in message
    assert f"problems record {leaky.id}: id in question" in message
    assert "Alvarez" not in message and "44109823" not in message  # the error is safe to log
    assert clean.id not in message
    # the explicit override returns the findings instead
    found_ = check_publishable({"problems": {leaky.id: leaky}}, allow=True)
    assert {(t, r, k) for t, r, _, k in found_} == {
        ("problems", leaky.id, "name"),
        ("problems", leaky.id, "id"),
    }


def test_publish_error_is_a_publish_error() -> None:
    from synth.publish.options import PublishError

    assert issubclass(PhiLeakError, PublishError)


# ------------------------------------------------------------------------------------------------- import


def test_import_scrubs_the_card_before_it_is_written(tmp_path: Path) -> None:
    import json

    from synth.cases.importers import import_cases

    row = {
        "question": (
            "A 67-year-old man seen by nurse practitioner Maria Lopez at St. Jude Hospital on 03/14/2021 has "
            "crushing central chest pain for 2 hours with ST elevation in II, III and aVF. What is the diagnosis?"
        ),
        "options": {
            "A": "Inferior myocardial infarction",
            "B": "Pericarditis",
            "C": "Aortic dissection",
            "D": "GORD",
        },
        "answer": "Inferior myocardial infarction",
        "answer_idx": "A",
    }
    path = tmp_path / "medqa.jsonl"
    path.write_text(json.dumps(row) + "\n")
    result = import_cases(path, "medqa")
    assert len(result.cards) == 1, result.skips
    dumped = result.cards[0].model_dump_json()
    assert "Maria" not in dumped and "Jude" not in dumped and "03/14/2021" not in dumped
    assert "[NAME_1]" in dumped and "[LOCATION_1]" in dumped and "[DATE_1]" in dumped
    assert "ST elevation" in dumped and "2 hours" in dumped


def test_publish_folder_refuses_and_writes_nothing(tmp_path: Path) -> None:
    from synth.publish import publish_folder
    from tests.test_publish import corpus, prov, write_run

    recs = corpus(n_cases=2, n_problems=2)
    leaky = VerifiableProblem(
        question="Mrs. Alvarez, MRN 44109823, has a TSH of 0.01 mU/L. Diagnosis?",
        ground_truth="Graves disease",
        provenance=prov("problem_rewrite"),
    )
    recs["problems"].append(leaky)
    run = write_run(tmp_path / "run", recs)
    with pytest.raises(PhiLeakError, match=f"problems record {leaky.id}: name in question"):
        publish_folder([run], tmp_path / "pub")
    assert not (tmp_path / "pub").exists()
    # the explicit override publishes, and publish.json records it with the other options
    publish_folder([run], tmp_path / "pub", {"allow_phi": True})
    state = (tmp_path / "pub" / "publish.json").read_text()
    assert '"allow_phi": true' in state
