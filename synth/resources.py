"""Locate shipped data (prompts/, datasets/seeds/) in a checkout and in an installed wheel alike.

In a wheel they are force-included under synth/_resources/; in a checkout (or an editable install) they sit at
the repository root, beside synth/.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """`name` is 'prompts' or 'datasets/seeds'."""
    for candidate in (_PKG / "_resources" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped resource folder {name!r} not found (looked beside and inside synth/)")
