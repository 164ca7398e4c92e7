"""The spend ledger's write: each report counted exactly once, in the ledger and in the day's
counters, and acknowledged only once it is committed.

Reports that arrive while this process is committing are committed together by the next statement
(group commit). The first report to find no commit under way leads: it writes everything queued at
that moment, in one statement on its own connection. The others wait for the commit of their batch
and answer its outcome; when a batch is done, the oldest waiter leads the next one. With threaded
web workers (gunicorn gthread) a busy process thus pays one round trip and one WAL flush for many
reports instead of one each, while a lone report waits for nothing: nobody delays a commit to
gather more.

A report made inside a caller's transaction (a Stripe webhook, a test) is written on the caller's
connection at once, so it commits or rolls back with the caller's work.
"""

import functools
import threading
from collections import defaultdict
from datetime import date
from typing import Any

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, DataError, connection, connections, transaction
from django.utils import timezone
from psycopg import generators, pq

from . import spend_cache
from .models import CostCap, DailyCounter, SpendEntry

# Enough to absorb every thread of a worker at once; a bound keeps one statement's size sane.
MAX_BATCH = 256

# The reporter and its address go on the row, and whether the audit chain still owes it an entry:
# chained later in bulk (costs.sealing), never under the chain's lock here.
LEDGER_COLUMNS = [
    *("request_id", "day", "ts", "kind", "model", "input_tokens", "output_tokens", "usd_micros", "priced"),
    *("actor", "address", "audit_pending"),
]
LEDGER_TYPES = [
    *("varchar", "date", "timestamptz", "varchar", "varchar", "bigint", "bigint", "bigint", "boolean"),
    *("varchar", "varchar", "boolean"),
]


class DayTotalOverflow(DataError):
    """A report would take a day's counter past what a bigint of micro-dollars holds ($9.2 trillion):
    refused, nothing written. A DataError, so a batch it is part of is retried report by report."""


MAX_COUNTER_MICROS = 2**63 - 1
NUMERIC_OUT_OF_RANGE = "22003"


def count(entry: dict) -> bool:
    """Count `entry` (a validated report) unless its request_id was counted before: True when it was
    counted now, False for a repeat. Returns once the count is committed (or, inside a caller's
    transaction, written in it). A DatabaseError means nothing was counted."""
    if _in_transaction(connections[DEFAULT_DB_ALIAS]):
        return write_batch([entry])[0]
    return _group_commit.submit(entry)


def _in_transaction(db) -> bool:
    """A transaction is open on this thread's connection (atomic(), or autocommit turned off): a
    report written now must commit or roll back with it, so it is neither batched nor prepared."""
    return not db.get_autocommit()


def write_batch(entries: list[dict]) -> list[bool]:
    """Write `entries` in one transaction on this thread's connection; per entry, True when it was
    counted, False when its request_id was already counted (before, or earlier in the batch).
    Folds the counters' new totals into this process's copy of the day (costs.spend_cache)."""
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        first.setdefault(entry["request_id"], i)
    unique = [entries[i] for i in sorted(first.values())] if len(first) < len(entries) else entries
    # One lookup of this thread's connection: each use of the `connection` proxy is another.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "postgresql":
        try:
            inserted, totals = _write_in_one_statement(db, unique)
        except DataError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == NUMERIC_OUT_OF_RANGE:
                raise DayTotalOverflow() from exc
            raise
    else:
        inserted, totals = _write_in_a_transaction(unique)
    for day, rows in totals.items():
        spend_cache.note_totals(day, rows)
    return [first[e["request_id"]] == i and e["request_id"] in inserted for i, e in enumerate(entries)]


def _write_each_alone(entries: list[dict]) -> list:
    """The fallback when a batch failed: each entry in its own statement, so one report the database
    refuses fails alone. Per entry, its outcome or the DatabaseError it met."""
    outcomes: list[bool | DatabaseError] = []
    for entry in entries:
        try:
            outcomes.append(write_batch([entry])[0])
        except DatabaseError as exc:
            outcomes.append(exc)
    return outcomes


def _counter_key(entry) -> tuple:
    """The (scope, key) counter a report adds to: its model's for AI spend, else its kind's. (All AI
    spend of a day is the sum of its model counters: one row a report to write, not two.)"""
    if entry["kind"] != SpendEntry.AI:
        return DailyCounter.KIND, entry["kind"]
    return CostCap.MODEL, entry["model"]


# --- PostgreSQL: one statement a batch ------------------------------------------------------------------


# Built once per backend: quoting names on every batch costs more than a tenth of a request.
@functools.lru_cache(maxsize=4)
def _batch_sql(vendor: str, batch: str, shard: str) -> str:
    """The batch comes as one JSON parameter (cheap to make with orjson, and one prepared statement
    serves every batch size). Its rows are inserted in request_id order, then the counters of the
    rows inserted are upserted in (day, scope, key) order: every writer takes its locks in one
    order, so two batches never deadlock. A repeated request_id inserts no row and adds nothing.
    Answers one JSON document, [inserted request_ids, [[day, scope, key, shard, micros], ...]]: one
    value to read and parse, the same whichever way the statement ran. `batch` and `shard` are the
    placeholders of the two parameters."""
    q = connection.ops.quote_name
    columns = ", ".join(f"{q(c)} {t}" for c, t in zip(LEDGER_COLUMNS, LEDGER_TYPES, strict=False))
    source = f"SELECT i.*, now() FROM json_to_recordset({batch}::json) AS i({columns}) ORDER BY {q('request_id')}"
    micros = f"SUM(e.{q('usd_micros')})"
    return (
        f"WITH entry AS ({_ledger_insert(source, 'request_id')}), "
        f"counted AS ({_counters_insert(shard, micros, 'COUNT(*)', 'GROUP BY 1, 2, 3 ')}) "
        f"SELECT json_build_array((SELECT COALESCE(json_agg({q('request_id')}), '[]') FROM entry), "
        f"(SELECT COALESCE(json_agg(json_build_array(to_char({q('day')}, 'YYYY-MM-DD'), {q('scope')}, {q('key')}, "
        f"{q('shard')}, {q('usd_micros')})), '[]') FROM counted))::text"
    )


@functools.lru_cache(maxsize=4)
def _one_sql(vendor: str) -> str:
    """A batch of one, the usual case (a sync web worker has one report in flight at a time): the
    report's fields as typed parameters $1-$12 and the shard as $13, the counter's row answered as it
    is. On one report it costs PostgreSQL about 30% less CPU than the JSON batch statement. Answers
    no row for a repeated request_id, else the counter's row (day, scope, key, shard, micros)."""
    placeholders = ", ".join(f"${n}" for n in range(1, len(LEDGER_COLUMNS) + 1))
    shard = f"${len(LEDGER_COLUMNS) + 1}"
    return (
        f"WITH entry AS ({_ledger_insert(f'VALUES ({placeholders}, now())')}) "
        f"{_counters_insert(shard, 'e.' + connection.ops.quote_name('usd_micros'), '1', '')}"
    )


def _ledger_insert(source: str, *returning: str) -> str:
    q = connection.ops.quote_name
    answered = ", ".join(q(c) for c in (*returning, "day", "kind", "model", "usd_micros"))
    return (
        f"INSERT INTO {SpendEntry._meta.db_table} ({', '.join(q(c) for c in LEDGER_COLUMNS)}, {q('created')}) "
        f"{source} ON CONFLICT ({q('request_id')}) DO NOTHING RETURNING {answered}"
    )


def _counters_insert(shard: str, micros: str, reports: str, group_by: str) -> str:
    """Add the rows of `entry` to the counter each counts to (the rule of `_counter_key`)."""
    q = connection.ops.quote_name
    table = DailyCounter._meta.db_table
    is_ai = f"e.{q('kind')} = '{SpendEntry.AI}'"
    return (
        f"INSERT INTO {table} ({q('day')}, {q('scope')}, {q('key')}, {q('shard')}, {q('usd_micros')}, {q('reports')}) "
        f"SELECT e.{q('day')}, CASE WHEN {is_ai} THEN '{CostCap.MODEL}' ELSE '{DailyCounter.KIND}' END, "
        f"CASE WHEN {is_ai} THEN e.{q('model')} ELSE e.{q('kind')} END, {shard}::smallint, {micros}, {reports} "
        f"FROM entry e {group_by}ORDER BY 1, 2, 3 " + _upsert_tail(table)
    )


def _upsert_tail(table: str) -> str:
    q = connection.ops.quote_name
    return (
        f"ON CONFLICT ({q('day')}, {q('scope')}, {q('key')}, {q('shard')}) DO UPDATE SET "
        f"{q('usd_micros')} = {table}.{q('usd_micros')} + excluded.{q('usd_micros')}, "
        f"{q('reports')} = {table}.{q('reports')} + excluded.{q('reports')} "
        f"RETURNING {q('day')}, {q('scope')}, {q('key')}, {q('shard')}, {q('usd_micros')}"
    )


def _write_in_one_statement(db, entries) -> tuple[set, dict]:
    """PostgreSQL: the whole batch in one statement (one round trip; outside a transaction of the
    caller's it is also its own commit). The request_ids inserted, and day -> the counters' new
    shard totals as (scope, key, shard, micros)."""
    shard = spend_cache.counter_shard()
    with db.wrap_database_errors:
        if _in_transaction(db):
            answer = _run_in_callers_transaction(db, _as_json(entries), shard)
        elif len(entries) == 1:
            return _write_one(db.connection, entries[0], shard)
        else:
            params = [_as_json(entries), str(shard).encode()]
            answer = _run_prepared(db.connection, BATCH_STATEMENT, params).get_value(0, 0)
    inserted, counted = orjson.loads(answer)  # Django talks UTF8 to PostgreSQL, orjson's own encoding
    totals = defaultdict(list)
    for day, scope, key, row_shard, micros in counted:
        totals[date.fromisoformat(day)].append((scope, key, row_shard, micros))
    return set(inserted), totals


def _as_json(entries) -> bytes:
    return orjson.dumps([{c: e[c] for c in LEDGER_COLUMNS} for e in entries])


def _write_one(pg, entry: dict, shard: int) -> tuple[set, dict]:
    params = [
        entry["request_id"].encode(),
        entry["day"].isoformat().encode(),
        entry["ts"].isoformat().encode(),
        entry["kind"].encode(),
        entry["model"].encode(),
        b"%d" % entry["input_tokens"],
        b"%d" % entry["output_tokens"],
        b"%d" % entry["usd_micros"],
        b"t" if entry["priced"] else b"f",
        entry["actor"].encode(),
        entry["address"].encode(),
        b"t" if entry["audit_pending"] else b"f",
        b"%d" % shard,
    ]
    result = _run_prepared(pg, ONE_STATEMENT, params)
    if not result.ntuples:
        return set(), {}
    value = result.get_value
    rows = [(value(i, 1).decode(), value(i, 2).decode(), shard, int(value(i, 4))) for i in range(result.ntuples)]
    return {entry["request_id"]}, {entry["day"]: rows}


# The statements' names on every connection that ran them, and their text.
BATCH_STATEMENT = b"echopilot_costs_ledger"
ONE_STATEMENT = b"echopilot_costs_ledger_one"
STATEMENTS = {
    BATCH_STATEMENT: lambda: _batch_sql("postgresql", "$1", "$2"),
    ONE_STATEMENT: lambda: _one_sql("postgresql"),
}
INVALID_STATEMENT_NAME = b"26000"  # the SQLSTATE of running a statement the session no longer has


# Any, not pq.abc.PGresult: its get_value() is typed `bytes | None` (an SQL NULL), and the callers read
# columns the statements never leave NULL.
def _run_prepared(pg, name: bytes, params: list, retry: bool = True) -> Any:
    """Run the statement `name` (prepared on its first use on this connection) straight through
    libpq (psycopg's C wait releases the GIL while it runs): on a batch of one, psycopg's cursor
    machinery cost as much as PostgreSQL's own work. Only in autocommit, where there is no transaction of psycopg's to
    open first. The libpq result."""
    pgconn = pg.pgconn
    prepared = getattr(pg, "echopilot_prepared", None)
    if prepared is None:
        prepared = pg.echopilot_prepared = set()
    if name not in prepared:
        pgconn.send_prepare(name, STATEMENTS[name]().encode())
        _check(_result_within_deadline(pg), pg)
        prepared.add(name)
    pgconn.send_query_prepared(name, params)
    result = _result_within_deadline(pg)
    if result.status != pq.ExecStatus.TUPLES_OK:
        if retry and result.error_field(pq.DiagnosticField.SQLSTATE) == INVALID_STATEMENT_NAME:
            # A pooler discarded the session's prepared statements: prepare them again.
            prepared.clear()
            return _run_prepared(pg, name, params, retry=False)
        _check(result, pg)
    return result


def _result_within_deadline(pg) -> pq.abc.PGresult:
    """The result of the statement just sent, waited for through psycopg's connection: on the
    console's connections (echopilot.db.postgresql) that wait gives up on a server that answers
    nothing (frozen, partitioned) after DB_STATEMENT_TIMEOUT_S plus a grace, closes the connection
    and raises OperationalError (answered 503), where libpq's own blocking call would wait as long as
    the server stays frozen. A report that timed out may or may not have committed: its retry,
    with the same request_id, is counted once either way."""
    results = pg.wait(generators.execute(pg.pgconn))
    return results[-1]


def _check(result, pg) -> None:
    if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        if pg.pgconn.status == pq.ConnStatus.BAD:
            # The server went away (crashed, restarted): libpq's result has no SQLSTATE, which psycopg
            # would make a bare DatabaseError. It is an outage, answered 503 like every other.
            raise psycopg.OperationalError(pg.pgconn.get_error_message().strip() or "the connection was lost")
        raise psycopg.errors.error_from_result(result, encoding=pg.info.encoding)


def _run_in_callers_transaction(db, batch: bytes, shard: int) -> str:
    """Through psycopg, which opens the caller's transaction on its first query if need be. In a
    savepoint: a refused report (DayTotalOverflow) leaves the caller's transaction usable."""
    with transaction.atomic(using=db.alias), psycopg.Cursor(db.connection) as cursor:
        cursor.execute(_batch_sql(db.vendor, "%s", "%s"), [batch.decode(), shard], prepare=True)
        row = cursor.fetchone()
        assert row is not None, "the statement returns one row"
        return row[0]


# --- other databases: a transaction a batch ---------------------------------------------------------------


def _write_in_a_transaction(entries) -> tuple[set, dict]:
    inserted: set = set()
    sums: defaultdict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    with transaction.atomic():
        for entry in entries:
            if _insert_entry(entry):
                inserted.add(entry["request_id"])
                total = sums[(entry["day"], *_counter_key(entry))]
                total[0] += entry["usd_micros"]
                total[1] += 1
        totals = _add_to_counters(sums) if sums else {}
    return inserted, totals


@functools.lru_cache(maxsize=4)
def _ledger_sql(vendor: str) -> str:
    return _ledger_insert(f"VALUES ({', '.join(['%s'] * (len(LEDGER_COLUMNS) + 1))})")


def _insert_entry(entry) -> bool:
    """The ledger row; False when its request_id is already there (a repeated report)."""
    ops = connection.ops
    params = [
        entry["request_id"],
        ops.adapt_datefield_value(entry["day"]),
        ops.adapt_datetimefield_value(entry["ts"]),
        entry["kind"],
        entry["model"],
        entry["input_tokens"],
        entry["output_tokens"],
        entry["usd_micros"],
        entry["priced"],
        entry["actor"],
        entry["address"],
        entry["audit_pending"],
        ops.adapt_datetimefield_value(timezone.now()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_ledger_sql(connection.vendor), params)
        return cursor.fetchone() is not None


@functools.lru_cache(maxsize=4)
def _counter_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    table = DailyCounter._meta.db_table
    return (
        f"INSERT INTO {table} ({q('day')}, {q('scope')}, {q('key')}, {q('shard')}, {q('usd_micros')}, {q('reports')}) "
        f"VALUES (%s, %s, %s, %s, %s, %s) " + _upsert_tail(table)
    )


def _add_to_counters(sums: dict) -> dict:
    """Add (day, scope, key) -> [micros, reports] to this process's shards, in one key order."""
    shard, totals = spend_cache.counter_shard(), defaultdict(list)
    with connection.cursor() as cursor:
        for (day, scope, key), (micros, reports) in sorted(sums.items()):
            cursor.execute(
                _counter_sql(connection.vendor),
                [connection.ops.adapt_datefield_value(day), scope, key, shard, micros, reports],
            )
            _, scope, key, shard, total = cursor.fetchone()
            if not isinstance(total, int) or total > MAX_COUNTER_MICROS:  # SQLite turns an overflow into a float
                raise DayTotalOverflow()
            totals[day].append((scope, key, shard, total))
    return totals


# --- group commit ---------------------------------------------------------------------------------------------


class _Waiter:
    __slots__ = ("entry", "woken", "leads", "outcome")

    def __init__(self, entry) -> None:
        self.entry = entry
        # Released once, when the waiter's batch is written or it is handed the lead. A bare lock:
        # an Event's Python-level condition costs a busy worker more than it is worth here.
        self.woken = threading.Lock()
        self.woken.acquire()
        self.leads = False
        self.outcome: Any = None  # True / False once written, or the exception that stopped the write


class GroupCommit:
    """Leader/follower batching of `write(entries) -> outcomes` across the threads of one process."""

    def __init__(self, write, max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._writing = False
        self.batches = 0  # statements written, and the reports in them: how much batching happens
        self.reports = 0

    def submit(self, entry) -> bool:
        """Queue `entry` and return its outcome once its batch is written (raise what stopped it)."""
        mine = _Waiter(entry)
        with self._lock:
            self._queue.append(mine)
            mine.leads = not self._writing
            self._writing = True
        if not mine.leads:
            mine.woken.acquire()
        if mine.leads:  # the first to arrive, or handed the lead when the batch before committed
            self._lead()
        if isinstance(mine.outcome, BaseException):
            raise mine.outcome
        return mine.outcome

    def waiting(self) -> int:
        """Reports queued, the batch being written excluded."""
        return len(self._queue)

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        try:
            outcomes = self._write([w.entry for w in batch])
        except BaseException as exc:  # every waiter learns why, and a successor still takes over
            outcomes = [exc] * len(batch)
        with self._lock:
            successor = self._queue[0] if self._queue else None
            if successor is None:
                self._writing = False
            else:
                successor.leads = True
            self.batches += 1
            self.reports += len(batch)
        for waiter, outcome in zip(batch, outcomes, strict=False):
            waiter.outcome = outcome
            if not waiter.leads:  # a leader is awake already
                waiter.woken.release()
        if successor is not None:
            successor.woken.release()


def _write_batch_or_each_alone(entries: list[dict]) -> list:
    try:
        return write_batch(entries)
    except DatabaseError:
        if len(entries) == 1:
            raise
    return _write_each_alone(entries)


_group_commit = GroupCommit(_write_batch_or_each_alone)


def batching() -> GroupCommit:
    """This process's group commit (for its figures, and for tests that watch it)."""
    return _group_commit
