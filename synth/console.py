"""The Rich console every table of the CLI prints to: wide enough in a log that no name is cut.

On a terminal Rich measures the window. Written to a file, a pipe or CI's log it assumes 80 columns and shortens
cells to fit ("defau…", "SmolL…"), which loses exactly what the reader came for. A log has no width to respect,
so tables there get room for their longest cells; a COLUMNS variable set by the user still wins.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

LOG_WIDTH = 200


def make_console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(stderr=stderr, width=LOG_WIDTH)
