"""/healthz/strict judges the SLOs HEALTHZ_STRICT_SLOS names (default: the console's own);
/readyz judges dependencies only, so a watched service's outage never takes the console out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from slo.models import Slo

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    return Slo.objects.create(
        name="shop", service="shop", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30, min_events=10
    )


@pytest.fixture
def console(db):
    return Slo.objects.create(
        name="console", service="console", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30, min_events=10
    )


def burn(feed, service):
    feed(timezone.now() - timedelta(minutes=20), 15, per_minute=20, error_share=0.5, service=service)


def test_a_watched_service_burning_its_budget_does_not_fail_strict_health_by_default(client, shop, console, feed):
    burn(feed, "shop")
    response = client.get("/healthz/strict")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["slo"]["detail"] == "no watched SLO is CRITICAL (watching: console)"


def test_the_consoles_own_slo_burning_fails_strict_health_by_default(client, shop, console, feed):
    burn(feed, "console")
    response = client.get("/healthz/strict")
    assert response.status_code == 500
    assert response.json()["failing"] == ["slo"]
    assert response.json()["checks"]["slo"]["detail"].startswith("CRITICAL: console burn")


def test_healthz_strict_slos_chooses_the_slos_that_count(client, settings, shop, console, feed):
    burn(feed, "shop")
    settings.HEALTHZ_STRICT_SLOS = ["shop"]
    assert client.get("/healthz/strict").status_code == 500
    settings.HEALTHZ_STRICT_SLOS = ["*"]
    assert client.get("/healthz/strict").json()["failing"] == ["slo"]
    settings.HEALTHZ_STRICT_SLOS = ["console"]
    assert client.get("/healthz/strict").status_code == 200


def test_readyz_stays_ready_while_every_slo_burns(client, settings, shop, console, feed):
    settings.HEALTHZ_STRICT_SLOS = ["*"]
    burn(feed, "shop")
    burn(feed, "console")
    assert client.get("/healthz/strict").status_code == 500
    response = client.get("/readyz")
    assert response.status_code == 200
    assert sorted(response.json()["checks"]) == ["broker", "cache", "database", "migrations"]
