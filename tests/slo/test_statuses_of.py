"""The status of many SLOs at once: byte for byte the status of each, in queries that do not grow
with the number of SLOs."""

from datetime import timedelta

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slo import ingest, services
from slo.models import Slo

from .conftest import NOW, traffic

pytestmark = pytest.mark.django_db

WINDOW_DAYS = (30, 7, 1, 3)


def _slos(n, prefix="svc"):
    """`n` SLOs over traffic of 3 days: several SLO windows, objectives, min_events and error sets."""
    slos = []
    for i in range(n):
        service = f"{prefix}{i}"
        ingest.ingest(traffic(service, NOW - timedelta(days=3), 3 * 24 * 60, per_minute=2, seed=i))
        ingest.ingest(traffic(service, NOW - timedelta(hours=2), 110, error_share=0.03 * (i % 3), seed=100 + i))
        slos.append(
            Slo.objects.create(
                name=service,
                service=service,
                p95_ms=None if i % 4 == 3 else 120,
                p99_ms=300 if i % 3 == 1 else None,
                error_budget_pct=0.5 + i % 2,
                window_days=WINDOW_DAYS[i % len(WINDOW_DAYS)],
                min_events=(10, 500, 100_000)[i % 3],
                error_statuses="5xx, 429" if i % 2 else "5xx",
                baseline_at=NOW - timedelta(hours=30) if i % 5 == 4 else None,
            )
        )
    return slos


def test_statuses_of_many_slos_are_the_status_of_each_byte_for_byte():
    slos = _slos(6)
    for period in services.PERIODS:
        together = services.statuses_of(slos, period, NOW)
        assert sorted(together) == sorted(slo.pk for slo in slos)
        for slo in slos:
            alone = services.status(slo, period, NOW)
            assert together[slo.pk] == alone, (period, slo.name)
            assert orjson.dumps(together[slo.pk]) == orjson.dumps(alone)
        assert any(s["requests"] for s in together.values())
        assert services.NOT_ENOUGH_DATA in {s["burn_alert"] for s in together.values()}


def test_statuses_of_no_slo_reads_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert services.statuses_of([], "24h", NOW) == {}
    assert len(queries.captured_queries) == 0


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_statuses_of_reads_as_many_queries_for_12_slos_as_for_3():
    few = _slos(3, "few")
    more = _slos(12, "more")
    for period in ("5m", "24h", "30d"):
        counts = (
            _queries(lambda: services.statuses_of(few, period, NOW)),  # noqa: B023 (called at once)
            _queries(lambda: services.statuses_of(more, period, NOW)),  # noqa: B023
        )
        assert counts[0] == counts[1] == 1, period


def test_read_windows_splits_its_pieces_into_queries_of_at_most_the_limit(monkeypatch):
    slos = _slos(4)
    asks = [(slo, length) for slo in slos for length in (timedelta(hours=6), timedelta(days=3))]
    whole = services.read_windows(asks, NOW)
    monkeypatch.setattr(services, "PIECES_PER_QUERY", 3)
    with CaptureQueriesContext(connection) as queries:
        split = services.read_windows(asks, NOW)
    assert len(queries.captured_queries) > 3
    for a, b in zip(whole, split, strict=True):
        assert (a.requests, a.errors, a.latency_sum_ms, a.start, a.end) == (
            b.requests,
            b.errors,
            b.latency_sum_ms,
            b.start,
            b.end,
        )
        assert (a.counts == b.counts).all()


def test_the_slo_cards_queries_do_not_grow_with_the_slos(rf):
    from django.template.loader import render_to_string

    from slo import dashboard

    def card() -> str:
        return render_to_string("slo/card.html", {"title": "SLOs", **dashboard.card_context(rf.get("/admin/"))})

    _slos(3, "few")
    card()  # the first look writes the gate's flag state; count the looks after it
    few = _queries(card)
    _slos(9, "more")
    html = card()
    more = _queries(card)
    assert Slo.objects.count() == 12 and html.count('class="slo-row"') == 12
    assert few == more <= 6, (few, more)


def _rollup_reads(fn) -> int:
    """The queries of `fn` that read the rollups (the windows); the ticks' writes are per SLO."""
    from slo.models import Rollup

    table = Rollup._meta.db_table
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return sum(
        1
        for q in ctx.captured_queries
        if table in q["sql"] and q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
    )


def test_the_budget_tick_reports_each_status_and_reads_the_windows_once_whatever_the_slos():
    from slo import ticks

    _slos(3, "few")
    few = _rollup_reads(lambda: ticks.budget_tick(NOW))
    more_slos = _slos(9, "more")
    snapshot: dict = {}
    more = _rollup_reads(lambda: snapshot.update(ticks.budget_tick(NOW + timedelta(minutes=15))))
    assert few == more, (few, more)
    assert len(snapshot["slos"]) == 12
    by_name = {report["slo"]: report for report in snapshot["slos"]}
    for slo in more_slos:
        report = dict(by_name[slo.name])
        report.pop("alerts")
        assert report == services.status(slo, "24h", NOW + timedelta(minutes=15))
    assert any(report["alerts"] for report in snapshot["slos"])  # the burning ones page


def test_the_watch_reads_the_windows_in_two_queries_whatever_the_slos():
    from slo import ticks

    _slos(3, "few")
    few = _rollup_reads(lambda: ticks.watch_tick(NOW))
    _slos(9, "more")
    done: dict = {}
    more = _rollup_reads(lambda: done.update(ticks.watch_tick(NOW + timedelta(minutes=2))))
    # The short windows of every SLO, then the long ones of those whose short ones burn.
    assert few == more == 2
    assert len(done) == 12 and any(look["alerts"] for look in done.values())


def test_the_watch_and_the_budget_tick_take_as_many_queries_for_12_slos_as_for_3():
    from slo import ticks

    def runs(start) -> tuple[int, int]:
        # A first look makes the states and raises the alerts; the next ones move nothing.
        ticks.watch_tick(start)
        ticks.budget_tick(start + timedelta(minutes=1))
        watch = _queries(lambda: ticks.watch_tick(start + timedelta(minutes=2)))
        with CaptureQueriesContext(connection) as ctx:
            ticks.budget_tick(start + timedelta(minutes=15))
        # ingest.expire's deletes grow with the rollup rows past retention, not with the SLOs.
        expiry = ('DELETE FROM "slo_rollup"', 'SELECT "slo_rollup"."id"')
        return watch, sum(1 for q in ctx.captured_queries if not q["sql"].startswith(expiry))

    _slos(3, "few")
    few = runs(NOW)
    Slo.objects.all().delete()
    _slos(12, "more")
    more = runs(NOW + timedelta(hours=1))
    assert few == more, (few, more)
