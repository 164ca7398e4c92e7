"""The admin's SLO list shows each SLO's state and budget left from its last tick, in one query."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from slo import ticks
from slo.models import Slo

from .conftest import traffic


@pytest.fixture
def staff(client, db):
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def row_of(page: str, name: str) -> str:
    return page.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]


@pytest.fixture
def judged(slo, log_dir):
    """Three SLOs after one budget tick: api burning hard, calm fine, quiet with six requests."""
    from slo import ingest

    now = timezone.now()
    ingest.ingest(traffic("api", now - timedelta(minutes=90), 60, per_minute=30, error_share=0.5, seed=1))
    Slo.objects.create(name="calm", service="calm", p95_ms=800, error_budget_pct=1.0, window_days=30, min_events=10)
    ingest.ingest(traffic("calm", now - timedelta(minutes=90), 60, per_minute=30, seed=2))
    Slo.objects.create(name="quiet", service="quiet", p95_ms=800, error_budget_pct=1.0, window_days=30)
    ingest.ingest(traffic("quiet", now - timedelta(minutes=30), 6, per_minute=1, seed=3))
    ticks.budget_tick(now)


def test_each_slo_shows_its_state_and_budget_left(staff, judged):
    page = staff.get("/admin/slo/slo/").content.decode()
    assert "CRITICAL" in row_of(page, "api") and "-" in row_of(page, "api").split("%")[0]
    calm = row_of(page, "calm")
    assert "OK" in calm and "100.0%" in calm and " UTC" in calm
    quiet = row_of(page, "quiet")
    assert quiet.count("waiting for data") == 2 and "CRITICAL" not in quiet


def test_an_slo_never_ticked_says_so(staff, slo):
    assert "no tick yet" in row_of(staff.get("/admin/slo/slo/").content.decode(), "api")


def test_more_slos_cost_no_more_queries(staff, judged):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert staff.get("/admin/slo/slo/").status_code == 200
        return len(queries)

    before = count()
    for n in range(5):
        Slo.objects.create(name=f"s{n}", service=f"s{n}", p95_ms=800, error_budget_pct=1.0, window_days=30)
    ticks.budget_tick(timezone.now())
    assert count() == before
