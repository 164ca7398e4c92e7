"""Inline SVG charts drawn on the server: line charts with axes and stacked bars, for the cards.

Plain functions from series to markup. Nothing is loaded from anywhere and no script runs: every
point and bar carries an SVG <title>, which the browser shows on hover. The drawing has a viewBox
and a 100% width, so it shrinks to a phone's card; times are labelled in UTC and say so. Every label
is escaped here, so callers may pass text from the database.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 50, 10, 40, 30  # room for the value labels, the title and legend, the times
FONT = 'font-family="system-ui,sans-serif" font-size="11"'
CHAR = 7.0  # the average width of a character at that size, to lay out the legend
AXIS, GRID, MUTED = "#5f6368", "#e8eaed", "#5f6368"
TICK_STEPS = [timedelta(hours=h) for h in (1, 2, 3, 6, 12)] + [timedelta(days=d) for d in (1, 2, 5, 7, 14, 30)]
MAX_X_TICKS = 6


@dataclass
class Series:
    """One line: (time, value) points, oldest first; a None value breaks the line."""

    name: str
    points: Sequence[tuple[datetime, float | None]]
    colour: str = "#1a73e8"
    dashed: bool = False
    unit: str = ""


@dataclass
class Line:
    """A horizontal line across the plot: an objective, a cap or zero."""

    value: float
    label: str
    colour: str = "#c5221f"


@dataclass
class Frame:
    """Maps times and values onto the drawing."""

    start: datetime
    end: datetime
    low: float
    high: float
    width: int = WIDTH
    height: int = HEIGHT
    ticks: list[float] = field(default_factory=list)

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        plot = self.width - LEFT - RIGHT
        return round(LEFT + plot * (moment - self.start).total_seconds() / span, 1)

    def y(self, value: float) -> float:
        plot = self.height - TOP - BOTTOM
        return round(TOP + plot * (self.high - value) / ((self.high - self.low) or 1.0), 1)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(dt_timezone.utc)


def when(moment: datetime, step: timedelta | None = None, zone: str = "UTC") -> str:
    """The hover text of a time: the day alone for daily points, else the minute, in UTC. Daily
    points may stand for calendar days of another `zone` (placed at midnight UTC of their date)."""
    if step is not None and step >= timedelta(days=1):
        return f"{utc(moment):%Y-%m-%d} {zone}"
    return f"{utc(moment):%Y-%m-%d %H:%M} UTC"


def figure(value: float, unit: str = "") -> str:
    """A value as people read it: few decimals, thousands separated, with its unit."""
    if unit == "$":
        return f"${value:,.2f}"
    if value == 0:
        return f"0{unit}"
    places = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{places}f}{unit}"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _value_range(series: list[Series], lines: list[Line]) -> tuple[float, float]:
    values = [v for s in series for _t, v in s.points if v is not None] + [line.value for line in lines]
    low, high = min(values + [0.0]), max(values + [0.0])
    return low, high if high > low else low + 1.0


def _frame(series: list[Series], lines: list[Line], start: datetime, end: datetime) -> Frame:
    ticks = nice_ticks(*_value_range(series, lines))
    return Frame(start=start, end=end, low=ticks[0], high=ticks[-1], ticks=ticks)


def _time_ticks(start: datetime, end: datetime) -> tuple[list[datetime], timedelta]:
    span = end - start
    step = next((s for s in TICK_STEPS if span / s <= MAX_X_TICKS), TICK_STEPS[-1])
    seconds = int(step.total_seconds())
    first = math.ceil(utc(start).timestamp() / seconds) * seconds
    ticks = []
    moment = datetime.fromtimestamp(first, tz=dt_timezone.utc)
    while moment <= end:
        ticks.append(moment)
        moment += step
    return ticks, step


def tick_label(value: float, step: float, unit: str) -> str:
    """An axis label with as many decimals as the ticks' spacing needs, and no more."""
    places = next((p for p in range(4) if abs(round(step, p) - step) < 1e-9), 4)
    if unit == " ms" and step >= 500:  # "1.5 s" fits the margin where "1,500 ms" would not
        return f"{value / 1000:g} s"
    if unit == "$":
        return f"${value:,.{places}f}"
    return f"{value:,.{places}f}{unit}"


def _y_axis(frame: Frame, unit: str) -> list[str]:
    parts = []
    step = frame.ticks[1] - frame.ticks[0] if len(frame.ticks) > 1 else 1.0
    for value in frame.ticks:
        y = frame.y(value)
        stroke = AXIS if value == 0 else GRID
        label = escape(tick_label(value, step, unit))
        parts.append(f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{y}" y2="{y}" stroke="{stroke}"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 3}" text-anchor="end" fill="{MUTED}">{label}</text>')
    return parts


def _x_axis(frame: Frame, caption: str = "time (UTC)") -> list[str]:
    bottom = frame.height - BOTTOM
    parts = [f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>']
    ticks, step = _time_ticks(frame.start, frame.end)
    label = "%m-%d" if step >= timedelta(days=1) else "%H:%M"
    for moment in ticks:
        x = frame.x(moment)
        if x > frame.width - RIGHT - 12:  # a label there would be cut off at the edge
            continue
        parts.append(f'<line x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 3}" stroke="{AXIS}"/>')
        text = f"{utc(moment):{label}}"
        parts.append(f'<text x="{x}" y="{bottom + 13}" text-anchor="middle" fill="{MUTED}">{text}</text>')
    right, caption = frame.width - RIGHT, escape(caption)
    parts.append(f'<text x="{right}" y="{frame.height - 3}" text-anchor="end" fill="{MUTED}">{caption}</text>')
    return parts


def _runs(points: Sequence[tuple[datetime, float | None]]) -> list[list[tuple[datetime, float]]]:
    """The unbroken stretches of a series (a None value ends one)."""
    runs: list[list[tuple[datetime, float]]] = [[]]
    for moment, value in points:
        if value is None:
            runs.append([])
        else:
            runs[-1].append((moment, value))
    return [run for run in runs if run]


def _series(frame: Frame, s: Series, step: timedelta | None, zone: str) -> list[str]:
    dash = ' stroke-dasharray="5 4"' if s.dashed else ""
    parts = []
    for run in _runs(s.points):
        coords = " ".join(f"{frame.x(t)},{frame.y(v)}" for t, v in run)
        parts.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="1.8"{dash} points="{coords}"/>')
    name = escape(s.name)
    for moment, value in s.points:
        if value is None:
            continue
        tip = f"{name}, {escape(when(moment, step, zone))}: {escape(figure(value, s.unit))}"
        parts.append(
            f'<circle class="ep-point" cx="{frame.x(moment)}" cy="{frame.y(value)}" r="2.6" fill="{s.colour}">'
            f"<title>{tip}</title></circle>"
        )
    return parts


def _line(frame: Frame, line: Line, unit: str) -> list[str]:
    y = frame.y(line.value)
    tip = f"{escape(line.label)}: {escape(figure(line.value, unit))}"
    return [
        f'<line class="ep-hline" data-value="{line.value:g}" x1="{LEFT}" x2="{frame.width - RIGHT}" '
        f'y1="{y}" y2="{y}" stroke="{line.colour}" stroke-width="1.2" stroke-dasharray="2 2">'
        f"<title>{tip}</title></line>",
        f'<text x="{frame.width - RIGHT}" y="{y - 3}" text-anchor="end" fill="{line.colour}">{tip}</text>',
    ]


def _legend(items: list[tuple[str, str, bool]], width: int) -> list[str]:
    parts, x = [], float(LEFT)
    for name, colour, dashed in items:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 14}" y1="{TOP - 13}" y2="{TOP - 13}" stroke="{colour}" stroke-width="2.5"{dash}/>'
        )
        parts.append(f'<text x="{x + 18}" y="{TOP - 9}" fill="{MUTED}">{escape(name)}</text>')
        x += 30 + CHAR * len(name)
        if x > width - 60:
            break
    return parts


def _svg(body: list[str], title: str, width: int, height: int, kind: str) -> SafeString:
    label = escape(title)
    return mark_safe(
        f'<svg class="ep-chart ep-chart-{kind}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{label}" {FONT} '
        f'style="max-width:{width * 2}px;height:auto;display:block"><title>{label}</title>'
        f'<text class="ep-chart-title" x="2" y="12" font-weight="600" fill="#202124">{label}</text>'
        + "".join(body)
        + "</svg>"
    )


def _empty(title: str, width: int, height: int, kind: str, message: str) -> SafeString:
    body = [
        f'<rect x="{LEFT}" y="{TOP}" width="{width - LEFT - RIGHT}" height="{height - TOP - BOTTOM}" '
        f'fill="none" stroke="{GRID}"/>',
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}">{escape(message)}</text>',
    ]
    return _svg(body, title, width, height, kind)


def line_chart(
    title: str,
    series: list[Series],
    start: datetime,
    end: datetime,
    lines: list[Line] | None = None,
    step: timedelta | None = None,
    empty: str = "no data yet",
    day_zone: str = "UTC",
) -> SafeString:
    """A line chart of `series` over [start, end] with a value axis, UTC time labels, the
    horizontal `lines` and a hover title on every point. `step` (the spacing of the points) picks
    how the hover titles name a time (days alone from one day on); `day_zone` names the zone of
    daily points that are calendar days somewhere else than UTC."""
    lines = lines or []
    if not any(v is not None for s in series for _t, v in s.points):
        return _empty(title, WIDTH, HEIGHT, "line", empty)
    frame = _frame(series, lines, start, end)
    unit = next((s.unit for s in series), "")
    daily = step is not None and step >= timedelta(days=1)
    body = _y_axis(frame, unit) + _x_axis(frame, f"day ({day_zone})" if daily else "time (UTC)")
    for line in lines:
        body += _line(frame, line, unit)
    for s in series:
        body += _series(frame, s, step, day_zone)
    body += _legend([(s.name, s.colour, s.dashed) for s in series], WIDTH)
    return _svg(body, title, WIDTH, HEIGHT, "line")


def stacked_bars(
    title: str,
    starts: list[datetime],
    step: timedelta,
    stacks: dict[str, list[int]],
    colours: dict[str, str],
    empty: str = "none",
) -> SafeString:
    """Bars of counts per time bucket [start, start + step), stacked by key (in `stacks` order,
    first at the bottom); every segment's hover title names the bucket, the key and the count."""
    if not starts:
        return _empty(title, WIDTH, HEIGHT, "bars", empty)
    totals = [sum(counts[i] for counts in stacks.values()) for i in range(len(starts))]
    ticks = nice_ticks(0, max(max(totals), 1), 4)
    ticks = [t for t in ticks if t == int(t)] or [0, 1]  # counts are whole
    frame = Frame(start=starts[0], end=starts[-1] + step, low=0, high=ticks[-1], ticks=ticks)
    body = _y_axis(frame, "") + _x_axis(frame)
    band = frame.x(starts[0] + step) - frame.x(starts[0])
    for i, start in enumerate(starts):
        body += _stack(frame, start, step, band, {key: counts[i] for key, counts in stacks.items()}, colours)
    body += _legend([(key, colours.get(key, AXIS), False) for key in stacks], WIDTH)
    if not any(totals):
        body.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="{MUTED}">{escape(empty)}</text>'
        )
    return _svg(body, title, WIDTH, HEIGHT, "bars")


def _stack(frame: Frame, start: datetime, step: timedelta, band: float, counts: dict, colours: dict) -> list[str]:
    parts, below = [], 0
    x = frame.x(start) + band * 0.12
    span = f"{when(start)} to {utc(start + step):%H:%M} UTC"
    for key, count in counts.items():
        if not count:
            continue
        top, bottom = frame.y(below + count), frame.y(below)
        parts.append(
            f'<rect class="ep-bar-segment" data-key="{escape(key)}" data-count="{count}" x="{x:.1f}" y="{top}" '
            f'width="{band * 0.76:.1f}" height="{bottom - top:.1f}" fill="{colours.get(key, AXIS)}">'
            f"<title>{escape(span)}: {count} {escape(key)}</title></rect>"
        )
        below += count
    return parts
