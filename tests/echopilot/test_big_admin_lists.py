"""The history lists that grow by the year stay cheap: no count of the whole table, no DISTINCT
over it (for a filter's choices or a date hierarchy), and a count that says when it stopped short."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from echopilot.admin import CappedCountPaginator
from incidents import raise_incident
from incidents.models import Delivery
from portal.models import AccessLog, StripeEvent
from slo.models import Slo, SloTick

pytestmark = pytest.mark.django_db

BIG_LISTS = [
    "/admin/portal/accesslog/",
    "/admin/portal/stripeevent/",
    "/admin/slo/slotick/",
    "/admin/incidents/incident/",
    "/admin/incidents/delivery/",
]


@pytest.fixture
def history(db):
    now = timezone.now()
    slo = Slo.objects.create(name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30)
    for i in range(5):
        at = now - timedelta(days=i)
        AccessLog.objects.create(ts=at, action=f"action-{i}", outcome=AccessLog.ALLOWED, status=200 + i)
        StripeEvent.objects.create(event_id=f"evt_{i}", type=f"type.{i}", received=at)
        SloTick.objects.create(slo=slo, at=at, requests=1, error_rate=0, burn=0, weekly_burn=0, burn_alert=f"s{i}")
        raise_incident("CRITICAL", f"problem {i}", f"source-{i}", fingerprint=f"fp-{i}", now=at)
    Delivery.objects.bulk_create([Delivery(channel="email", subject=f"s{i}", body="b") for i in range(5)])


@pytest.mark.parametrize("url", BIG_LISTS)
def test_a_big_history_list_neither_counts_nor_scans_the_whole_table(admin_client, history, url):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [s for s in sql if "DISTINCT" in s], "no DISTINCT over the table for a filter or date links"
    counts = [s for s in sql if "COUNT(" in s]
    assert counts and all("LIMIT" in s for s in counts), counts


@pytest.mark.parametrize("url", BIG_LISTS)
def test_the_count_says_more_than_when_it_stopped_short(admin_client, history, url, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    assert "More than 2 " in admin_client.get(url).content.decode()


def test_the_filters_still_offer_recent_values(admin_client, history):
    page = admin_client.get("/admin/incidents/incident/").content.decode()
    assert "?source=source-4" in page
    page = admin_client.get("/admin/portal/accesslog/").content.decode()
    assert "?action=action-0" in page
