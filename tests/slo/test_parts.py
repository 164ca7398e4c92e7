"""A batch's figures for a minute still open wait as small parts; each minute row is written once,
when the service's next minute (or the quiet-service job) folds them."""

import functools
from datetime import timedelta

import numpy as np
import pytest

from slo import ingest, services, sketch
from slo.models import ALL_ROUTES, Rollup, RollupPart, Slo
from tests.races import race

from .conftest import NOW

MINUTE = NOW.replace(second=0)  # 12:00; NOW is 12:00:30
ROUTES = ["/a", "/b", "/c"]


def _batch(start, seed, n=60, seconds=50.0):
    """`n` samples over `seconds` from `start`, on ROUTES at random, a tenth of them 503s."""
    rng = np.random.default_rng(seed)
    route = rng.integers(0, len(ROUTES), n)
    return ingest.Samples(
        epoch_s=start.timestamp() + np.sort(rng.uniform(0, seconds, n)),
        latency_ms=rng.lognormal(np.log(120), 0.7, n),
        status=np.where(rng.random(n) < 0.1, 503, 200).astype(np.int64),
        stream=route.astype(np.int64),
        streams=[("api", r) for r in ROUTES],
    )


def _slo(route=""):
    name = f"api{route.replace('/', '-')}"
    return Slo.objects.create(name=name, service="api", route=route, p95_ms=800, error_budget_pct=1.0, window_days=30)


def _exact(slo, start, end, batches) -> None:
    """The window [start, end) of `slo` counts exactly the samples of `batches` inside it."""
    window = services.read_window(slo, int(start.timestamp()), int(end.timestamp()))
    requests = errors = 0
    counts = sketch.empty()
    for b in batches:
        inside = (b.epoch_s >= start.timestamp()) & (b.epoch_s < end.timestamp())
        if slo.route:
            inside &= b.stream == ROUTES.index(slo.route)
        requests += int(inside.sum())
        errors += int((b.status[inside] >= 500).sum())
        counts += sketch.from_latencies(b.latency_ms[inside])
    assert (window.requests, window.errors) == (requests, errors)
    assert np.array_equal(window.counts, counts)


def _minute_rows(start):
    return {r.route: r for r in Rollup.objects.filter(service="api", resolution="m", start=start)}


def test_a_batch_leaves_parts_not_a_minute_row_for_its_open_minute_and_reads_count_them(db):
    batches = [_batch(MINUTE, seed=1), _batch(MINUTE, seed=2)]
    for batch in batches:
        ingest.ingest(batch, NOW + timedelta(seconds=20))
    assert not Rollup.objects.exists()
    parts = RollupPart.objects.filter(service="api", start=MINUTE)
    assert sorted(parts.values_list("route", flat=True)) == sorted(ROUTES * 2)  # one per route and batch, no "*"
    for slo in (_slo(), _slo("/a"), _slo("/c")):
        _exact(slo, MINUTE, MINUTE + timedelta(minutes=1), batches)
        _exact(slo, MINUTE - timedelta(days=2), MINUTE + timedelta(hours=1), batches)
        assert services.window(slo, timedelta(hours=1), NOW + timedelta(seconds=20)).requests > 0


def test_the_next_minutes_batch_folds_the_parts_into_one_minute_row_each_and_deletes_them(db):
    batches = [_batch(MINUTE, seed=s) for s in range(3)]
    for batch in batches:
        ingest.ingest(batch, NOW)
    batches.append(_batch(MINUTE + timedelta(minutes=1), seed=9))
    ingest.ingest(batches[-1], NOW + timedelta(minutes=1))
    rows = _minute_rows(MINUTE)
    assert sorted(rows) == sorted([*ROUTES, ALL_ROUTES])
    everything = np.concatenate([b.latency_ms for b in batches[:3]])
    assert rows[ALL_ROUTES].count == everything.size
    assert rows[ALL_ROUTES].errors == sum(int((b.status >= 500).sum()) for b in batches[:3])
    assert np.array_equal(sketch.decode(rows[ALL_ROUTES].sketch), sketch.from_latencies(everything))
    on_a = sum(int((b.stream == 0).sum()) for b in batches[:3])
    assert rows["/a"].count == on_a
    assert rows["/a"].statuses == {
        str(code): n
        for code in (200, 503)
        if (n := sum(int(((b.stream == 0) & (b.status == code)).sum()) for b in batches[:3]))
    }
    assert not RollupPart.objects.filter(start=MINUTE).exists()
    assert RollupPart.objects.filter(start=MINUTE + timedelta(minutes=1)).count() == len(ROUTES)
    for slo in (_slo(), _slo("/b")):
        _exact(slo, MINUTE - timedelta(hours=1), MINUTE + timedelta(minutes=2), batches)


def test_a_late_sample_goes_straight_to_its_minute_row(db):
    ingest.ingest(_batch(MINUTE, seed=1), NOW)
    ingest.ingest(_batch(MINUTE + timedelta(minutes=1), seed=2), NOW + timedelta(minutes=1))  # 12:00 folds
    before = _minute_rows(MINUTE)[ALL_ROUTES].count
    late = _batch(MINUTE + timedelta(seconds=50), seed=3, n=40, seconds=20.0)  # 12:00:50-12:01:10
    in_closed = int((late.epoch_s < (MINUTE + timedelta(minutes=1)).timestamp()).sum())
    assert 0 < in_closed < 40
    ingest.ingest(late, NOW + timedelta(minutes=1, seconds=10))
    assert _minute_rows(MINUTE)[ALL_ROUTES].count == before + in_closed
    assert not RollupPart.objects.filter(start=MINUTE).exists()


def test_the_quiet_service_job_folds_the_last_minutes_parts(db):
    batches = [_batch(MINUTE, seed=1), _batch(MINUTE, seed=2)]
    for batch in batches:
        ingest.ingest(batch, NOW)
    assert ingest.close_hours(NOW + timedelta(minutes=2)) == {}  # not CLOSE_AFTER past its end yet
    assert RollupPart.objects.exists()
    assert ingest.close_hours(NOW + ingest.CLOSE_AFTER + timedelta(minutes=1)) == {"api": len(ROUTES) + 1}
    assert not RollupPart.objects.exists()
    assert _minute_rows(MINUTE)[ALL_ROUTES].count == 120
    _exact(_slo(), MINUTE, MINUTE + timedelta(minutes=1), batches)
    assert ingest.close_hours(NOW + ingest.CLOSE_AFTER + timedelta(minutes=2)) == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batches_racing_over_a_minute_close_fold_each_part_once():
    slo = _slo()
    waiting = [_batch(MINUTE, seed=s) for s in range(4)]
    for batch in waiting:
        ingest.ingest(batch, NOW)
    # Each racer carries the end of 12:00 and the start of 12:01: each would fold 12:00 if it came first.
    racers = [_batch(MINUTE + timedelta(seconds=55), seed=10 + s, seconds=10.0) for s in range(6)]
    race(functools.partial(ingest.ingest, now=NOW + timedelta(minutes=1)), racers)
    sent = waiting + racers
    rows = _minute_rows(MINUTE)
    in_minute = sum(int((b.epoch_s < (MINUTE + timedelta(minutes=1)).timestamp()).sum()) for b in sent)
    assert rows[ALL_ROUTES].count == in_minute
    assert sum(rows[route].count for route in ROUTES) == in_minute
    assert not RollupPart.objects.filter(start=MINUTE).exists()
    _exact(slo, MINUTE, MINUTE + timedelta(minutes=2), sent)
    _exact(_slo("/a"), MINUTE, MINUTE + timedelta(minutes=2), sent)
