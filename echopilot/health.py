"""Health checks. Apps add theirs with `register_check` from their AppConfig.ready().

Two questions are asked of them. /readyz: can this process serve (its dependencies only: the
database, the broker, the cache, every migration applied)? /healthz/strict: is the console healthy,
its apps' checks (SLOs, pager, costs) included?
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import caches
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.brokers import get_broker

from .events import log_dir_problem
from .scrub import scrub

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    ok: bool
    detail: str = ""


_CHECKS: dict[str, Callable[[], CheckResult]] = {}


def register_check(name: str, check: Callable[[], CheckResult]) -> None:
    """Add (or replace) a readiness check; it returns CheckResult and may raise."""
    _CHECKS[name] = check


# What an orchestrator asks before sending traffic: nothing an app judges about the outside world.
DEPENDENCY_CHECKS = ("database", "broker", "cache", "migrations")


def run_checks(names: tuple[str, ...] | None = None) -> dict[str, CheckResult]:
    """Run the registered checks (all, or those named); one that raises counts as failed, with its
    error as detail."""
    results = {}
    for name, check in _CHECKS.items():
        if names is not None and name not in names:
            continue
        try:
            results[name] = check()
        except Exception as exc:  # a broken check must fail readiness, not the endpoint
            log.warning("health check %s raised: %s", name, scrub(str(exc)))
            # The probes are public, and an error's text names hosts, ports and paths (a database
            # outage printed its host): the answer says what kind of error, the log says the rest.
            results[name] = CheckResult(False, f"{type(exc).__name__} (the console's log has the details)")
    return results


def database_check() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return CheckResult(True, connection.vendor)


def broker_check() -> CheckResult:

    broker = get_broker()
    if not broker.ping():
        return CheckResult(False, "broker did not answer ping")
    return CheckResult(True, type(broker).__name__)


def cache_check() -> CheckResult:
    """The cache holds rate limits and queue figures: a write and a read back, under a key of its own."""

    cache = caches["default"]
    cache.set("echopilot:readiness", 1, 30)
    if cache.get("echopilot:readiness") != 1:
        return CheckResult(False, "the cache did not keep a value")
    return CheckResult(True, type(cache).__name__)


def log_dir_check() -> CheckResult:
    """LOG_DIR takes a write: the event files and snapshots the operator tails land there."""
    problem = log_dir_problem()
    return CheckResult(problem is None, problem or "writable")


def migrations_check() -> CheckResult:
    """Every migration on disk is applied: code that expects a column must not serve before it exists."""
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        return CheckResult(False, f"{len(pending)} not applied ({names}); run manage.py migrate")
    return CheckResult(True, "all applied")


def register_builtin_checks() -> None:
    register_check("database", database_check)
    register_check("log_dir", log_dir_check)
    register_check("broker", broker_check)
    register_check("cache", cache_check)
    register_check("migrations", migrations_check)
