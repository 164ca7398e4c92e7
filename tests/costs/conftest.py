"""Fixtures for the cost guardrails' tests: known caps, prices and fallbacks, and a clean cache."""

from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.core import signals
from django.db import close_old_connections
from rest_framework.views import APIView

from costs import spend_cache
from costs.models import CostCap, ModelFallback, ModelPrice

# A fixed moment, so a test never straddles midnight.
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=dt_timezone.utc)


@pytest.fixture(autouse=True)
def fresh_cost_state(settings):
    """The in-process copy of caps and counters must not leak from one test's database to the next."""
    settings.COST_TIMEZONE = "UTC"
    settings.COST_CAP_DAILY_USD = 100
    settings.MODEL_CAPS_JSON = {"gpt-4o": 10, "gpt-4o-mini": 5}
    # No margin: these tests judge the decision rules one call at a time, so a cap is "near" only
    # where the call itself reaches it. Reservations, with real margins, are tested in test_reservations.
    settings.COST_RESERVE_CALLS = 0
    settings.COST_RESERVE_HEADROOM_PCT = 0
    spend_cache.reset()
    yield
    spend_cache.reset()


@pytest.fixture
def now():
    return NOON


@pytest.fixture
def prices(db):
    """The migration's price rows (re-created: a transactional test starts from empty tables)."""
    for model, inp, out in [
        ("gpt-4o", "2.50", "10.00"),
        ("gpt-4o-mini", "0.15", "0.60"),
        ("gpt-4.1-nano", "0.10", "0.40"),
    ]:
        ModelPrice.objects.update_or_create(
            model=model, defaults={"input_per_mtok": Decimal(inp), "output_per_mtok": Decimal(out)}
        )


@pytest.fixture
def caps(db):
    """Global $100/day, gpt-4o $10, gpt-4o-mini $5; chain gpt-4o -> gpt-4o-mini -> gpt-4.1-nano."""
    spend_cache.seed_env_caps()
    ModelFallback.objects.all().delete()
    ModelFallback.objects.create(model="gpt-4o", fallback="gpt-4o-mini")
    ModelFallback.objects.create(model="gpt-4o-mini", fallback="gpt-4.1-nano")
    return {(c.scope, c.key): c.usd_cap for c in CostCap.objects.all()}


@pytest.fixture
def connection_stays_open():
    """For tests calling the WSGI handler directly (the fast path's): as Django's test client does,
    the request signals must not close the test's connection inside the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def drf_dispatches(monkeypatch):
    """How many requests DRF itself handled (the fast path answered the others)."""
    calls = []
    real = APIView.dispatch
    monkeypatch.setattr(APIView, "dispatch", lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))
    return calls
