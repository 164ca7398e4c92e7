"""The ledger's write: one statement a batch, exact counters, and group commit across threads."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import DataError, connection, transaction
from django.db.models import Sum

from costs import ledger, record_spend, rules, spend_cache
from costs.models import DailyCounter, SpendEntry
from tests.races import race


def entry(request_id, usd="1.25", model="gpt-4o", kind="ai", ts=None, now=None):
    now = now or ts
    return rules.usage_entry(
        {"model": model, "usd": Decimal(usd), "kind": kind, "request_id": request_id, "ts": ts}, now
    )


def counter(scope, key="", day=None):
    """A counter's total and reports over its shards; "daily" (all AI spend) sums the model counters."""
    rows = (
        DailyCounter.objects.filter(scope="model")
        if scope == "daily"
        else DailyCounter.objects.filter(scope=scope, key=key)
    )
    if day is not None:
        rows = rows.filter(day=day)
    return rows.aggregate(total=Sum("usd_micros"), reports=Sum("reports"))


# --- one batch ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_counts_each_new_report_once_and_says_which_were_repeats(caps, now):
    ledger.write_batch([entry("a", now=now)])
    outcomes = ledger.write_batch(
        [
            entry("b", "2", now=now),
            entry("a", now=now),
            entry("c", "3", "embeddings", now=now),
            entry("b", "2", now=now),
        ]
    )
    assert outcomes == [True, False, True, False]  # "a" was counted before; the second "b" repeats the first
    assert SpendEntry.objects.count() == 3
    assert counter("daily") == {"total": 6_250_000, "reports": 3}
    assert counter("model", "gpt-4o") == {"total": 3_250_000, "reports": 2}
    assert counter("model", "embeddings") == {"total": 3_000_000, "reports": 1}


@pytest.mark.django_db
def test_a_batch_over_two_days_and_a_stripe_fee_adds_to_the_right_counters(caps, now):
    yesterday = now - timedelta(days=1)
    outcomes = ledger.write_batch(
        [
            entry("today", "4", now=now),
            entry("late", "1.5", ts=yesterday, now=now),
            entry("fee", "0.59", model="", kind="stripe_fee", now=now),
        ]
    )
    assert outcomes == [True, True, True]
    assert counter("daily", day=now.date())["total"] == 4_000_000
    assert counter("daily", day=yesterday.date())["total"] == 1_500_000
    assert counter("kind", "stripe_fee")["total"] == 590_000
    assert counter("model", "")["total"] is None  # a fee has no model counter


@pytest.mark.django_db
def test_the_batch_updates_this_processes_copy_of_today(caps, now):
    spend_cache.current(now)  # load today's copy
    ledger.write_batch([entry("x", "2.5", now=now), entry("y", "1", "embeddings", now=now)])
    _, totals = spend_cache.current(now)
    assert totals.spent[("daily", "")] == 3_500_000
    assert totals.spent[("model", "embeddings")] == 1_000_000


# --- PostgreSQL: prepared, isolated failures, and real threads -------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_batch_statement_runs_prepared_on_postgresql(caps, now):
    ledger.write_batch([entry("prep-1", now=now)])
    ledger.write_batch([entry("prep-2", now=now), entry("prep-3", now=now)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%json_to_recordset%"])
        prepared = cursor.fetchall()
    assert len(prepared) == 1  # one prepared statement serves every batch size


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lone_report_takes_the_one_row_statement_and_counts_as_a_batch_would(caps, now):
    spend_cache.current(now)  # load today's copy
    yesterday = now - timedelta(days=1)
    assert ledger.write_batch([entry("one", "2.5", now=now)]) == [True]
    assert ledger.write_batch([entry("one", "2.5", now=now)]) == [False]  # a repeat adds nothing
    assert ledger.write_batch([entry("fee", "0.59", model="", kind="stripe_fee", now=now)]) == [True]
    assert ledger.write_batch([entry("late", "1.5", "embeddings", ts=yesterday, now=now)]) == [True]
    assert counter("daily", day=now.date()) == {"total": 2_500_000, "reports": 1}
    assert counter("model", "gpt-4o") == {"total": 2_500_000, "reports": 1}
    assert counter("kind", "stripe_fee") == {"total": 590_000, "reports": 1}
    assert counter("daily", day=yesterday.date()) == {"total": 1_500_000, "reports": 1}
    assert counter("model", "embeddings", day=yesterday.date()) == {"total": 1_500_000, "reports": 1}
    row = SpendEntry.objects.get(request_id="late")
    assert (row.ts, row.day, row.priced, row.usd) == (yesterday, yesterday.date(), False, Decimal("1.5"))
    _, totals = spend_cache.current(now)
    assert totals.spent[("daily", "")] == 2_500_000  # yesterday's report is not today's spend
    assert totals.spent[("kind", "stripe_fee")] == 590_000
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%VALUES ($1, $2%"])
        prepared = cursor.fetchall()
    assert len(prepared) == 1 and "json_to_recordset" not in prepared[0][0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_report_in_a_transaction_opened_by_hand_is_not_batched_and_rolls_back_with_it(caps):
    batching = ledger.batching()
    before = batching.batches
    transaction.set_autocommit(False)
    try:
        record_spend(model="gpt-4o", usd=Decimal("1"), request_id="manual")
        connection.rollback()
    finally:
        transaction.set_autocommit(True)
    assert batching.batches == before  # never a batch another thread's report could join
    assert not SpendEntry.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_discarded_by_a_pooler_is_prepared_again(caps, now):
    ledger.write_batch([entry("before", now=now)])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's server reset does
    assert ledger.write_batch([entry("after", now=now)]) == [True]
    assert counter("daily") == {"total": 2_500_000, "reports": 2}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_report_the_database_refuses_fails_alone_and_its_batch_mates_are_counted(caps, now):
    refused = entry("too-long", now=now) | {"model": "m" * 150}  # past validation; the column holds 100
    outcomes = ledger._write_batch_or_each_alone([entry("ok-1", now=now), refused, entry("ok-2", "2", now=now)])
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], DataError)
    assert set(SpendEntry.objects.values_list("request_id", flat=True)) == {"ok-1", "ok-2"}
    assert counter("daily") == {"total": 3_250_000, "reports": 2}


def lock_model_counter(day, model):
    """Another session holding this process's counter row of `model`: writers of this process block on it."""
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"})
    other.execute(
        "SELECT 1 FROM costs_dailycounter WHERE day = %s AND scope = 'model' AND key = %s AND shard = %s FOR UPDATE",
        [day, model, spend_cache.counter_shard()],
    )
    return other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reports_arriving_during_a_commit_are_committed_together_in_one_statement(caps):
    record_spend(model="gpt-4o", usd=Decimal("0.01"), request_id="warm-up")  # the counter row exists
    batching = ledger.batching()
    before = (batching.batches, batching.reports)
    blocker = lock_model_counter(SpendEntry.objects.get().day, "gpt-4o")
    threads = 12

    def release_once_all_queued():
        # The first batch's statement waits on the lock while every other report queues behind it.
        seen, steady_since, deadline = 0, time.monotonic(), time.monotonic() + 20
        while time.monotonic() < deadline and not (seen and time.monotonic() - steady_since > 0.3):
            if batching.waiting() != seen:
                seen, steady_since = batching.waiting(), time.monotonic()
            time.sleep(0.01)
        blocker.rollback()

    releaser = threading.Thread(target=release_once_all_queued)
    releaser.start()
    results = race(lambda i: record_spend(model="gpt-4o", usd=Decimal("0.5"), request_id=f"gc-{i}"), range(threads))
    releaser.join()
    blocker.close()

    assert sorted(r.request_id for r in results if not r.duplicate) == sorted(f"gc-{i}" for i in range(threads))
    # The first batch (the leader, maybe with one more) and then everything that queued meanwhile.
    assert (batching.batches - before[0], batching.reports - before[1]) == (2, threads)
    assert counter("daily") == {"total": 6_010_000, "reports": threads + 1}
    assert SpendEntry.objects.aggregate(t=Sum("usd_micros"))["t"] == 6_010_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threads_racing_the_same_and_different_reports_count_each_exactly_once(caps):
    ids = [f"race-{i % 15}" for i in range(60)]  # every id sent four times, from different threads
    results = race(lambda rid: record_spend(model="gpt-4o-mini", usd=Decimal("0.1"), request_id=rid), ids)
    assert sum(not r.duplicate for r in results) == 15
    assert SpendEntry.objects.count() == 15
    assert counter("model", "gpt-4o-mini") == {"total": 1_500_000, "reports": 15}


# --- group commit, on its own ------------------------------------------------------------------------------------


def test_a_failed_write_reaches_every_waiter_of_its_batch_and_the_next_batch_still_runs():
    gate, calls = threading.Event(), []

    def write(entries):
        calls.append(list(entries))
        if len(calls) == 1:
            gate.wait(5)
            return [True] * len(entries)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return [e == "good" for e in entries]

    commit = ledger.GroupCommit(write)
    results = {}

    def submit(name):
        try:
            results[name] = commit.submit(name)
        except RuntimeError as exc:
            results[name] = str(exc)

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    while not calls:
        time.sleep(0.001)
    queued = [threading.Thread(target=submit, args=(n,)) for n in ("a", "b")]
    for thread in queued:
        thread.start()
    while commit.waiting() < 2:
        time.sleep(0.001)
    gate.set()
    for thread in [first, *queued]:
        thread.join(5)
    assert results == {"first": True, "a": "database went away", "b": "database went away"}
    assert commit.submit("good") is True and commit.submit("bad") is False  # the leader's seat was handed back
    assert (commit.batches, commit.reports) == (4, 5)
