"""Readiness checks. Apps add theirs with `register_check` from their AppConfig.ready()."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import caches
from django.db import connection
from django_q.brokers import get_broker

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


def run_checks() -> dict[str, CheckResult]:
    """Run every registered check; one that raises counts as failed, with its error as detail."""
    results = {}
    for name, check in _CHECKS.items():
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
    from .events import log_dir_problem

    problem = log_dir_problem()
    return CheckResult(problem is None, problem or "writable")


def register_builtin_checks() -> None:
    register_check("database", database_check)
    register_check("log_dir", log_dir_check)
    register_check("broker", broker_check)
    register_check("cache", cache_check)
