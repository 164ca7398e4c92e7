"""Request samples in, pre-aggregated rollup rows out.

A sample is {"ts": ISO 8601 or epoch seconds, "latency_ms": number, "status": int, "route": str,
"service": str}. Batches are checked whole (a bad sample refuses the batch, naming each bad field),
folded in numpy into one row per service, route and minute, and stored in one transaction: a minute
still open as one small part per route (RollupPart), summed into its minute rows once when the
minute closes (fold_parts). Hour and day rows are built once, from those minutes, when their hour or
day has closed (see ClosedHours and close_hours_of); only a late sample rewrites them.
"""

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import reduce
from operator import itemgetter, or_
from typing import Any

import numpy as np
import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from . import sketch
from .models import ALL_ROUTES, ClosedHours, Rollup, RollupPart
from .routes import cap_routes, lock_services
from .services import _at, _epoch, _floor

MAX_BATCH = 10_000
MAX_REPORTED_ERRORS = 50
# A sample from before 2000 or over an hour ahead of our clock is a unit mistake (ms vs s) or skew.
EARLIEST_TS = 946_684_800.0
FUTURE_SLACK_S = 3600
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # fullmatch: "$" would let a final newline in
MAX_ROUTE = 200
DEFAULT_ROUTE = "/"
_SECONDS = {Rollup.MINUTE: 60, Rollup.HOUR: 3600, Rollup.DAY: 86400}
MINUTE, HOUR, DAY = _SECONDS[Rollup.MINUTE], _SECONDS[Rollup.HOUR], _SECONDS[Rollup.DAY]
# The closing job builds an hour this long after it ended: a quiet service's last batch of the hour
# is in by then (a later sample is still counted, by rewriting the hour row).
CLOSE_AFTER = timedelta(minutes=5)


class BatchError(ValidationError):
    """A batch refused whole; `fields` names each bad line or sample and field."""

    def __init__(self, message: str, fields: dict) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass
class Samples:
    """A checked batch as columns; `stream` indexes `streams`, the (service, route) pairs."""

    epoch_s: np.ndarray
    latency_ms: np.ndarray
    status: np.ndarray
    stream: np.ndarray
    streams: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.epoch_s.size)


# --- parsing -----------------------------------------------------------------------------------------


def parse_body(body: bytes, content_type: str = "", service: str | None = None, now=None) -> Samples:
    """Samples from an HTTP body: a JSON {"service", "samples": [...]} object or NDJSON lines."""
    if not body.strip():
        raise BatchError("empty batch", {"samples": "send at least one sample"})
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"):
        return parse_ndjson(body, service=service, now=now)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Not one JSON document: NDJSON sent without its content type is the common case.
        return parse_ndjson(body, service=service, now=now)
    if isinstance(document, dict) and "samples" in document:
        batch_service = document.get("service", service)
        if batch_service is not None and not _valid_service(batch_service):
            raise BatchError("invalid input", {"service": "must be 1-100 letters, digits, . _ -"})
        records = document["samples"]
        if not isinstance(records, list):
            raise BatchError("invalid input", {"samples": "must be a list of samples"})
        return parse_records(records, service=batch_service, label=lambda i: f"samples[{i}]", now=now)
    if isinstance(document, list):
        return parse_records(document, service=service, label=lambda i: f"samples[{i}]", now=now)
    if isinstance(document, dict):
        return parse_records([document], service=service, label=lambda i: "line 1", now=now)
    raise BatchError("invalid input", {"samples": "send {service, samples: [...]} or NDJSON lines"})


def parse_ndjson(
    body: bytes, service: str | None = None, now=None, limit: int | None = MAX_BATCH, first_line: int = 1
) -> Samples:
    """Samples from NDJSON lines; every bad line is named by its line number (counting from first_line)."""
    lines, numbers = split_lines(body, first_line)
    _check_size(len(lines), limit)
    label = lambda i: f"line {numbers[i]}"  # noqa: E731
    try:
        records = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        records, errors = _decode_each(lines, label)
        _raise_if(errors, _record_errors(records, service, label, now, skip_none=True))
    return parse_records(records, service=service, label=label, now=now, limit=limit)


def split_lines(body: bytes, first_line: int = 1) -> tuple[list[bytes], Sequence[int]]:
    """The non-blank lines of `body` and their line numbers."""
    lines = body.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if b"" not in lines:
        return lines, range(first_line, first_line + len(lines))
    numbers = [n for n, line in enumerate(lines, first_line) if line.strip()]
    return [lines[n - first_line] for n in numbers], numbers


def _decode_each(lines: list, label) -> tuple[list, dict]:
    records, errors = [], {}
    for i, line in enumerate(lines):
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            records.append(None)
            errors[label(i)] = f"not valid JSON ({exc.args[0].split(':')[0]})"
    return records, errors


def parse_lenient(body: bytes, service: str | None = None, now=None, first_line: int = 1) -> tuple:
    """For log files: (Samples of the good lines or None, {label: problem} for the bad ones)."""
    try:
        return parse_ndjson(body, service=service, now=now, limit=None, first_line=first_line), {}
    except BatchError:
        pass
    lines, numbers = split_lines(body, first_line)
    label = lambda i: f"line {numbers[i]}"  # noqa: E731
    records, errors = _decode_each(lines, label)
    now_s = (now or timezone.now()).timestamp()
    good = []
    for i, record in enumerate(records):
        if record is None:
            continue
        problems = _sample_problems(record, service, now_s)
        if problems:
            errors[label(i)] = "; ".join(f"{k or 'line'} {v}" for k, v in problems.items())
        else:
            good.append(record)
    samples = _slow_columns(good, service, now_s) if good else None
    # JSON errors were found in a first pass: list every problem in the file's order.
    in_file_order = {label(i): errors[label(i)] for i in range(len(lines)) if label(i) in errors}
    return samples, in_file_order


def parse_records(records: list, service: str | None, label, now=None, limit: int | None = MAX_BATCH) -> Samples:
    """Check decoded samples and turn them into columns; any bad sample refuses the whole batch."""
    _check_size(len(records), limit)
    if not records:
        raise BatchError("empty batch", {"samples": "send at least one sample"})
    now_s = (now or timezone.now()).timestamp()
    try:
        samples = _fast_columns(records, service, now_s)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        samples = None
    if samples is None:
        _raise_if({}, _record_errors(records, service, label, now))
        samples = _slow_columns(records, service, now_s)
    return samples


def _check_size(n: int, limit: int | None) -> None:
    if limit is not None and n > limit:
        raise BatchError("batch too large", {"samples": f"at most {limit} samples per request, got {n}"})


def _raise_if(errors: dict, more: dict) -> None:
    errors = {**errors, **more}
    if not errors:
        return
    shown = dict(sorted(errors.items(), key=lambda kv: _label_order(kv[0]))[:MAX_REPORTED_ERRORS])
    if len(errors) > len(shown):
        shown["more"] = f"{len(errors) - len(shown)} more errors not shown"
    raise BatchError("invalid input: nothing of this batch was stored", shown)


def _label_order(label: str) -> tuple[int, str]:
    digits = re.findall(r"\d+", label)
    return (int(digits[0]) if digits else -1, label)


def _valid_service(value) -> bool:
    return isinstance(value, str) and bool(SERVICE_RE.fullmatch(value))


def _fast_columns(records: list, service, now_s: float) -> Samples | None:
    """Columns for the common, clean batch in a few vectorised passes; None means "look closer"."""
    stamps = list(map(itemgetter("ts"), records))
    latencies = list(map(itemgetter("latency_ms"), records))
    statuses = list(map(itemgetter("status"), records))
    if not set(map(type, latencies)) <= {int, float} or set(map(type, statuses)) != {int}:
        return None
    epoch = _fast_epochs(stamps)
    if epoch is None:
        return None
    latency = np.array(latencies, dtype=np.float64)
    status = np.array(statuses, dtype=np.int64)
    if not (
        np.isfinite(latency).all()
        and (latency >= 0).all()
        and (latency <= sketch.MAX_MS).all()
        and ((status >= 100) & (status <= 599)).all()
        and (epoch >= EARLIEST_TS).all()
        and (epoch <= now_s + FUTURE_SLACK_S).all()
    ):
        return None
    stream, streams = _fast_streams(records, service)
    if stream is None:
        return None
    return Samples(epoch, latency, status, stream, streams)


def _fast_epochs(stamps: list) -> np.ndarray | None:
    kinds = set(map(type, stamps))
    if kinds <= {int, float}:
        return np.array(stamps, dtype=np.float64)
    if kinds != {str}:
        return None
    if _plain_utc(stamps):
        # numpy parses naive ISO strings in C, ~5x faster than datetime per string; the Z is UTC.
        parsed = np.array(list(map(_ALL_BUT_LAST, stamps)), dtype="datetime64[us]")
        return parsed.astype(np.int64) / 1e6
    return np.array([_iso_epoch(s) for s in stamps], dtype=np.float64)


_ALL_BUT_LAST = itemgetter(slice(None, -1))


def _plain_stamps() -> tuple:
    """Row n: the one plain UTC stamp form n characters long, as _DIGIT_CLASS maps it (zeros: none)."""
    digit_class = np.arange(256, dtype=np.uint8)
    digit_class[ord("0") : ord("9") + 1] = 0x80  # every digit alike, and no ASCII character maps there
    forms = ["0000-00-00T00:00:00" + fraction + "Z" for fraction in ["", *("." + "0" * k for k in range(1, 10))]]
    width = max(map(len, forms))
    shapes = np.zeros((width + 1, width), dtype=np.uint8)
    for form in forms:
        shapes[len(form), : len(form)] = digit_class.take(np.frombuffer(form.encode(), dtype=np.uint8))
    return shapes, shapes.any(axis=1), np.arange(width), digit_class


_STAMP_SHAPES, _STAMP_LENGTHS, _STAMP_COLUMNS, _DIGIT_CLASS = _plain_stamps()


def _plain_utc(stamps: list) -> bool:
    """True if every stamp is YYYY-MM-DDTHH:MM:SS[.fraction]Z with ASCII digits, checked in numpy.

    numpy reads that form exactly as datetime.fromisoformat does, but it also takes, without a
    word, what fromisoformat refuses: an offset before the Z, a NUL, a sign, spaces.
    """
    lengths = np.fromiter(map(len, stamps), dtype=np.intp, count=len(stamps))
    if lengths.max() >= len(_STAMP_LENGTHS) or not _STAMP_LENGTHS[lengths].all():
        return False
    try:
        text = np.frombuffer("".join(stamps).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return False
    shapes = _DIGIT_CLASS.take(text)
    if lengths.min() == lengths.max():  # the usual batch: one client, one format
        n = int(lengths[0])
        return bool((shapes.reshape(-1, n) == _STAMP_SHAPES[n, :n]).all())
    return bool((shapes == _STAMP_SHAPES[lengths][_STAMP_COLUMNS < lengths[:, None]]).all())


def _column(records: list, name: str, default) -> list:
    try:
        return list(map(itemgetter(name), records))
    except KeyError:
        return [r.get(name, default) for r in records]


def _codes(values: list) -> tuple[list, list]:
    """Small-integer codes for `values` and the distinct values, at C speed (no Python loop)."""
    distinct = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(distinct)}
    return list(map(index.__getitem__, values)), distinct


def _fast_streams(records: list, service) -> tuple:
    route_codes, routes = _codes(_column(records, "route", DEFAULT_ROUTE))
    service_codes, services = _codes(_column(records, "service", service))
    if not all(map(_valid_route, routes)) or not all(map(_valid_service, services)):
        return None, None
    stream = np.array(service_codes, dtype=np.int64) * len(routes) + np.array(route_codes, dtype=np.int64)
    used, stream = np.unique(stream, return_inverse=True)
    pairs = [(services[k // len(routes)], routes[k % len(routes)]) for k in used.tolist()]
    return stream.astype(np.int64), pairs


def _valid_route(route) -> bool:
    # No NUL: PostgreSQL cannot store one in a text column.
    return isinstance(route, str) and 0 < len(route) <= MAX_ROUTE and route != ALL_ROUTES and "\x00" not in route


def _iso_epoch(value: str) -> float:
    if "\x00" in value:  # fromisoformat takes "...00\x00Z" as a time
        raise ValueError("NUL in a time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_timezone.utc)  # access logs without an offset are UTC
    return parsed.timestamp()


def _record_errors(records, service, label, now, skip_none=False) -> dict:
    """Every problem in every sample, keyed "<label>.<field>"."""
    now_s = (now or timezone.now()).timestamp()
    errors = {}
    for i, record in enumerate(records):
        if record is None and skip_none:
            continue
        for name, message in _sample_problems(record, service, now_s).items():
            errors[f"{label(i)}.{name}" if name else label(i)] = message
    return errors


def _sample_problems(record, service, now_s: float) -> dict:
    if not isinstance(record, dict):
        return {"": "must be a JSON object with ts, latency_ms and status"}
    problems = {}
    try:
        _epoch_of(record.get("ts"), now_s)
    except ValueError as exc:
        problems["ts"] = str(exc)
    latency: Any = record.get("latency_ms")
    if type(latency) not in (int, float) or not _finite(latency):
        problems["latency_ms"] = "must be a finite number of milliseconds"
    elif latency < 0:
        problems["latency_ms"] = "must not be negative"
    elif latency > sketch.MAX_MS:
        problems["latency_ms"] = "must be at most a day (86400000 ms)"
    status = record.get("status")
    if type(status) is not int or not 100 <= status <= 599:
        problems["status"] = "must be an HTTP status code (100-599)"
    if not _valid_route(record.get("route", DEFAULT_ROUTE)):
        problems["route"] = f"must be a path of 1-{MAX_ROUTE} characters (not '*', no NUL)"
    svc = record.get("service", service)
    if svc is None:
        problems["service"] = "is required (in the sample, the batch or ?service=)"
    elif not _valid_service(svc):
        problems["service"] = "must be 1-100 letters, digits, . _ -"
    return problems


def _epoch_of(value, now_s: float) -> float:
    if value is None:
        raise ValueError("is required (ISO 8601 or epoch seconds)")
    if type(value) in (int, float):
        if not _finite(value):
            raise ValueError("must be a finite number of epoch seconds")
        epoch = float(value)
    elif isinstance(value, str):
        try:
            epoch = _iso_epoch(value)
        except ValueError:
            raise ValueError("is not an ISO 8601 time") from None
    else:
        raise ValueError("must be an ISO 8601 string or epoch seconds")
    if not math.isfinite(epoch) or epoch < EARLIEST_TS:
        raise ValueError("is before 2000 (milliseconds sent as seconds?)")
    if epoch > now_s + FUTURE_SLACK_S:
        raise ValueError("is more than an hour in the future")
    return epoch


def _finite(number) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


def _slow_columns(records: list, service, now_s: float) -> Samples:
    codes: dict = {}
    stream = [codes.setdefault((r.get("service", service), r.get("route", DEFAULT_ROUTE)), len(codes)) for r in records]
    return Samples(
        epoch_s=np.array([_epoch_of(r["ts"], now_s) for r in records], dtype=np.float64),
        latency_ms=np.array([float(r["latency_ms"]) for r in records], dtype=np.float64),
        status=np.array([r["status"] for r in records], dtype=np.int64),
        stream=np.array(stream, dtype=np.int64),
        streams=list(codes),
    )


# --- folding into rollups --------------------------------------------------------------------------


@dataclass
class Delta:
    """What one batch adds to one rollup row."""

    count: int = 0
    errors: int = 0
    latency_sum_ms: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    counts: np.ndarray = field(default_factory=sketch.empty)

    def add(self, other: "Delta") -> None:
        self.count += other.count
        self.errors += other.errors
        self.latency_sum_ms += other.latency_sum_ms
        self.statuses.update(other.statuses)
        self.counts += other.counts


def fold(samples: Samples) -> dict:
    """{(service, route, resolution, start epoch): Delta} for every row the batch touches."""
    minute = (samples.epoch_s // 60).astype(np.int64)
    keys, group = np.unique(samples.stream * (1 << 40) + minute, return_inverse=True)
    n = keys.size
    positions = sketch.bucket_positions(samples.latency_ms)
    matrix = np.bincount(group * sketch.SIZE + positions, minlength=n * sketch.SIZE).reshape(n, sketch.SIZE)
    counts = np.bincount(group, minlength=n)
    errors = np.bincount(group, weights=samples.status >= 500, minlength=n)
    sums = np.bincount(group, weights=samples.latency_ms, minlength=n)
    status_keys, status_counts = np.unique(group * 1000 + samples.status, return_counts=True)
    per_group: list[Counter[str]] = [Counter() for _ in range(n)]
    for key, cnt in zip(status_keys.tolist(), status_counts.tolist(), strict=False):
        per_group[key // 1000][str(key % 1000)] += cnt
    deltas: dict = {}
    for g, key in enumerate(keys.tolist()):
        service, route = samples.streams[key >> 40]
        start = (key & ((1 << 40) - 1)) * 60
        one = Delta(int(counts[g]), int(errors[g]), float(sums[g]), per_group[g], matrix[g].astype(np.int64))
        for res, seconds in _SECONDS.items():
            for r in (route, ALL_ROUTES):
                deltas.setdefault((service, r, res, start - start % seconds), Delta()).add(one)
    return deltas


# --- storing ------------------------------------------------------------------------------------------


@transaction.atomic
def store(deltas: dict, now: datetime | None = None) -> int:
    """Store the deltas, then build the hour and day rows of the hours this batch closed; returns the
    rows written (rollup rows and parts).

    A minute still open takes the batch's figures as one small part per route (RollupPart); the
    service's first batch with samples of a later minute folds the parts of the minutes before it
    into their minute rows (each written once, "*" included) and deletes them. A sample for a minute
    that has closed (a late one) goes straight into its minute row. An hour's row is written only
    once its hour has closed (see ClosedHours): a late sample for a closed hour is merged into its
    hour row too, and into its day row once the day has closed. The caller holds the services' locks
    (routes.lock_services), so no other batch of the same service folds a minute or closes an hour
    between the look at the parts and ClosedHours and the commit.

    Each row is written once per batch: a missing row is inserted with its figures, an existing one
    read and updated with the merged figures. The services' locks are what make two batches for the
    same minute add up instead of one overwriting the other.
    """
    if not deltas:
        return 0
    now = now or timezone.now()
    closed = _closed_until(deltas, now)
    folding = _folding(deltas, now)
    rows: dict = {}
    parts: dict = {}
    for key, delta in deltas.items():
        service, route, res, start = key
        if res != Rollup.MINUTE:
            if start + _SECONDS[res] <= closed[service]:
                rows[key] = delta
        elif start < max(folding[service], closed[service]):
            rows[key] = delta
        elif route != ALL_ROUTES:  # the service-wide minute is built from its routes' parts
            parts[key] = delta
    waiting = _waiting(list(folding))
    rows = _with_parts(rows, waiting, folding)
    written = _merge(rows) + _append_parts(parts, waiting)
    return written + close_hours_of(_closing(folding, closed))


def _folding(deltas: dict, now: datetime) -> dict[str, int]:
    """{service: minute epoch}: the batch's services' minutes before it have closed. A batch with
    samples of a later minute closes the minutes before it, never past our own clock's minute (a
    service whose clock runs ahead must not close the minute it is still sending)."""
    ceiling = _floor(_epoch(now), MINUTE)
    latest: dict[str, int] = {}
    for service, _route, res, start in deltas:
        if res == Rollup.MINUTE:
            latest[service] = min(max(latest.get(service, start), start), ceiling)
    return latest


_PART_COLUMNS = ("service", "route", "start", "seq", "count", "errors", "latency_sum_ms", "statuses", "sketch")


def _waiting(services: list[str]) -> list[tuple]:
    """Every part of `services` not folded yet, as _PART_COLUMNS (a minute's worth per route)."""
    if not services:
        return []
    return list(RollupPart.objects.filter(service__in=services).values_list(*_PART_COLUMNS))


def _with_parts(rows: dict, waiting: list[tuple], until: dict[str, int]) -> dict:
    """`rows` (deltas, left as they were) plus the `waiting` parts of minutes before each service's
    `until`, as their route's and the service's minute rows; deletes those parts."""
    due = [part for part in waiting if _epoch(part[2]) < until[part[0]]]
    if not due:
        return rows
    summed = _Sums(rows)
    for service, route, start, _seq, count, errors, latency_sum, statuses, data in due:
        for r in (route, ALL_ROUTES):
            summed.add(
                (service, r, Rollup.MINUTE, _epoch(start)), count, errors, latency_sum, orjson.loads(statuses), data
            )
    services = {part[0] for part in due}
    RollupPart.objects.filter(reduce(or_, [Q(service=s, start__lt=_at(until[s])) for s in services])).delete()
    return summed.deltas()


class _Sums:
    """Stored rows (or parts) summed per rollup key on top of `start` (deltas, left as they were):
    the fold of a minute's parts and the build of an hour or a day from its rows."""

    def __init__(self, start: dict | None = None) -> None:
        self._deltas: dict[tuple, Delta] = {}
        for key, delta in (start or {}).items():
            self._deltas[key] = Delta()
            self._deltas[key].add(delta)
        self._latency_sums: dict[tuple, list[float]] = {}

    def add(
        self, key: tuple, count: int, errors: int, latency_sum: float, statuses: dict, data: bytes | memoryview
    ) -> None:
        """Add one stored row's figures to `key`'s sum."""
        delta = self._deltas.setdefault(key, Delta())
        delta.count += count
        delta.errors += errors
        delta.statuses.update(statuses)
        sketch.decode_into(data, delta.counts)
        self._latency_sums.setdefault(key, [delta.latency_sum_ms]).append(latency_sum)

    def deltas(self) -> dict[tuple, Delta]:
        """The sums by key, each latency sum added exactly (fsum), whatever order the rows came in."""
        for key, latency_sums in self._latency_sums.items():
            self._deltas[key].latency_sum_ms = math.fsum(latency_sums)
        return self._deltas


def _append_parts(parts: dict, waiting: list[tuple]) -> int:
    """Append one part per (service, route, minute) of `parts`, numbered after the service's
    `waiting` ones; returns how many."""
    if not parts:
        return 0
    last: dict[str, int] = {}
    for service, _route, _start, seq, *_rest in waiting:
        last[service] = max(last.get(service, 0), seq)
    rows = []
    for (service, route, _res, start), d in parts.items():
        last[service] = last.get(service, 0) + 1
        statuses = orjson.dumps(dict(d.statuses)).decode()
        rows.append([service, route, start, last[service], d.count, d.errors, d.latency_sum_ms, statuses])
        rows[-1].append(sketch.encode_few(d.counts))
    table = connection.ops.quote_name(RollupPart._meta.db_table)
    columns = "service, route, start, seq, count, errors, latency_sum_ms, statuses, sketch"
    with connection.cursor() as cursor:
        # One statement however many parts (Django's bulk_create splits at SQLite's 999 parameters).
        if connection.vendor == "sqlite":
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, datetime(%s, 'unixepoch'), %s, %s, %s, %s, %s, %s)",
                rows,
            )
        else:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT v->>0, v->>1, to_timestamp((v->>2)::bigint),"
                " (v->>3)::int, (v->>4)::int, (v->>5)::int, (v->>6)::float8, v->>7,"
                " decode(v->>8, 'hex') FROM json_array_elements(%s::json) v",
                [orjson.dumps([[*row[:-1], row[-1].hex()] for row in rows]).decode()],
            )
    return len(parts)


def fold_parts(until: dict[str, int]) -> int:
    """Fold the parts of each service's minutes before `until` (epoch) into their minute rows and
    delete them; returns the minute rows written. The caller holds the services' locks."""
    return _merge(_with_parts({}, _waiting(list(until)), until))


def _merge(deltas: dict) -> int:
    if not deltas:
        return 0
    ordered = sorted(deltas, key=_lock_order)
    existing = _insert_or_lock(ordered, deltas)
    updates = []
    for key, (pk, count, errors, latency_sum, statuses, data) in existing.items():
        delta = deltas[key]
        merged = Counter(statuses if isinstance(statuses, dict) else orjson.loads(statuses or "{}"))
        merged.update(delta.statuses)
        updates.append(
            (
                count + delta.count,
                errors + delta.errors,
                latency_sum + delta.latency_sum_ms,
                orjson.dumps(dict(merged)).decode(),
                sketch.encode(sketch.decode_into(data, delta.counts.copy())),
                pk,
            )
        )
    _write_rows(updates)
    return len(ordered)


def _lock_order(key: tuple) -> tuple:
    service, route, res, start = key
    return service, res, route, start


def _insert_or_lock(ordered: list, deltas: dict) -> dict:
    """Insert the rows that are missing with their deltas; {key: (pk, count, errors, latency_sum_ms,
    statuses, sketch)} of the rows that were there. The caller holds the services' locks (PostgreSQL)
    or the database's write lock (SQLite's IMMEDIATE transactions), and every writer of a service's
    rows takes them, so what is read here stays as read until the commit: read, then write."""
    existing = _read_rows(ordered)
    missing = [key for key in ordered if key not in existing]
    if connection.vendor == "postgresql":
        _insert_missing_postgres(missing, deltas)
    else:
        _insert_missing_sqlite(missing, deltas)
    return existing


# One statement however many series a batch holds (a query per series made a batch of 10,000
# services take minutes): the rows go in as one JSON list. A plain insert: under the services' lock
# nobody else inserts them, and ON CONFLICT's speculative insertion logged one more WAL record per
# row.
_INSERT = (
    "INSERT INTO {table} (service, route, resolution, start, count, errors, latency_sum_ms, statuses, sketch)"
    " SELECT v->>0, v->>1, v->>2, to_timestamp((v->>3)::bigint), (v->>4)::bigint, (v->>5)::bigint,"
    " (v->>6)::float8, (v->7)::jsonb, decode(v->>8, 'hex')"
    " FROM json_array_elements(%s::json) WITH ORDINALITY AS k(v, n) ORDER BY n"
)

_READ_ROWS = {
    "postgresql": (
        # LATERAL ... LIMIT 1: one unique-index lookup per key, whatever the planner guesses of the list.
        # As a row comparison, which only the unique index (service, route, resolution, start) can
        # answer: with four equalities, a table without statistics yet (a new database) was probed
        # through the expiry index (resolution, start), every series of the minute read per key
        # (2 s for a batch of 4,800 keys). The next row in key order is the row when it matches.
        "SELECT k.n, r.id, r.count, r.errors, r.latency_sum_ms, r.statuses, r.sketch"
        " FROM json_array_elements(%s::json) WITH ORDINALITY AS k(v, n) CROSS JOIN LATERAL"
        " (SELECT * FROM {table} WHERE (service, route, resolution, start)"
        " >= (v->>0, v->>1, v->>2, to_timestamp((v->>3)::bigint))"
        " ORDER BY service, route, resolution, start LIMIT 1) r"
        " WHERE r.service = v->>0 AND r.route = v->>1 AND r.resolution = v->>2"
        " AND r.start = to_timestamp((v->>3)::bigint)"
    ),
    "sqlite": (
        "SELECT CAST(k.key AS INTEGER) + 1, r.id, r.count, r.errors, r.latency_sum_ms, r.statuses, r.sketch"
        " FROM json_each(%s) AS k JOIN {table} r ON r.service = json_extract(k.value, '$[0]')"
        " AND r.route = json_extract(k.value, '$[1]') AND r.resolution = json_extract(k.value, '$[2]')"
        " AND r.start = datetime(json_extract(k.value, '$[3]'), 'unixepoch')"
    ),
}


def _table() -> str:
    return connection.ops.quote_name(Rollup._meta.db_table)


def _delta_row(key: tuple, delta: Delta) -> list:
    statuses = dict(delta.statuses)
    return [*key, delta.count, delta.errors, delta.latency_sum_ms, statuses, sketch.encode(delta.counts).hex()]


def _insert_missing_postgres(keys: list, deltas: dict) -> None:
    if not keys:
        return
    rows = [_delta_row(key, deltas[key]) for key in keys]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT.format(table=_table()), [orjson.dumps(rows).decode()])


def _read_rows(keys: list) -> dict:
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_READ_ROWS[connection.vendor].format(table=_table()), [orjson.dumps(keys).decode()])
        return {keys[n - 1]: tuple(rest) for n, *rest in cursor.fetchall()}


def _insert_missing_sqlite(keys: list, deltas: dict) -> None:
    rows = []
    for key in keys:
        delta = deltas[key]
        statuses = orjson.dumps(dict(delta.statuses)).decode()
        rows.append((*key, delta.count, delta.errors, delta.latency_sum_ms, statuses, sketch.encode(delta.counts)))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_table()} (service, route, resolution, start, count, errors, latency_sum_ms, statuses,"
            " sketch) VALUES (%s, %s, %s, datetime(%s, 'unixepoch'), %s, %s, %s, %s, %s)",
            rows,
        )


def _write_rows(updates: list) -> None:
    # Not bulk_update: Django builds a CASE expression per field and row, and resolving those cost
    # ten times more than the database work itself.
    if not updates:
        return
    table = _table()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":  # SQLite's executemany is one C loop with no round trips
            cursor.executemany(
                f"UPDATE {table} SET count = %s, errors = %s, latency_sum_ms = %s, statuses = %s,"
                f" sketch = %s WHERE id = %s",
                updates,
            )
            return
        rows = [
            (count, errors, total, statuses, data.hex(), pk) for count, errors, total, statuses, data, pk in updates
        ]
        cursor.execute(
            f"UPDATE {table} r SET count = (v->>0)::bigint, errors = (v->>1)::bigint, latency_sum_ms = (v->>2)::float8,"
            f" statuses = (v->>3)::jsonb, sketch = decode(v->>4, 'hex')"
            f" FROM json_array_elements(%s::json) v WHERE r.id = (v->>5)::bigint",
            [orjson.dumps(rows).decode()],
        )


def ingest(samples: Samples, now: datetime | None = None) -> dict:
    """Fold and store a checked batch; returns {"accepted": n, "rows": written}.

    A route past its service's SLO_MAX_ROUTES_PER_SERVICE is stored as the route "other"
    (slo/routes.py); every sample is counted.
    """
    # No savepoint of its own (store() makes one): this only gives cap_routes and the closing of
    # hours the transaction they need, and a savepoint costs two more round trips per batch.
    with transaction.atomic(savepoint=False):
        # Every service of the batch at once, in key order, before cap_routes takes some of them:
        # two batches taking them in different orders could deadlock.
        lock_services(sorted({service for service, _ in samples.streams}))
        rows = store(fold(cap_routes(samples)), now)
    return {"accepted": len(samples), "rows": rows}


# --- closing hours and days ---------------------------------------------------------------------------


def _closed_until(deltas: dict, now: datetime) -> dict[str, int]:
    """{service: hours_until epoch} of the batch's services, making the row of a service new to it.

    A new service's hours are open from the batch's first hour, but never from before the oldest
    whole hour the minute rows still hold: a service whose rows predate ClosedHours has complete
    hour rows, and its older minutes may be gone.
    """
    found = {
        service: _epoch(until)
        for service, until in ClosedHours.objects.filter(service__in={key[0] for key in deltas}).values_list(
            "service", "hours_until"
        )
    }
    oldest_kept = -(-(_epoch(now) - settings.SLO_MINUTE_RETENTION_DAYS * DAY) // HOUR) * HOUR
    first: dict[str, int] = {}
    for service, _route, res, start in deltas:
        if service not in found and res == Rollup.MINUTE:
            first[service] = min(first.get(service, start), start)
    new = {service: max(_floor(start, HOUR), oldest_kept) for service, start in first.items()}
    ClosedHours.objects.bulk_create(
        [ClosedHours(service=s, hours_until=_at(t), days_until=_at(_floor(t, DAY))) for s, t in new.items()],
        ignore_conflicts=True,  # cannot happen under the services' lock; harmless if it did
    )
    return {**found, **new}


def _closing(folding: dict[str, int], closed: dict[str, int]) -> dict[str, tuple[int, int]]:
    """{service: (hours_until, new hours_until)} of the services whose batch reached a later hour:
    the hours before the minute the batch closes (`folding`, already held back to our own clock's
    minute, so never the hour a service whose clock runs ahead is still sending)."""
    targets = {service: _floor(minute, HOUR) for service, minute in folding.items()}
    return {service: (closed[service], t) for service, t in targets.items() if t > closed[service]}


def close_hours_of(ranges: dict[str, tuple[int, int]]) -> int:
    """Build the hour rows of each service's hours in [from, to) from their minute rows, and the day
    rows of the days that ended by `to` from their hour rows, then move its ClosedHours on; returns
    the rows written. The caller holds the services' locks, in a transaction."""
    if not ranges:
        return 0
    written = _build(Rollup.MINUTE, Rollup.HOUR, ranges)
    day_ranges = {s: (_floor(a, DAY), _floor(b, DAY)) for s, (a, b) in ranges.items() if _floor(b, DAY) > a}
    written += _build(Rollup.HOUR, Rollup.DAY, day_ranges)
    by_target: dict[int, list[str]] = {}
    for service, (_a, b) in ranges.items():
        by_target.setdefault(b, []).append(service)
    for until, services in by_target.items():
        ClosedHours.objects.filter(service__in=services).update(
            hours_until=_at(until), days_until=_at(_floor(until, DAY))
        )
    return written


def _build(source: str, target: str, ranges: dict[str, tuple[int, int]]) -> int:
    """Write the `target` rows of each service's [from, to) as the sums of its `source` rows there,
    replacing what those rows held (rows written before ClosedHours held part of an hour)."""
    ranges = {s: (a, b) for s, (a, b) in ranges.items() if a < b}
    if not ranges:
        return 0
    step = _SECONDS[target]
    rows = Rollup.objects.filter(
        resolution=source,
        service__in=ranges,
        start__gte=_at(min(a for a, _ in ranges.values())),
        start__lt=_at(max(b for _, b in ranges.values())),
    ).values_list("service", "route", "start", "count", "errors", "latency_sum_ms", "statuses", "sketch")
    summed = _Sums()
    for service, route, start, count, errors, latency_sum, statuses, data in rows:
        a, b = ranges[service]
        epoch = _epoch(start)
        if a <= epoch < b:
            summed.add((service, route, target, _floor(epoch, step)), count, errors, latency_sum, statuses, data)
    built = summed.deltas()
    Rollup.objects.bulk_create(
        [
            Rollup(
                service=service,
                route=route,
                resolution=res,
                start=_at(start),
                count=delta.count,
                errors=delta.errors,
                latency_sum_ms=delta.latency_sum_ms,
                statuses=dict(delta.statuses),
                sketch=sketch.encode(delta.counts),
            )
            for (service, route, res, start), delta in built.items()
        ],
        update_conflicts=True,
        unique_fields=["service", "route", "resolution", "start"],
        update_fields=["count", "errors", "latency_sum_ms", "statuses", "sketch"],
    )
    return len(built)


def close_hours(now: datetime | None = None) -> dict[str, int]:
    """Fold the parts of minutes that ended CLOSE_AFTER ago or more, then build the hour and day rows
    of every service whose open hour ended that long ago (services gone quiet: a sending service's
    own batches fold its minutes and close its hours); returns {service: rows written}.

    Each service in a transaction of its own, under its lock, so it runs beside ingest and beside
    another run of itself (the second finds nothing left to do).
    """
    now = now or timezone.now()
    minute = _floor(_epoch(now - CLOSE_AFTER), MINUTE)
    target = _floor(minute, HOUR)
    behind = ClosedHours.objects.filter(hours_until__lt=_at(target)).values_list("service", flat=True)
    waiting = RollupPart.objects.filter(start__lt=_at(minute)).values_list("service", flat=True).distinct()
    built = {}
    for service in sorted({*behind, *waiting}):
        with transaction.atomic():
            lock_services([service])
            written = fold_parts({service: minute})  # before the hours are built from the minute rows
            closed = ClosedHours.objects.filter(service=service).values_list("hours_until", flat=True).first()
            until = _epoch(closed) if closed else target  # as of the lock
            if until < target:
                written += close_hours_of({service: (until, target)})
            if written:
                built[service] = written
    return built


# Each resolution's retention setting (days), by name: read here, and listed on the ops card.
RETENTION_SETTINGS = {
    Rollup.MINUTE: ("minute", "SLO_MINUTE_RETENTION_DAYS"),
    Rollup.HOUR: ("hour", "SLO_HOUR_RETENTION_DAYS"),
    Rollup.DAY: ("day", "SLO_DAY_RETENTION_DAYS"),
}


# A row is kept while a coarser row still has to be built from it: minutes until their hour is
# built, hours until their day is.
_BUILT_BY = {Rollup.MINUTE: "hours_until", Rollup.HOUR: "days_until"}


def expire(now: datetime | None = None) -> dict:
    """Close the hours of quiet services, then delete rollup rows past their resolution's
    retention whose hour or day row is built; returns deleted counts."""
    now = now or timezone.now()
    close_hours(now)
    deleted = {}
    for res, (_, setting) in RETENTION_SETTINGS.items():
        days = getattr(settings, setting)
        old = Rollup.objects.filter(resolution=res, start__lt=now - timedelta(days=days))
        if res in _BUILT_BY:
            unbuilt = ClosedHours.objects.filter(
                service=OuterRef("service"), **{f"{_BUILT_BY[res]}__lte": OuterRef("start")}
            )
            old = old.exclude(Exists(unbuilt))
        deleted[res], _ = old.delete()
    return deleted
