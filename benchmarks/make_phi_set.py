"""Build the PHI evaluation sets: synthetic identifiers of every Safe Harbor class injected into clinical text.

Carriers are the sentences of the shipped seed cases and MCQs (clinical text this script did not write) and
consultation-style turns; identifiers come from templates per class filled from surrogate pools (names,
places, facilities, numbers made up here). Every sentence records its gold spans with their kind.

Two parts, disjoint in everything a scrubber could be fitted to: the development part (`phi_gen_dev.jsonl`)
and the held-out part (`phi_gen_heldout.jsonl`) use different templates, different name / place / facility
pools, different carrier sentences (seed files split by specialty) and different random seeds. The held-out
part is generated in the same run but is measured once, at the end, never while the rules are tuned.

Clean rows (no gold span) measure damage: seed sentences as they are, and hand-written hard negatives of the
classes that must never be touched (eponyms, drugs, doses, vitals, scores, durations), each labelled with
its class.

Run from the repository root: python benchmarks/make_phi_set.py   (deterministic; rewrites both files)
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "datasets" / "seeds"
OUT = ROOT / "benchmarks" / "data"

# ------------------------------------------------------------------------------ pools (dev | held-out)
FIRST = (
    [
        "Maria",
        "James",
        "Aisha",
        "Tomasz",
        "Priya",
        "Oluwaseun",
        "Emily",
        "Liam",
        "Chen",
        "Fatima",
        "Diego",
        "Hannah",
        "Kwame",
        "Sofia",
        "Raj",
        "Ingrid",
    ],
    [
        "Elena",
        "Marcus",
        "Yusuf",
        "Agnieszka",
        "Deepa",
        "Chinedu",
        "Grace",
        "Owen",
        "Wei",
        "Leila",
        "Mateo",
        "Clara",
        "Kofi",
        "Lucia",
        "Arjun",
        "Freya",
    ],
)
LAST = (
    [
        "Lopez",
        "Whitfield",
        "Okafor",
        "Kowalski",
        "Sharma",
        "Adeyemi",
        "Thornton",
        "Byrne",
        "Zhang",
        "Haddad",
        "Moreno",
        "Fischer",
        "Mensah",
        "Rossi",
        "Patel",
        "Lindqvist",
    ],
    [
        "Vasquez",
        "Pemberton",
        "Nwosu",
        "Nowak",
        "Iyer",
        "Eze",
        "Hollister",
        "Doyle",
        "Liang",
        "Mansour",
        "Herrera",
        "Becker",
        "Asante",
        "Romano",
        "Kapoor",
        "Sandberg",
    ],
)
CITY = (
    ["Fresno", "Leeds", "Tucson", "Swindon", "Dayton", "Little Snoring", "Bakersfield", "Norwich"],
    ["Modesto", "Bradford", "Spokane", "Reading", "Akron", "Great Ayton", "Stockton", "Exeter"],
)
STREET = (
    ["Church Lane", "Maple Avenue", "Station Road", "Oak Street", "Mill Close", "Elm Drive"],
    ["Chapel Row", "Cedar Boulevard", "Victoria Road", "Pine Street", "Orchard Way", "Birch Court"],
)
FACILITY = (
    ["St. Jude Hospital", "Riverside General Hospital", "Mercy Medical Center", "Lakeside Clinic"],
    [
        "St. Agnes Hospital",
        "Northgate Community Hospital",
        "Hillcrest Medical Centre",
        "Brookfield Infirmary",
    ],
)
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

# ------------------------------------------------------------------------------ templates (dev | held-out)
# `{x:kind}` marks an identifier slot; the value comes from VALUE[kind](rng, part).
TEMPLATES: dict[str, tuple[list[str], list[str]]] = {
    "name": (
        ["Seen by nurse practitioner {n:name}.", "Mrs {l:name} attended with her son.",
         "My name is {n:name} and I look after my mum.", "Discussed with the attending, {n:name}, who agreed.",
         "Patient {n:name}, aged 54, presented to clinic."],
        ["Reviewed by {n:name} on the ward round.", "Dr. {l:name} was informed.",
         "Hi, I'm {n:name}, the on-call registrar.", "Her daughter {f:name} will collect her.",
         "Signed by {n:name}, consultant."],
    ),
    "phone": (
        ["Call me on {p:phone} after 4 pm.", "Fax the letter to {p:phone}."],
        ["Her mobile is {p:phone}.", "You can reach the family on {p:phone}."],
    ),
    "email": (["Results were sent to {e:email}."], ["Please email {e:email} with the letter."]),
    "address": (
        ["She lives at {a:address}.", "Home address: {a:address}."],
        ["Discharged home to {a:address}.", "Correspondence to {a:address}."],
    ),
    "location": (
        ["Transferred from {fac:location}.", "He lives in {c:location} with his wife."],
        ["Admitted to {fac:location} last year.", "She moved to {c:location} in the spring."],
    ),
    "id": (
        ["MRN {mrn:id}.", "SSN {ssn:id} on file.", "Insurance member ID {mem:id}.",
         "Pacemaker serial number {ser:id}.", "Account number {acct:id}."],
        ["Hospital number {mrn:id}.", "Social security number {ssn:id}.", "Health plan number {mem:id}.",
         "VIN {vin:id} recorded after the crash.", "Licence number {lic:id}."],
    ),
    "dob": (["DOB {d:dob}."], ["Date of birth {d:dob}."]),
    "date": (
        ["Admitted on {d:date}.", "Last seen in clinic on {w:date}."],
        ["Discharged {d:date}.", "Follow-up booked for {w:date}."],
    ),
    "age": (["A {ag:age}-year-old woman."], ["He is aged {ag:age}."]),
    "url": (["Portal: {u:url}"], ["Leaflet at {u:url} was given."]),
    "ip": (["Uploaded from {ip:ip}."], ["Login from {ip:ip} flagged."]),
}  # fmt: skip

# ------------------------------------------------------------------------------ hard negatives by class
HARD_NEGATIVES: dict[str, list[str]] = {
    "eponym": [
        "Graves disease is the likely cause of the thyrotoxicosis.", "Bell's palsy affects the facial nerve.",
        "Murphy sign was positive on palpation.", "Crohn disease with ileal involvement.",
        "Parkinson disease treated with levodopa.", "Kernig and Brudzinski signs were negative.",
        "A Babinski response was elicited on the left.", "Wernicke encephalopathy needs thiamine first.",
        "Cushing syndrome from exogenous steroids.", "Raynaud phenomenon in cold weather.",
        "Hashimoto thyroiditis with raised TPO antibodies.", "Guillain-Barré syndrome after a diarrhoeal illness.",
        "Addison disease presents with hyperpigmentation.", "Kawasaki disease in a 3-year-old.",
        "Wilson disease with Kayser-Fleischer rings.", "Barrett oesophagus on endoscopy.",
    ],
    "drug": [
        "Started apixaban 5 mg twice daily.", "Metoprolol was increased to 50 mg.", "Give furosemide 40 mg IV.",
        "Lasix was held overnight.", "Continue atorvastatin and ramipril.", "Augmentin for seven days.",
        "Sertraline 50 mg once daily.", "Ceftriaxone 2 g IV stat.", "Levothyroxine 100 micrograms daily.",
        "Rivaroxaban was switched to warfarin.", "Pembrolizumab cycle 3 given.", "Empagliflozin added.",
    ],
    "dose": [
        "Paracetamol 1 g four times a day.", "Insulin 10 units at night.", "Potassium 40 mmol over 4 hours.",
        "Prednisolone 40 mg for 5 days.", "Morphine 2.5 mg as required.", "Heparin 5000 units subcutaneously.",
    ],
    "vitals": [
        "BP 120/80, HR 88, RR 18, SpO2 94% on air.", "Temperature 38.9 °C, pulse 112 bpm.",
        "Blood pressure 182/104 mmHg.", "Sats 91% on 2 L oxygen.", "Heart rate 44, BP 90/60.",
    ],
    "score": [
        "GCS 14/15 on arrival.", "Wells score 4, so a CTPA was requested.", "CURB-65 of 3.",
        "CHA2DS2-VASc 4 and HAS-BLED 2.", "Apgar 9 at 5 minutes.", "NIHSS 12 at presentation.",
        "Gleason 3+4 on biopsy.", "A 2/6 systolic murmur at the apex.", "Centor score 3.",
    ],
    "duration": [
        "Pain for 3 hours.", "Seizure lasting 1 and 5 minutes.", "Symptoms for 2 weeks.",
        "Fever since yesterday.", "Vomiting for 48 hours.", "Cough for six months.",
        "Headache on and off for 2 years.", "He was on day 3 of antibiotics.",
    ],
}  # fmt: skip


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _value(kind: str, slot: str, rng: random.Random, part: int) -> str:
    first, last = rng.choice(FIRST[part]), rng.choice(LAST[part])
    if slot == "n":
        return f"{first} {last}"
    if slot in ("l", "f"):
        return last if slot == "l" else first
    if slot == "p":
        return rng.choice(
            [f"({_digits(rng, 3)}) 555-{_digits(rng, 4)}", f"07700 900{_digits(rng, 3)}",
             f"+1 415 555 {_digits(rng, 4)}", f"{_digits(rng, 3)}-555-{_digits(rng, 4)}"]
        )  # fmt: skip
    if slot == "e":
        return f"{first.lower()}.{last.lower()}@{rng.choice(['mail.com', 'example.org', 'nhs.net'])}"
    if slot == "a":
        n = rng.randint(2, 250)
        return f"{n} {rng.choice(STREET[part])}, {rng.choice(CITY[part])}"
    if slot == "c":
        return rng.choice(CITY[part])
    if slot == "fac":
        return rng.choice(FACILITY[part])
    if slot == "d":
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1931, 2024)
        return rng.choice(
            [f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}", f"{day} {MONTHS[month - 1]} {year}",
             f"{MONTHS[month - 1]} {day}, {year}"]
        )  # fmt: skip
    if slot == "w":
        day, month = rng.randint(1, 28), rng.randint(1, 12)
        return rng.choice(
            [f"{MONTHS[month - 1]} {day}", f"{day}th of {MONTHS[month - 1]}", f"{month}/{day}/24"]
        )
    if slot == "ag":
        return str(rng.randint(90, 104))
    if slot == "u":
        return rng.choice([f"https://portal.{last.lower()}health.com/p/{_digits(rng, 5)}",
                           f"www.{last.lower()}clinic.org/records"])  # fmt: skip
    if slot == "ip":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if slot == "mrn":
        return _digits(rng, 8)
    if slot == "ssn":
        return f"{_digits(rng, 3)}-{_digits(rng, 2)}-{_digits(rng, 4)}"
    if slot in ("mem", "acct"):
        return f"{rng.choice(['XK', 'QH', 'MB'])}{_digits(rng, 7)}"
    if slot in ("ser", "vin", "lic"):
        return f"{rng.choice(['PX', 'J1', 'D'])}{_digits(rng, 6)}{rng.choice('ABCDEF')}"
    raise KeyError(slot)


def _fill(template: str, rng: random.Random, part: int) -> tuple[str, list[dict[str, Any]]]:
    out, spans, pos = "", [], 0
    for m in re.finditer(r"\{(\w+):(\w+)\}", template):
        out += template[pos : m.start()]
        value = _value(m.group(2), m.group(1), rng, part)
        spans.append({"start": len(out), "end": len(out) + len(value), "kind": m.group(2)})
        out += value
        pos = m.end()
    return out + template[pos:], spans


def _carriers(part: int) -> list[str]:
    """Seed sentences: cases of even-indexed specialties for dev, odd for held-out; MCQ halves likewise."""
    texts: list[str] = []
    for i, path in enumerate(sorted((SEEDS / "cases").glob("*.jsonl"))):
        if i % 2 == part:
            texts += _strings_of(path)
    mcqs = _strings_of(SEEDS / "mcqs" / "medqa_style.jsonl")
    texts += mcqs[part::2]
    sents = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t)]
    return sorted({s for s in sents if 25 <= len(s) <= 220})


def _strings_of(path: Path) -> list[str]:
    out: list[str] = []

    def walk(v: Any, key: str = "") -> None:
        if key == "id" or key.endswith("_id"):
            return
        if isinstance(v, str) and " " in v:
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, str(k))
        elif isinstance(v, list):
            for x in v:
                walk(x, key)

    for line in path.read_text().splitlines():
        if line.strip():
            walk(json.loads(line))
    return out


def build(part: int, n_positive: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    carriers = _carriers(part)
    rows: list[dict[str, Any]] = []
    name = ("dev", "heldout")[part]
    kinds = sorted(TEMPLATES)
    for i in range(n_positive):
        kind = kinds[i % len(kinds)]
        clause, spans = _fill(rng.choice(TEMPLATES[kind][part]), rng, part)
        carrier = rng.choice(carriers)
        if rng.random() < 0.5:
            text, shift = f"{carrier} {clause}", len(carrier) + 1
        else:
            text, shift = f"{clause} {carrier}", 0
        spans = [{**s, "start": s["start"] + shift, "end": s["end"] + shift} for s in spans]
        rows.append({"id": f"gen-{name}-{i:05d}", "text": text, "spans": spans, "class": kind})
    for j, carrier in enumerate(carriers):
        rows.append({"id": f"gen-{name}-clean-{j:05d}", "text": carrier, "spans": [], "class": "seed"})
    for cls, sents in HARD_NEGATIVES.items():
        for k, s in enumerate(sents[part::2]):
            rows.append({"id": f"gen-{name}-{cls}-{k:03d}", "text": s, "spans": [], "class": cls})
    return rows


def main() -> None:
    for part, seed, n in ((0, 1601, 2200), (1, 1607, 2200)):
        rows = build(part, n, seed)
        path = OUT / f"phi_gen_{('dev', 'heldout')[part]}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"{path.name}: {len(rows)} rows, {sum(len(r['spans']) for r in rows)} spans")


if __name__ == "__main__":
    main()
