"""The cap on a service's distinct routes: past SLO_MAX_ROUTES_PER_SERVICE, a new route is "other".

Route names are free text, so a client that sends /orders/123, /orders/124, ... instead of
/orders/{id} makes three rollup rows per id and minute: a batch of 30,000 ids made 90,003 rows and
took 700 times as long as the same batch templated (bench/slo_routes_bench.py; capped: 156 rows).
A folded sample keeps its count, error and latency, under the route "other" and in the service-wide
row ("*"), so the service's SLOs judge it as before; only its route name is lost.

What stays itself: a route the service already has (however many it has: a service past the cap
before the cap existed keeps its routes), and a route an SLO of the service names (those do not count
toward the cap: a route SLO whose traffic went to "other" would judge nothing).

The routes of a service are read from the rollup table's unique index, one probe per route rather
than a pass over its rows, and kept per process. The database is asked only for a service whose batch
brings a route this process has not seen, or whose copy is older than CACHE_SECONDS, and then in one
query for all of them. A full service whose overflow this process knows folds new routes unasked.

The cap is exact. A batch that asks the database takes a transaction-scoped lock per service it asks
about (PostgreSQL: an advisory lock; SQLite: the IMMEDIATE write lock its transactions already hold)
before it reads the routes, and holds it until its rows commit, so the next worker to ask reads the
routes the first one added. Every new route is added that way: a copy is updated only on commit, and
the routes it lets through unasked are all in the database already. The one exception: a route
whose last rows expire (SLO_DAY_RETENTION_DAYS without a sample) while a process's copy still
has it, and which comes back within that copy's CACHE_SECONDS, can return unasked, one route past
the cap for each such route.
"""

import logging
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
import orjson
from django.conf import settings
from django.db import connection, transaction

from incidents.services import raise_incident

from .models import ALL_ROUTES, Rollup, RollupPart, Slo

if TYPE_CHECKING:
    from .ingest import Samples

log = logging.getLogger(__name__)

OTHER = "other"
# Long enough that a steady service costs a query every few minutes per process, short enough that a
# route whose rows expired, or an SLO made for a route, is seen soon.
CACHE_SECONDS = 300
EXAMPLES = 3
# The first key of the two-key advisory lock; the second is the service's (see _lock_key).
ROUTES_LOCK = 0x5E7C_0002
RUNBOOK = (
    "Send route templates, not paths with ids: /orders/{id}, not /orders/123 (Django: "
    "request.resolver_match.route; Flask: request.url_rule.rule; Express: req.route.path), or raise "
    "SLO_MAX_ROUTES_PER_SERVICE if the service really has that many routes."
)


@dataclass(frozen=True)
class Known:
    """What this process knows of one service's routes: those with rows ("other" among them once the
    service has overflowed), those its SLOs name, and when it read them (time.monotonic)."""

    routes: frozenset[str]
    pinned: frozenset[str]
    at: float

    def counted(self) -> int:
        """The routes that count toward the cap."""
        return len(self.routes - self.pinned - {OTHER})

    def has(self, route: str) -> bool:
        return route == OTHER or route in self.routes or route in self.pinned


_KNOWN: dict[str, Known] = {}


def forget() -> None:
    """Drop this process's copy of every service's routes (tests, or a database restored under it)."""
    _KNOWN.clear()


def cap_routes(samples: "Samples") -> "Samples":
    """`samples` with each route past its service's SLO_MAX_ROUTES_PER_SERVICE renamed "other".

    The busiest new routes of a batch are admitted first, up to the cap. The first time a service
    folds a route, a WARNING incident names it (see `_report`). Must run in the transaction that
    stores the samples: the lock it may take is what keeps a second worker from admitting past the
    cap, and it is released only when the routes it admitted are committed.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("cap_routes runs in the transaction that stores the samples")
    limit = settings.SLO_MAX_ROUTES_PER_SERVICE
    samples = _one_stream_per_route(samples)
    parts = _by_service(samples)
    now = time.monotonic()
    copies = {service: _KNOWN.get(service) for service in parts}  # other threads may replace entries
    asked = _read([service for service, part in parts.items() if not _settled(copies[service], part, limit, now)])
    folded: dict[str, np.ndarray] = {}
    learned: dict[str, Known] = {}
    for service, part in parts.items():
        known = asked.get(service) or copies[service]
        assert known is not None, "a service this process has no copy of is always asked about"
        new = part.new(known)
        room = max(0, limit - known.counted())
        admitted, rest = new[:room], new[room:]
        if rest.size:
            folded[service] = part.index[rest]
        if service in asked:
            # Read under the lock: an "other" missing here is this service's first overflow, once.
            if rest.size and OTHER not in known.routes:
                _report(service, limit, [part.names[i] for i in rest[:EXAMPLES].tolist()])
            names = [part.names[i] for i in admitted.tolist()] + ([OTHER] if rest.size else [])
            learned[service] = replace(known, routes=known.routes.union(names))
    if learned:
        # On commit only: a copy holding routes of a batch that rolled back would let them in unasked.
        transaction.on_commit(lambda: _KNOWN.update(learned))
    return _renamed(samples, folded) if folded else samples


@dataclass
class _Part:
    """One service's streams in a batch: their indices in `streams`, routes and sample counts."""

    index: np.ndarray
    names: list[str]
    weights: np.ndarray

    def new(self, known: Known) -> np.ndarray:
        """Positions (in this part) of the routes `known` lacks, busiest first, then in batch order."""
        new = set(self.names) - known.routes - known.pinned - {OTHER}
        if not new:
            return np.empty(0, dtype=np.intp)
        positions = np.flatnonzero(np.fromiter(map(new.__contains__, self.names), dtype=bool, count=len(self.names)))
        return positions[np.argsort(-self.weights[positions], kind="stable")]


def _one_stream_per_route(samples: "Samples") -> "Samples":
    # Parsed batches never repeat a (service, route) pair; a hand-made one might, and would then
    # have a route admitted twice.
    if len(set(samples.streams)) == len(samples.streams):
        return samples
    streams = list(dict.fromkeys(samples.streams))
    index = {pair: i for i, pair in enumerate(streams)}
    codes = np.array([index[pair] for pair in samples.streams], dtype=np.int64)
    return replace(samples, stream=codes[samples.stream], streams=streams)


def _by_service(samples: "Samples") -> dict[str, _Part]:
    weights = np.bincount(samples.stream, minlength=len(samples.streams))
    services = list(map(itemgetter(0), samples.streams))
    distinct = list(dict.fromkeys(services))
    # A route without samples makes no rows: admitting it would leave the copy naming a route the
    # database does not have.
    live = weights[: len(services)] > 0
    if len(distinct) == 1:  # the usual batch: one client, one service
        groups = {distinct[0]: np.flatnonzero(live)}
    else:
        codes = np.array(list(map({s: i for i, s in enumerate(distinct)}.__getitem__, services)), dtype=np.intp)
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=len(distinct)))[:-1]
        groups = {service: index[live[index]] for service, index in zip(distinct, np.split(order, bounds), strict=True)}
    parts = {}
    for service, index in groups.items():
        if index.size:
            names = list(map(itemgetter(1), map(samples.streams.__getitem__, index.tolist())))
            parts[service] = _Part(index, names, weights[index])
    return parts


def _settled(known: Known | None, part: _Part, limit: int, now: float) -> bool:
    """True when this process's copy of a service decides the batch's routes without the database."""
    if known is None or now - known.at > CACHE_SECONDS:
        return False
    if not part.new(known).size:
        return True
    # Full, and its "other" row is there: a new route folds, whatever other workers did meanwhile
    # (they could not admit one either).
    return known.counted() >= limit and OTHER in known.routes


def _renamed(samples: "Samples", folded: dict[str, np.ndarray]) -> "Samples":
    """`samples` with the `folded` streams (by service) merged into the service's "other" stream."""
    gone = np.zeros(len(samples.streams), dtype=bool)
    for index in folded.values():
        gone[index] = True
    kept = np.flatnonzero(~gone)
    streams = [samples.streams[i] for i in kept.tolist()]
    codes = np.empty(len(samples.streams), dtype=np.int64)
    codes[kept] = np.arange(kept.size)
    others = {pair: i for i, pair in enumerate(streams) if pair[1] == OTHER}
    for service, index in folded.items():
        if (service, OTHER) not in others:
            others[(service, OTHER)] = len(streams)
            streams.append((service, OTHER))
        codes[index] = others[(service, OTHER)]
    # One stream per service for all its folded routes: fold() then makes one group per minute, not
    # one per id.
    return replace(samples, stream=codes[samples.stream], streams=streams)


# A loose index scan: each step asks the unique index (service, route, ...) for the next route after
# the last one, so a service with 50 routes costs 51 probes however many minutes of rows it has.
# The SLOs' routes come in the same query.
_ROUTES = (
    "WITH RECURSIVE asked(service) AS ({asked}),"
    " r(service, route) AS ("
    " SELECT a.service, CAST((SELECT route FROM {rollup} WHERE service = a.service ORDER BY route LIMIT 1) AS TEXT)"
    " FROM asked a"
    " UNION ALL"
    " SELECT r.service, CAST((SELECT route FROM {rollup} WHERE service = r.service AND route > r.route"
    " ORDER BY route LIMIT 1) AS TEXT) FROM r WHERE r.route IS NOT NULL)"
    " SELECT service, route, 0 FROM r WHERE route IS NOT NULL AND route <> %s"
    # A route new this minute has parts only until its minute is folded; the parts are few.
    " UNION ALL SELECT DISTINCT p.service, p.route, 0 FROM {part} p JOIN asked a ON p.service = a.service"
    " UNION ALL SELECT s.service, s.route, 1 FROM {slo} s JOIN asked a ON s.service = a.service WHERE s.route <> ''"
)
# The services as one JSON parameter: a batch may name more of them than a statement takes parameters.
_ASKED = {
    "postgresql": "SELECT value FROM json_array_elements_text(%s::json)",
    "sqlite": "SELECT value FROM json_each(%s)",
}


def _read(services: list[str]) -> dict[str, Known]:
    """The routes of `services` as the database has them, each service locked first (see the module)."""
    if not services:
        return {}
    services = sorted(services)
    quote = connection.ops.quote_name
    sql = _ROUTES.format(
        asked=_ASKED[connection.vendor],
        rollup=quote(Rollup._meta.db_table),
        part=quote(RollupPart._meta.db_table),
        slo=quote(Slo._meta.db_table),
    )
    routes: dict[str, set[str]] = defaultdict(set)
    pinned: dict[str, set[str]] = defaultdict(set)
    with connection.cursor() as cursor:
        lock_services(services)
        cursor.execute(sql, [orjson.dumps(services).decode(), ALL_ROUTES])
        for service, route, is_pinned in cursor.fetchall():
            (pinned if is_pinned else routes)[service].add(route)
    at = time.monotonic()
    return {service: Known(frozenset(routes[service]), frozenset(pinned[service]), at) for service in services}


def lock_services(services: list[str]) -> None:
    """Take the per-service lock of each of `services` until the caller's transaction ends.

    Ingest takes it for every service of a batch (the route cap and the closing of hours both rely
    on it); PostgreSQL only: SQLite's IMMEDIATE transactions already hold the database's write lock.
    Taking it again in the same transaction does not wait.
    """
    if connection.vendor != "postgresql" or not services:
        return
    # Keys in order, one statement: two workers locking the same services queue, never deadlock.
    keys = sorted({_lock_key(service) for service in services})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k", [ROUTES_LOCK, keys])


def _lock_key(service: str) -> int:
    """A stable int4 for `service` (two services may share one: they then take turns, nothing worse)."""
    key = zlib.crc32(service.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


def _report(service: str, limit: int, examples: list[str]) -> None:
    """The WARNING incident of a service's first folded routes: one per service (its fingerprint)."""
    msg = (
        f"SLO ingest: service {service} has reached SLO_MAX_ROUTES_PER_SERVICE={limit} distinct routes; its new"
        f" routes are counted under the route '{OTHER}' (e.g. {', '.join(examples)}). {RUNBOOK}"
    )
    meta = {"service": service, "limit": limit, "folded_routes": examples, "runbook": RUNBOOK}
    try:
        with transaction.atomic():
            raise_incident("WARNING", msg, "slo", meta, fingerprint=f"slo:routes:{service}")
    except Exception:
        # The samples are stored either way: an incident that cannot be raised must not lose them.
        log.exception("could not raise the route overflow incident of service %s", service)
