"""The incidents card's chart: incidents that began in each of the last 24 hours, stacked by severity."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import raise_incident
from incidents.dashboard import new_per_hour, per_hour_chart

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 22, 12, 40, tzinfo=dt_timezone.utc)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


@pytest.fixture
def a_bad_morning():
    def at(hours_ago, minute=5):
        return NOW.replace(minute=minute) - timedelta(hours=hours_ago)

    raise_incident("CRITICAL", "db down", "db", now=at(3))
    raise_incident("ERROR", "slow checkout", "shop", now=at(3, 20))
    raise_incident("ERROR", "slow checkout", "shop", now=at(3, 30))  # a repeat: not a new incident
    raise_incident("WARNING", "disk 85%", "db-1", now=at(0))
    raise_incident("INFO", "deploy done", "ci", now=at(30))  # older than 24 h: not drawn


def test_each_hour_counts_the_incidents_that_began_in_it_by_severity(a_bad_morning):
    starts, counts = new_per_hour(NOW)
    assert len(starts) == 24 and starts[-1] == NOW.replace(minute=0)
    assert list(counts) == ["CRITICAL", "ERROR", "WARNING", "INFO"]
    assert counts["CRITICAL"][20] == 1 and counts["ERROR"][20] == 1 and counts["WARNING"][23] == 1
    assert sum(map(sum, counts.values())) == 3


def test_the_bars_stack_by_severity_with_their_colours_and_hover_counts(a_bad_morning):
    root = parse(per_hour_chart(NOW))
    segments = root.findall(f"{SVG}rect[@class='ep-bar-segment']")
    assert [(s.get("data-key"), s.get("fill")) for s in segments] == [
        ("CRITICAL", "#c5221f"),
        ("ERROR", "#e8710a"),
        ("WARNING", "#f9ab00"),
    ]
    titles = [s.find(f"{SVG}title").text for s in segments]
    assert titles[0] == "2026-11-22 09:00 UTC to 10:00 UTC: 1 CRITICAL"


def test_the_hours_are_one_query(a_bad_morning):
    with CaptureQueriesContext(connection) as queries:
        per_hour_chart(NOW)
    assert len(queries) == 1


def test_the_card_shows_the_chart_and_says_when_there_is_nothing(client):
    client.force_login(User.objects.create_superuser("oncall", "oncall@example.com", "pw"))
    page = client.get("/admin/").content.decode()
    chart = re.search(r'id="incidents-per-hour">(<svg .*?</svg>)', page, re.S).group(1)
    assert "no incidents in the last 24 h" in chart
    raise_incident("ERROR", "slow", "x")
    page = client.get("/admin/").content.decode()
    assert 'data-key="ERROR" data-count="1"' in page
