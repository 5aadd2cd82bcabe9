"""Shipped seed cases: hand-written CaseCards under datasets/seeds/cases/, one JSONL file per specialty.

Every line is one CaseCard. A bad line stops loading with the file, the line number and the pydantic field path,
so a broken seed file is fixed where it is rather than silently skipped.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from schemas.case import CaseCard
from synth.resources import resource_dir


def seeds_dir() -> Path:
    return resource_dir("datasets/seeds") / "cases"


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def load_seed_cases(specialties: list[str] | None = None, root: Path | None = None) -> list[CaseCard]:
    """All seed cards in `root` (default: the shipped folder), files in sorted order, optionally by specialty."""
    # Shipped files are named as they sit in the repository, whether read from a checkout or a wheel.
    prefix = "datasets/seeds/cases/" if root is None else f"{root}/"
    root = root or seeds_dir()
    wanted = {s.lower() for s in specialties} if specialties else None
    cards: list[CaseCard] = []
    for path in sorted(root.glob("*.jsonl")):
        where = prefix + path.name
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                card = CaseCard.model_validate_json(line)
            except ValidationError as e:
                raise ValueError(f"{where}:{n}: {_first_error(e)}") from e
            if wanted is None or (card.specialty or "").lower() in wanted:
                cards.append(card)
    return cards
