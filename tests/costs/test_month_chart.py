"""The cost card's chart: spend per day this month against the daily cap, the forecast dashed to month end."""

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from costs import spend_cache
from costs.dashboard import month_chart
from costs.models import CostCap, DailyCounter

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2026, 3, 10)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def spend(day: date, usd: float, model="gpt-4o", shard=0):
    DailyCounter.objects.create(day=day, scope=CostCap.MODEL, key=model, shard=shard, usd_micros=int(usd * 1e6))


def polyline_points(root: ET.Element, dashed: bool) -> list[str]:
    lines = [p for p in root.iter(f"{SVG}polyline") if (p.get("stroke-dasharray") is not None) == dashed]
    return [point for p in lines for point in p.get("points").split()]


@pytest.fixture
def march(caps):
    for i in range(10):
        day = TODAY.replace(day=1) + timedelta(days=i)
        spend(day, 20 + 3 * i)
        spend(day, 5, model="gpt-4o-mini", shard=1)  # the models' sum is the day's spend
    spend(TODAY - timedelta(days=40), 999)  # last month: not drawn


def test_spend_per_day_is_drawn_with_the_cap_as_a_line_at_its_value(march):
    root = parse(month_chart(TODAY, [60.0] * 21, 100.0))
    titles = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]
    assert titles[:2] == ["spent, 2026-03-01 UTC: $25.00", "spent, 2026-03-02 UTC: $28.00"]
    assert len(polyline_points(root, dashed=False)) == 10
    cap = root.find(f"{SVG}line[@class='ep-hline']")
    labels = {t.text: float(t.get("y")) for t in root.iter(f"{SVG}text")}
    assert cap.get("data-value") == "100" and float(cap.get("y1")) == labels["$100"] - 3
    assert "daily cap: $100.00" in labels and "day (UTC)" in labels


def test_the_forecast_continues_the_line_dashed_to_the_end_of_the_month(march):
    root = parse(month_chart(TODAY, [60.0 + i for i in range(30)], 100.0))
    dashed = polyline_points(root, dashed=True)
    assert len(dashed) == 1 + 21  # from today's point to March 31
    assert dashed[0] == polyline_points(root, dashed=False)[-1]  # joined to the spend line
    titles = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]
    assert titles[-1] == "forecast, 2026-03-31 UTC: $80.00"


def test_no_cap_draws_no_cap_line_and_the_last_day_of_the_month_no_forecast(caps):
    spend(date(2026, 3, 31), 12)
    root = parse(month_chart(date(2026, 3, 31), [], None))
    assert root.find(f"{SVG}line[@class='ep-hline']") is None and not polyline_points(root, dashed=True)


def test_the_month_is_read_in_one_query(march):
    with CaptureQueriesContext(connection) as queries:
        month_chart(TODAY, [60.0] * 21, 100.0)
    assert len(queries) == 1


def test_the_card_draws_this_month_against_the_global_cap(client, caps):
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw"))
    spend(spend_cache.cost_day(timezone.now()), 42)
    page = client.get("/admin/").content.decode()
    chart = re.search(r'id="ep-cost-month-chart">(<svg .*?</svg>)', page, re.S).group(1)
    root = parse(chart)
    assert root.find(f"{SVG}line[@class='ep-hline']").get("data-value") == "100"  # COST_CAP_DAILY_USD
    assert any(": $42.00" in (t.text or "") for t in root.iter(f"{SVG}title"))
