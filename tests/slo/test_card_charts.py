"""The SLO card's charts: p95 and burn over 24 h and 30 days, the burn-down, worst SLO first."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from slo import dashboard, ingest, series
from slo.models import Rollup, Slo

from .conftest import traffic

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def month_of_traffic(slo):
    """Thirty days of an hour of traffic each day, then a bad hour (40% errors) three hours ago."""
    now = timezone.now()
    for day in range(30, 0, -1):
        ingest.ingest(traffic("api", now - timedelta(days=day), 60, per_minute=10, seed=day))
    ingest.ingest(traffic("api", now - timedelta(hours=3), 60, per_minute=30, error_share=0.4, seed=99))
    return slo


def charts_of(html: str, slo_name: str) -> dict[str, ET.Element]:
    row = re.split(r'class="slo-row"|<section', html.split(f'data-slo="{slo_name}"', 1)[1])[0]
    found = {}
    for svg in re.findall(r"<svg class=\"ep-chart.*?</svg>", row, re.S):
        root = ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
        found[root.get("aria-label")] = root
    return found


def point_titles(root: ET.Element) -> list[str]:
    return [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]


@pytest.fixture
def staff(client, db):
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def test_the_30_day_charts_have_a_point_per_day_and_the_24_hour_ones_a_point_per_hour(month_of_traffic):
    charts = series.chart_series([month_of_traffic])[month_of_traffic.pk]
    assert len(charts["days"]) == 30 and len(charts["hours"]) == 24
    assert sum(1 for p in charts["days"] if p["p95_ms"] is not None) >= 29
    drawn = dashboard.charts(month_of_traffic, charts)
    p95_30d = ET.fromstring(drawn["more"][2].replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
    assert len(point_titles(p95_30d)) >= 29 and all(" UTC: " in t for t in point_titles(p95_30d))


def test_the_card_draws_each_chart_with_axes_titles_and_the_objective(staff, month_of_traffic):
    html = staff.get("/admin/").content.decode()
    charts = charts_of(html, "api")
    assert set(charts) == {
        "api: error budget left, 30-day window",
        "api: p95 latency, 24 h",
        "api: burn rate, 24 h",
        "api: p95 latency, 30 days",
        "api: burn rate, 30 days",
    }
    p95 = charts["api: p95 latency, 24 h"]
    objective = p95.find(f"{SVG}line[@class='ep-hline']")
    assert objective is not None and objective.get("data-value") == "800"
    label_y = {t.text: float(t.get("y")) for t in p95.iter(f"{SVG}text")}
    assert float(objective.get("y1")) == label_y["800 ms"] - 3  # the line sits on its axis value
    assert "time (UTC)" in label_y
    burn = charts["api: burn rate, 24 h"]
    assert burn.find(f"{SVG}line[@class='ep-hline']").get("data-value") == "1"


def test_the_burn_down_starts_full_and_ends_at_the_budget_the_card_states(staff, month_of_traffic):
    html = staff.get("/admin/").content.decode()
    burn_down = charts_of(html, "api")["api: error budget left, 30-day window"]
    values = [float(t.rsplit(": ", 1)[1].rstrip("%").replace(",", "")) for t in point_titles(burn_down)]
    assert values[0] == 100.0 and values[-1] < 0  # the bad hour spent more than the month's budget
    assert burn_down.find(f"{SVG}line[@class='ep-hline']").get("data-value") == "0"
    stated = float(re.search(r"budget left \(30d\)</td><td>(-?[\d.]+)%", html).group(1))
    # Whole days against the minute-exact window: close, not identical.
    assert abs(values[-1] - stated) <= 0.05 * abs(stated)


def test_a_negative_budget_is_a_full_red_bar(staff, month_of_traffic):
    html = staff.get("/admin/").content.decode()
    bar = re.search(r'<div class="ep-bar (ep-state-\w+)"[^>]*><span style="width:(\d+)%"', html)
    assert bar.groups() == ("ep-state-critical", "100") and "(overspent)" in html


def test_the_worst_slo_is_listed_first(staff, month_of_traffic):
    now = timezone.now()
    calm = Slo.objects.create(
        name="aaa-calm", service="calm", p95_ms=800, error_budget_pct=1.0, window_days=30, min_events=10
    )
    ingest.ingest(traffic("calm", now - timedelta(hours=2), 60, per_minute=20, seed=5))
    html = staff.get("/admin/").content.decode()
    order = re.findall(r'class="slo-row" data-slo="([\w-]+)"', html)
    assert order.index("api") < order.index(calm.name)


def test_an_slo_without_traffic_draws_one_empty_chart_that_says_so(staff, slo):
    html = staff.get("/admin/").content.decode()
    charts = charts_of(html, "api")
    assert list(charts) == ["api: error budget left, 30-day window"]
    texts = [t.text for t in charts["api: error budget left, 30-day window"].iter(f"{SVG}text")]
    assert "no requests in the window yet" in texts and "slo-more-charts" not in html


def test_hours_without_traffic_are_gaps_in_the_24_hour_charts(month_of_traffic):
    charts = series.chart_series([month_of_traffic])[month_of_traffic.pk]
    p95_24h = ET.fromstring(
        dashboard.charts(month_of_traffic, charts)["more"][0].replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1)
    )
    with_traffic = sum(1 for p in charts["hours"] if p["p95_ms"] is not None)
    assert 0 < len(point_titles(p95_24h)) == with_traffic < 24


def test_the_series_of_every_slo_are_one_query(month_of_traffic):
    for n in range(5):
        Slo.objects.create(name=f"s{n}", service=f"s{n}", p95_ms=800, error_budget_pct=1.0, window_days=30)
    slos = list(Slo.objects.all())
    with CaptureQueriesContext(connection) as queries:
        charts = series.chart_series(slos)
    assert len(queries) == 1 and len(charts) == 6
    assert Rollup.objects.filter(service="api", resolution="d").count() >= 30
