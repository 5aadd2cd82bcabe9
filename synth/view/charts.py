"""The differential over the turns as inline SVG, drawn in Python: no script, no CDN, nothing fetched.

One line per diagnosis (the most probable ones, the hidden answer always among them), x = the doctor turns with
a snapshot, y = the probability the doctor gave it there; an entry absent from a snapshot is drawn at 0 (its
mass is in "other") with no marker, so a marker always means "listed". The hidden answer is the thick red line;
which entries are the answer is decided by the verifier's lexical matcher, and "unsure" is not a match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from schemas.consultation import Consultation, Turn

W, H = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 230, 14, 36
MAX_LINES = 8
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
TRUTH = "#d62728"
TRUTH_KEY = "\x00truth"  # no diagnosis name normalises to this


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def snapshots(c: Consultation) -> list[tuple[int, Turn]]:
    """(1-based doctor turn number, turn) for every doctor turn that carries a differential."""
    out, n = [], 0
    for t in c.turns:
        if t.speaker == "doctor":
            n += 1
            if t.ddx:
                out.append((n, t))
    return out


def ddx_chart(c: Consultation, is_truth: Callable[[str], bool] | None, answer: str | None = None) -> Markup:
    """The chart; entries the matcher calls the hidden answer (however worded) make one line, at each turn the
    most probable of them (the probability the per-turn evaluation scores)."""
    snaps = snapshots(c)
    if not snaps:
        return Markup(
            '<p class="muted" id="ddx-chart-none">No differential snapshot in this consultation.</p>'
        )
    series: dict[str, dict[int, float]] = {}
    label: dict[str, str] = {TRUTH_KEY: answer or "hidden answer"}
    wording: dict[int, str] = {}  # how the doctor named the answer at each snapshot
    for k, (_, t) in enumerate(snaps):
        for d in t.ddx or []:
            truth = is_truth is not None and is_truth(d.diagnosis)
            key = TRUTH_KEY if truth else _key(d.diagnosis)
            label.setdefault(key, d.diagnosis)
            # duplicates within a snapshot (a flagged snapshot): the larger probability is drawn
            if d.probability >= series.get(key, {}).get(k, -1.0):
                series.setdefault(key, {})[k] = d.probability
                if truth:
                    wording[k] = d.diagnosis
    truth_keys = {TRUTH_KEY} & set(series)
    ranked = sorted(series, key=lambda s: (s not in truth_keys, -max(series[s].values()), s))
    shown = ranked[: max(MAX_LINES, len(truth_keys))]
    x = _xs(len(snaps))
    plot_h = H - TOP - BOTTOM

    def y(p: float) -> float:
        return TOP + (1.0 - p) * plot_h

    parts = [
        f'<svg id="ddx-chart" class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="differential probabilities over the doctor turns">'
    ]
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(p):.1f}" y2="{y(p):.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y(p) + 4:.1f}" text-anchor="end" class="tick">{p:.2f}</text>'
        )
    for k, (n, t) in enumerate(snaps):
        parts.append(
            f'<text x="{x[k]:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" class="tick">'
            f"<title>turn {t.index}</title>D{n}</text>"
        )
    parts.append(
        f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 4}" text-anchor="middle" class="axis">doctor turn</text>'
    )
    others = iter(PALETTE)
    colour = {key: TRUTH if key in truth_keys else next(others, "#999999") for key in shown}
    legend_y = TOP + 6
    for key in reversed(shown):  # the truth last, drawn on top
        truth = key in truth_keys
        col = colour[key]
        pts = " ".join(f"{x[k]:.1f},{y(series[key].get(k, 0.0)):.1f}" for k in range(len(snaps)))
        cls = "series truth" if truth else "series"
        name = escape(label[key])
        parts.append(
            f'<g class="{cls}" data-diagnosis="{name}"><title>{name}</title>'
            f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="{4 if truth else 1.8}"/>'
        )
        for k, p in series[key].items():
            parts.append(
                f'<circle cx="{x[k]:.1f}" cy="{y(p):.1f}" r="{4.5 if truth else 3}" fill="{col}">'
                f"<title>{escape(wording.get(k, label[key]))}: {p:.2f} at D{snaps[k][0]}</title></circle>"
            )
        parts.append("</g>")
    for key in shown:
        truth = key in truth_keys
        col = colour[key]
        text = ("\u2605 " if truth else "") + _short(label[key])
        parts.append(
            f'<rect x="{W - RIGHT + 12}" y="{legend_y - 9}" width="12" height="12" fill="{col}"/>'
            f'<text x="{W - RIGHT + 30}" y="{legend_y + 1}" class="legend{" truth" if truth else ""}">'
            f"{escape(text)}</text>"
        )
        legend_y += 18
    if is_truth is not None and not truth_keys:
        parts.append(
            f'<text x="{W - RIGHT + 12}" y="{legend_y + 6}" class="legend truth">'
            "\u2605 hidden answer: never listed</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _xs(n: int) -> Sequence[float]:
    span = W - LEFT - RIGHT - 24
    if n == 1:
        return [LEFT + 12 + span / 2]
    return [LEFT + 12 + span * k / (n - 1) for k in range(n)]


def _short(s: str, n: int = 30) -> str:
    return s if len(s) <= n else s[: n - 1] + "\u2026"
