"""The kernel's SVG charts: axes, UTC labels, hover titles, escaping and the awkward series."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from echopilot.charts import Line, Series, line_chart, nice_ticks, stacked_bars, tick_label

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 22, 0, 0, tzinfo=dt_timezone.utc)
HOUR = timedelta(hours=1)


def hours(values):
    return [(T0 + i * HOUR, v) for i, v in enumerate(values)]


def parse(svg: str) -> ET.Element:
    # Well-formed XML is the proof that no label broke out of its element.
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in parse(svg).iter(f"{SVG}text")]


def titles(svg: str) -> list[str]:
    return [t.text or "" for t in parse(svg).iter(f"{SVG}title")]


def chart(values, **kwargs):
    points = hours(values)
    return line_chart("p95", [Series("p95", points, unit=" ms")], T0, points[-1][0] if points else T0 + HOUR, **kwargs)


def test_every_point_has_a_hover_title_with_its_utc_time_and_value():
    svg = chart([120, 340.5, 90])
    assert titles(svg)[1:] == [
        "p95, 2026-11-22 00:00 UTC: 120 ms",
        "p95, 2026-11-22 01:00 UTC: 340 ms",
        "p95, 2026-11-22 02:00 UTC: 90.0 ms",
    ]
    assert len(parse(svg).findall(f"{SVG}circle")) == 3


def test_axes_have_round_value_ticks_and_time_labels_that_say_utc():
    points = hours([10, 50, 30] * 8)
    svg = line_chart("burn", [Series("burn", points, unit="x")], T0, points[-1][0])
    labels = texts(svg)
    assert {"0x", "20x", "40x", "60x"} <= set(labels)
    assert {"00:00", "06:00", "12:00", "18:00"} <= set(labels)
    assert "time (UTC)" in labels


def test_daily_charts_label_days_and_hover_names_the_day():
    days = [(T0 + timedelta(days=i), float(i)) for i in range(30)]
    svg = line_chart("p95 30 days", [Series("p95", days)], days[0][0], days[-1][0], step=timedelta(days=1))
    assert "11-28" in texts(svg) and "p95, 2026-12-21 UTC: 29.0" in titles(svg)
    assert len(parse(svg).findall(f"{SVG}circle")) == 30


def test_the_objective_line_sits_at_its_value_and_widens_the_axis_to_show_it():
    svg = chart([100, 200], lines=[Line(800, "p95 objective")])
    line = parse(svg).find(f"{SVG}line[@class='ep-hline']")
    assert line is not None and line.get("data-value") == "800"
    zero = [t for t in parse(svg).iter(f"{SVG}text") if t.text == "0 ms"][0]
    top = [t for t in parse(svg).iter(f"{SVG}text") if t.text == "800 ms"][0]
    assert float(line.get("y1")) == float(top.get("y")) - 3 < float(zero.get("y")) - 3


def test_labels_and_names_are_escaped():
    evil = '<script>alert("x")</script> & co'
    svg = line_chart(evil, [Series(evil, hours([1, 2]))], T0, T0 + HOUR, lines=[Line(1, evil)])
    assert "<script>" not in svg
    assert evil in titles(svg)[0] and any(evil in t for t in titles(svg)[1:])


def test_an_empty_series_draws_a_framed_message_not_an_error():
    for series in ([], [None, None]):
        svg = chart(series, empty="waiting for data")
        assert "waiting for data" in texts(svg) and not parse(svg).findall(f"{SVG}polyline")


def test_a_single_point_is_a_dot_with_its_title():
    svg = chart([42])
    assert len(parse(svg).findall(f"{SVG}circle")) == 1 and "p95, 2026-11-22 00:00 UTC: 42.0 ms" in titles(svg)


def test_gaps_break_the_line():
    svg = chart([1, 2, None, 4, 5])
    lines = parse(svg).findall(f"{SVG}polyline")
    assert [len(p.get("points").split()) for p in lines] == [2, 2]


def test_negative_values_go_below_a_zero_line():
    svg = line_chart("budget", [Series("left", hours([100, 40, -35]), unit="%")], T0, T0 + 2 * HOUR)
    root = parse(svg)
    labels = {t.text: float(t.get("y")) for t in root.iter(f"{SVG}text")}
    assert "-50%" in labels and "50%" in labels
    below = [c for c in root.iter(f"{SVG}circle") if "-35" in c.find(f"{SVG}title").text][0]
    assert float(below.get("cy")) > labels["0%"] - 3


def test_the_drawing_scales_with_its_container():
    svg = chart([1, 2])
    root = parse(svg)
    assert root.get("viewBox") == "0 0 360 200" and root.get("width") == "100%"
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # loads nothing


def test_stacked_bars_stack_each_hour_by_key_with_titles():
    starts = [T0 + i * HOUR for i in range(3)]
    stacks = {"ERROR": [1, 0, 2], "CRITICAL": [2, 0, 0]}
    svg = stacked_bars("incidents", starts, HOUR, stacks, {"ERROR": "#e8710a", "CRITICAL": "#c5221f"})
    rects = parse(svg).findall(f"{SVG}rect[@class='ep-bar-segment']")
    drawn = [(r.get("data-key"), r.get("data-count")) for r in rects]
    assert drawn == [("ERROR", "1"), ("CRITICAL", "2"), ("ERROR", "2")]
    error, critical = rects[0], rects[1]
    assert float(critical.get("y")) + float(critical.get("height")) == float(error.get("y"))  # on top of it
    assert "2026-11-22 00:00 UTC to 01:00 UTC: 2 CRITICAL" in titles(svg)


def test_bars_with_nothing_to_count_say_so():
    starts = [T0 + i * HOUR for i in range(24)]
    svg = stacked_bars("incidents", starts, HOUR, {"ERROR": [0] * 24}, {}, empty="no incidents")
    assert "no incidents" in texts(svg) and not parse(svg).findall(f"{SVG}rect[@class='ep-bar-segment']")


def test_tick_labels_carry_the_decimals_their_spacing_needs():
    assert [tick_label(v, 0.25, "x") for v in (0, 0.25, 0.5)] == ["0.00x", "0.25x", "0.50x"]
    assert [tick_label(v, 0.5, "") for v in (0, 0.5, 1)] == ["0.0", "0.5", "1.0"]
    assert tick_label(2000, 500, " ms") == "2 s" and tick_label(250, 50, " ms") == "250 ms"
    assert [tick_label(v, 2.5, "$") for v in (2.5, 5)] == ["$2.5", "$5.0"]


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 7) == [0, 2, 4, 6, 8]
    assert nice_ticks(-35, 100) == [-50, 0, 50, 100]
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", str(t)) for t in nice_ticks(0, 0.013))
