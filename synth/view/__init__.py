"""A static viewer over a run, a filter output or a published folder: `synth view OUT/ --html DIR`.

The site works from file:// with no server and no network: an index with client-side filters and paging over a
compact per-record index split into script chunks, and a page per consultation, reasoning trace, problem and
case card (see build.py for the layout).
"""

from synth.view.build import ViewResult, build_site
from synth.view.source import ViewError

__all__ = ["ViewError", "ViewResult", "build_site"]
