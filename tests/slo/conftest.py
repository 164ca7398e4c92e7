"""Fixtures for the SLO tests: an SLO, a fixed clock, and a way to feed it realistic traffic."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import numpy as np
import pytest
from django.db import transaction

from slo import ingest, routes
from slo.models import RollupPart, Slo

NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=dt_timezone.utc)
START = NOW.replace(second=0) - timedelta(minutes=10)  # a whole minute: one minute row per route


def fold_all() -> None:
    """Fold every waiting part into its minute row, as each service's next minute would: for tests
    that read the stored minute rows themselves."""
    with transaction.atomic():
        waiting = sorted(set(RollupPart.objects.values_list("service", flat=True)))
        routes.lock_services(waiting)
        ingest.fold_parts(dict.fromkeys(waiting, int(datetime(2100, 1, 1, tzinfo=dt_timezone.utc).timestamp())))


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def slo(db):
    return Slo.objects.create(
        name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30, min_events=10
    )


def traffic(service, start, minutes, per_minute=60, error_share=0.0, latency_ms=100.0, route="/jobs", seed=1):
    """Samples spread evenly over `minutes` from `start`: lognormal latencies around `latency_ms`."""
    rng = np.random.default_rng(seed)
    n = int(minutes * per_minute)
    epochs = start.timestamp() + np.arange(n) * (60.0 / per_minute)
    latencies = rng.lognormal(np.log(latency_ms), 0.3, n)
    status = np.where(rng.random(n) < error_share, 503, 200)
    return ingest.Samples(epochs, latencies, status.astype(np.int64), np.zeros(n, dtype=np.int64), [(service, route)])


def on_routes(service, routes_and_counts, start=START, latency_ms=40.0, error_every=0):
    """Samples of `service`: `n` for each (route, n), within one minute from `start`; every
    `error_every`-th sample a 503."""
    pairs = [(service, route) for route, _ in routes_and_counts]
    stream = np.repeat(np.arange(len(pairs)), [n for _, n in routes_and_counts])
    total = stream.size
    status = np.full(total, 200)
    if error_every:
        status[::error_every] = 503
    return ingest.Samples(
        epoch_s=start.timestamp() + np.arange(total) * (50.0 / total),
        latency_ms=latency_ms + np.arange(total) % 17,
        status=status.astype(np.int64),
        stream=stream.astype(np.int64),
        streams=pairs,
    )


@pytest.fixture
def feed():
    """feed(start, minutes, ...) stores traffic for service "api" through the real ingest path."""

    def _feed(start, minutes, **kwargs):
        samples = traffic(kwargs.pop("service", "api"), start, minutes, **kwargs)
        # At the tests' clock: the hours before NOW's close as they would, the rest stay open.
        ingest.ingest(samples, NOW)
        return samples

    return _feed


def minutes_before(moment, minutes):
    return moment - timedelta(minutes=minutes)


@pytest.fixture(autouse=True)
def _fresh_route_copies():
    """Each test starts with no process copy of any service's routes: its database starts empty."""
    from slo import routes

    routes.forget()
    yield
    routes.forget()
