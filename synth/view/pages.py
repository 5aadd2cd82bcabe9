"""One HTML page per record, from the jinja2 templates beside this module (autoescaped: all text is escaped).

Each renderer takes one record and the few facts the viewer learnt from the tables streamed before it (a case's
hidden answer, a problem's traces); nothing here holds more than the record it renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from schemas.case import CaseCard
from schemas.consultation import Consultation, DDxItem
from schemas.problem import ReasoningTrace, SearchStep, VerifiableProblem
from synth.view.charts import ddx_chart
from synth.view.source import Item

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class CaseInfo:
    """What a consultation page needs from its hidden card: kept for every card while streaming (small)."""

    specialty: str | None
    diagnosis: str
    aliases: tuple[str, ...]
    href: str | None  # the card's own page, when the folder holds the card


@lru_cache(maxsize=1)
def env() -> Any:
    import jinja2

    e = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return e


def render(template: str, **ctx: Any) -> str:
    return str(env().get_template(template).render(**ctx))


@lru_cache(maxsize=65536)
def _matches(name: str, gold: str, aliases: tuple[str, ...]) -> bool:
    from schemas.matching.verdict import verify_lexical

    # only "match" counts; "unsure" never highlights an entry as the answer
    return verify_lexical(name, gold, list(aliases)).correct is True


def _truth_matcher(info: CaseInfo | None) -> Any:
    """name -> is it the hidden answer; cached across pages (a corpus repeats its diagnosis names)."""
    if info is None:
        return None
    return lambda name: _matches(name, info.diagnosis, info.aliases)


def _verdict(correct: bool | None) -> tuple[str, str]:
    if correct is True:
        return "correct", "ok"
    if correct is False:
        return "incorrect", "bad"
    return "unsure (no verdict)", "unsure"


def consultation_page(c: Consultation, item: Item, info: CaseInfo | None, **base: Any) -> str:
    is_truth = _truth_matcher(info)
    per_turn = {s.turn: s for s in c.evaluation.per_turn}
    rows = []
    for t in c.turns:
        ddx: list[tuple[DDxItem, bool]] = [
            (d, bool(is_truth and is_truth(d.diagnosis))) for d in (t.ddx or [])
        ]
        rows.append({"turn": t, "ddx": ddx, "score": per_turn.get(t.index)})
    tests = []
    for k, t in enumerate(c.turns):
        if t.speaker == "doctor" and t.tests_requested:
            nxt = next((u for u in c.turns[k + 1 : k + 3] if u.speaker == "examiner"), None)
            tests.append((t.index, t.tests_requested, nxt.text if nxt else None))
    text, cls = _verdict(c.evaluation.correct)
    return render(
        "consultation.html",
        title=f"consultation {c.id}",
        c=c,
        item=item,
        rows=rows,
        tests=tests,
        chart=ddx_chart(c, is_truth, info.diagnosis if info else None),
        specialty=info.specialty if info else None,
        answer=info.diagnosis if info else None,
        aliases=list(info.aliases) if info else [],
        case_href=("../" + info.href) if info and info.href else None,
        verdict_text=text,
        verdict_class=cls,
        **base,
    )


def _attempts(steps: list[SearchStep]) -> list[tuple[int, list[SearchStep]]]:
    by: dict[int, list[SearchStep]] = {}
    for s in steps:
        by.setdefault(s.attempt, []).append(s)
    return [(a, sorted(v, key=lambda s: s.iteration)) for a, v in sorted(by.items())]


def decisive_step(r: ReasoningTrace) -> SearchStep | None:
    """The step that decided the trace: the first verified one, else the last step searched."""
    return next((s for s in r.steps if s.verdict == "true"), r.steps[-1] if r.steps else None)


def trace_page(r: ReasoningTrace, item: Item, problem_href: str | None, **base: Any) -> str:
    return render(
        "trace.html",
        title=f"trace {r.id}",
        r=r,
        item=item,
        attempts=_attempts(r.steps),
        decisive=decisive_step(r),
        problem_href=problem_href,
        **base,
    )


def problem_page(p: VerifiableProblem, item: Item, traces: list[tuple[str, str, bool]], **base: Any) -> str:
    return render("problem.html", title=f"problem {p.id}", p=p, item=item, traces=traces, **base)


def case_page(k: CaseCard, item: Item, **base: Any) -> str:
    return render("case.html", title=f"case {k.id}", k=k, item=item, **base)
