"""Pictures for the admin console, drawn on the server as inline SVG (no script, no chart library).

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says in words what
it shows; the page keeps the same numbers as text (a table) next to it. Colours are the console's.
Text in the SVG is escaped; nothing here reads the store: callers pass plain values in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from bridge.store.base import KeyRecord

WIDTH = 420  # viewBox units: a phone shows the 13-unit text at about 11 px, a desktop (32rem wide) at 16 px
ISSUED, REFUSED, AXIS, MUTED = "#0b5cad", "#b3261e", "#9aa7b5", "#5b6878"
PHASE_COLOURS = {"generated": "#c5ced8", "published": "#e0a100", "active": "#1f8a3b", "retiring": "#d46a00",
                 "retired": "#8d99a6"}
PHASE_NAMES = {"generated": "generated (not published)", "published": "published, not signing",
               "active": "active (signs)", "retiring": "retiring (published)", "retired": "retired"}


def _svg(chart_id: str, width: int, height: int, title: str, desc: str, body: Iterable[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="system-ui,sans-serif" font-size="13">'
            f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every text above went through escape())


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> str:
    tooltip = f"<title>{escape(tip)}</title>" if tip else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}">'
            f"{tooltip}</rect>")


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = MUTED, weight: str = "") -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{bold}>{escape(text)}</text>'


# --- sign-ins per hour ----------------------------------------------------------------------------
def hourly_chart(hours: Sequence[tuple[str, int, int]]) -> Markup:
    """Bars of assertions issued (and refused, stacked) per hour; ``hours`` as from views.logins_per_hour."""
    width, height, left, top, bottom = WIDTH, 180, 30, 12, 30
    plot_w, plot_h = width - left - 8, height - top - bottom
    peak = max([issued + refused for _label, issued, refused in hours] + [1])
    step = plot_w / max(len(hours), 1)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="{AXIS}"/>',
            _text(left - 4, top + 8, str(peak), anchor="end"), _text(left - 4, top + plot_h, "0", anchor="end")]
    for i, (label, issued, refused) in enumerate(hours):
        x = left + i * step + step * 0.15
        bar_w = step * 0.7
        issued_h, refused_h = plot_h * issued / peak, plot_h * refused / peak
        tip = f"{label} UTC: {issued} issued, {refused} refused"
        body.append(_rect(x, top + plot_h - issued_h, bar_w, issued_h, ISSUED, tip))
        if refused:
            body.append(_rect(x, top + plot_h - issued_h - refused_h, bar_w, refused_h, REFUSED, tip))
        if i % 6 == 0 or i == len(hours) - 1:  # the last label ends at the bar, so it is never cut off
            last = i == len(hours) - 1
            body.append(_text(x + bar_w if last else x + bar_w / 2, height - 12, label[-5:],
                              anchor="end" if last else "middle"))
    total, refused_total = sum(h[1] for h in hours), sum(h[2] for h in hours)
    busiest = max(hours, key=lambda h: h[1]) if hours else None
    desc = f"{total} assertions issued and {refused_total} sign-ins refused in the last {len(hours)} hours"
    if busiest and busiest[1]:
        desc += f"; the busiest hour was {busiest[0]} UTC with {busiest[1]} issued"
    return _svg("hours-chart", width, height, "Sign-ins per hour, last 24 hours (UTC)", desc + ".", body)


# --- key lifetimes --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: datetime
    end: datetime


def key_phases(record: KeyRecord, *, now: datetime) -> list[Phase]:
    """The spans a key has spent in each state, up to now (bridge.keys.lifecycle's timestamps)."""
    marks = [("generated", record.created_at), ("published", record.published_at),
             ("active", record.activated_at), ("retiring", record.retiring_at), ("retired", record.retired_at)]
    reached = [(name, at) for name, at in marks if at is not None]
    phases = []
    for (name, start), following in zip(reached, [*reached[1:], (None, None)], strict=True):
        end = following[1] or now
        if end > start:
            phases.append(Phase(name, start, end))
    return phases


def _window(keys: Sequence[tuple[KeyRecord, datetime]], now: datetime) -> tuple[datetime, datetime]:
    """From the oldest key's creation (at most a year back) to the last expiry (at most three years on)."""
    start = min([r.created_at for r, _ in keys] + [now - timedelta(days=7)])
    start = max(start, now - timedelta(days=365))
    end = max([expiry for _, expiry in keys] + [now + timedelta(days=30)])
    return start, min(end, now + timedelta(days=3 * 365))


def key_timeline(keys: Sequence[tuple[KeyRecord, datetime]], *, now: datetime) -> Markup:
    """One bar per key: the states it went through (published, active, retiring, ...), now, and its expiry."""
    width, row_h, top, left, right = WIDTH, 44, 24, 6, 12
    start, end = _window(keys, now)
    span = (end - start).total_seconds() or 1.0
    plot_w = width - left - right

    def x_of(at: datetime) -> float:
        clamped = min(max(at, start), end)
        return left + plot_w * (clamped - start).total_seconds() / span

    height = top + row_h * len(keys) + 46
    body = [_text(left, 14, f"{start:%Y-%m-%d}"), _text(width - right, 14, f"{end:%Y-%m-%d}", anchor="end")]
    sentences = []
    for i, (record, expiry) in enumerate(keys):
        y = top + i * row_h
        days = (expiry - now).days
        body.append(_text(left, y + 14, f"{record.kid} · {record.state} · expires {expiry:%Y-%m-%d} ({days} d)",
                          fill="#1d2733"))
        bar_y = y + 20
        body.append(_rect(left, bar_y, plot_w, 14, "#f0f3f7"))
        if record.state in ("generated", "pending", "active", "retiring"):  # a certificate still in play
            body.append(f'<rect x="{x_of(now):.1f}" y="{bar_y:.1f}" width="{x_of(expiry) - x_of(now):.1f}" '
                        f'height="14" fill="none" stroke="{AXIS}" stroke-dasharray="3 2"/>')
        for phase in key_phases(record, now=now):
            x0, x1 = x_of(phase.start), x_of(phase.end)
            tip = f"{record.kid}: {PHASE_NAMES[phase.name]} {phase.start:%Y-%m-%d %H:%M} to {phase.end:%Y-%m-%d %H:%M}"
            body.append(_rect(x0, bar_y, max(x1 - x0, 3), 14, PHASE_COLOURS[phase.name], tip))
        ex = x_of(expiry)
        body.append(f'<line x1="{ex:.1f}" y1="{bar_y - 3:.1f}" x2="{ex:.1f}" y2="{bar_y + 17:.1f}" '
                    f'stroke="{REFUSED}" stroke-width="2"><title>{escape(record.kid)} expires {expiry:%Y-%m-%d}'
                    "</title></line>")
        sentences.append(f"{record.kid} is {record.state}, expires {expiry:%Y-%m-%d} ({days} days)")
    now_x = x_of(now)
    legend_y = top + row_h * len(keys) + 4
    for i in range(len(keys)):  # across each bar only, so it never runs through a key's label
        bar_y = top + i * row_h + 20
        body.append(f'<line x1="{now_x:.1f}" y1="{bar_y - 4:.1f}" x2="{now_x:.1f}" y2="{bar_y + 18:.1f}" '
                    'stroke="#1d2733" stroke-width="1.5"/>')
    near_edge = "start" if now_x < left + 20 else "end" if now_x > width - right - 20 else "middle"
    body.append(_text(now_x, legend_y + 12, "now", anchor=near_edge, fill="#1d2733", weight="600"))
    x = left
    for name in ("published", "active", "retiring", "retired"):
        body.append(_rect(x, legend_y + 24, 10, 10, PHASE_COLOURS[name]))
        body.append(_text(x + 14, legend_y + 33, name))
        x += 24 + 7 * len(name)
    body.append(f'<line x1="{x:.1f}" y1="{legend_y + 23}" x2="{x:.1f}" y2="{legend_y + 35}" stroke="{REFUSED}" '
                'stroke-width="2"/>')
    body.append(_text(x + 5, legend_y + 33, "expiry"))
    desc = "; ".join(sentences) + "." if sentences else "No signing keys."
    return _svg("key-timeline", width, height, "Signing key lifetimes", desc, body)
