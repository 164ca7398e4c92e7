"""Demo data: service "shop" with a realistic day of traffic and one bad hour, and its SLO; before
that day, a month of lighter history (a sample of each hour) with one bad afternoon, so the card's
30-day charts and the budget burn-down have a month to draw."""

import numpy as np
from django.db import transaction

from . import ingest, services
from .models import Rollup, Slo

SERVICE = "shop"
ROUTES = ["/api/cart", "/api/checkout", "/api/products", "/api/search", "/login"]


def day_of_traffic(now, seed=76) -> ingest.Samples:
    """24 hours to `now`: a daily curve (quiet nights, busy afternoons), 0.1% errors, and one bad
    hour three hours ago with 8% errors and slow checkouts."""
    rng = np.random.default_rng(seed)
    start = now.timestamp() - 86400
    minutes = np.arange(1440)
    hour_of_day = ((start + minutes * 60) // 3600) % 24
    per_minute = (40 + 160 * np.sin(np.pi * np.clip(hour_of_day - 6, 0, 16) / 16) ** 2).astype(int)
    epochs = np.concatenate([start + m * 60 + rng.uniform(0, 60, n) for m, n in zip(minutes, per_minute, strict=False)])
    n = epochs.size
    route = rng.integers(0, len(ROUTES), n)
    latency = rng.lognormal(np.log(90), 0.55, n) * np.where(route == 1, 2.5, 1.0)
    errors = rng.random(n) < 0.001
    bad = (epochs >= now.timestamp() - 4 * 3600) & (epochs < now.timestamp() - 3 * 3600)
    latency[bad] *= 4
    errors |= bad & (rng.random(n) < 0.08)
    status = np.where(errors, rng.choice([500, 502, 503], n), 200)
    return ingest.Samples(
        epochs, latency, status.astype(np.int64), route.astype(np.int64), [(SERVICE, r) for r in ROUTES]
    )


HISTORY_DAYS = 29
BAD_AFTERNOON_DAYS_AGO = 12


def month_before(now, seed=77) -> ingest.Samples:
    """A sample of each hour of the 29 days before the demo day (the first minute of the hour, 20 to
    100 requests, following the same daily curve), 0.1% errors; an afternoon 12 days ago has three
    hours with 6% errors and 3x latency."""
    rng = np.random.default_rng(seed)
    first_hour = (now.timestamp() - 86400) // 3600 * 3600 - HISTORY_DAYS * 86400
    hours = first_hour + 3600 * np.arange(HISTORY_DAYS * 24)
    per_hour = (20 + 80 * np.sin(np.pi * np.clip((hours // 3600) % 24 - 6, 0, 16) / 16) ** 2).astype(int)
    epochs = np.concatenate([hour + rng.uniform(0, 60, n) for hour, n in zip(hours, per_hour, strict=False)])
    n = epochs.size
    route = rng.integers(0, len(ROUTES), n)
    latency = rng.lognormal(np.log(90), 0.55, n) * np.where(route == 1, 2.5, 1.0)
    bad_from = first_hour + (HISTORY_DAYS - BAD_AFTERNOON_DAYS_AGO) * 86400 + 14 * 3600
    bad = (epochs >= bad_from) & (epochs < bad_from + 3 * 3600)
    latency[bad] *= 3
    errors = (rng.random(n) < 0.001) | (bad & (rng.random(n) < 0.06))
    status = np.where(errors, rng.choice([500, 502, 503], n), 200)
    return ingest.Samples(
        epochs, latency, status.astype(np.int64), route.astype(np.int64), [(SERVICE, r) for r in ROUTES]
    )


def load(now) -> str:
    """Add the shop SLO and its day of traffic, once however many demo runs race."""
    services.default_slo()  # the env SLO ("console") comes first, as on a fresh install
    with transaction.atomic():
        slo = _locked_shop_slo()
        if Rollup.objects.filter(service=SERVICE).exists():
            return f"SLO {slo.name}: demo traffic already loaded"
        samples = day_of_traffic(now)
        ingest.ingest(month_before(now))
        ingest.ingest(samples)
    return (
        f"SLO {slo.name}: {len(samples):,} requests over 24h with one bad hour (8% errors, 4x latency),"
        f" after {HISTORY_DAYS} days of sampled history"
    )


def _locked_shop_slo() -> Slo:
    # The row lock makes a second run wait until the first has committed its traffic, so its
    # "already loaded" check sees it instead of loading the day again.
    slo, _ = Slo.objects.get_or_create(
        name=SERVICE,
        defaults={"service": SERVICE, "p95_ms": 600, "p99_ms": 1200, "error_budget_pct": 0.5, "window_days": 30},
    )
    return Slo.objects.select_for_update().get(pk=slo.pk)
