"""Draw case specifications: specialty × chief complaint × age/sex × acuity × common/rare → target diagnosis.

Deterministic: spec i of a run depends only on the seed, i and the table, so a rerun draws the same cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from synth.cases.config import SamplerConfig
from synth.resources import resource_dir


@dataclass(frozen=True)
class CaseSpec:
    specialty: str
    complaint: str
    diagnosis: str
    aliases: tuple[str, ...]
    prevalence: str  # common | rare
    acuity: str
    age: int
    sex: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "specialty": self.specialty,
            "complaint": self.complaint,
            "diagnosis": self.diagnosis,
            "aliases": list(self.aliases),
            "prevalence": self.prevalence,
            "acuity": self.acuity,
            "age": self.age,
            "sex": self.sex,
        }


class SamplerTableError(ValueError):
    pass


def load_table(path: str | None) -> dict[str, Any]:
    p = Path(path) if path else resource_dir("datasets/seeds") / "case_sampler.yaml"
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SamplerTableError(f"{p}: cannot read sampler table: {e}") from e
    for key in ("age_bands", "acuities", "specialties"):
        if key not in data:
            raise SamplerTableError(f"{p}: missing key {key!r}")
    for spec, complaints in data["specialties"].items():
        for complaint, groups in complaints.items():
            for prevalence in ("common", "rare"):
                for entry in groups.get(prevalence, []):
                    if "dx" not in entry:
                        raise SamplerTableError(
                            f"{p}: specialties.{spec}.{complaint}.{prevalence}: entry without dx"
                        )
    return data


class CaseSampler:
    def __init__(self, cfg: SamplerConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        table = load_table(cfg.table)
        specialties = table["specialties"]
        if cfg.specialties:
            unknown = sorted(set(cfg.specialties) - set(specialties))
            if unknown:
                raise SamplerTableError(f"unknown specialties {unknown}; the table has {sorted(specialties)}")
            specialties = {k: v for k, v in specialties.items() if k in cfg.specialties}
        self.specialties = specialties
        self.age_bands = table["age_bands"]
        self.acuities = table["acuities"]

    def spec(self, i: int) -> CaseSpec:
        rng = random.Random(f"{self.seed}:{i}")
        specialty = rng.choice(sorted(self.specialties))
        complaint = rng.choice(sorted(self.specialties[specialty]))
        groups = self.specialties[specialty][complaint]
        want_rare = rng.random() < self.cfg.rare_fraction
        prevalence = "rare" if (want_rare and groups.get("rare")) or not groups.get("common") else "common"
        entry = rng.choice(groups[prevalence])
        lo, hi = rng.choice(self.age_bands)
        sex = rng.choice(self.cfg.sexes)
        if specialty == "obstetrics and gynecology":
            sex = "female"
            lo, hi = min(lo, 35), min(hi, 45)
        return CaseSpec(
            specialty=specialty,
            complaint=complaint,
            diagnosis=entry["dx"],
            aliases=tuple(entry.get("aliases", [])),
            prevalence=prevalence,
            acuity=rng.choice(self.acuities),
            age=rng.randint(lo, hi),
            sex=sex,
        )
