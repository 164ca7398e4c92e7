"""Records the console's own requests as SLO samples of service "console", without a write per request.

Samples are kept in process and written as one batch when SLO_BUFFER_MAX_SAMPLES have gathered or
SLO_BUFFER_MAX_SECONDS have passed since the last write (checked as requests arrive, and by a small
background thread for a process that has gone quiet), and at exit.
/health, /healthz/strict, /readyz, /metrics and static files are left out: probes and scrapes would
drown the real traffic and make the console look faster than it is.

Under a test run (Django's test environment) nothing is recorded unless a test sets
SLO_RECORD_CONSOLE_IN_TESTS: a flush landing in another app's test would add queries it never made.
"""

import atexit
import logging
import threading
import time

import numpy as np
from django.conf import settings
from django.core import mail
from django.db import connection
from django.http import HttpResponseBase

from echopilot.metrics import route_of

from . import ingest

log = logging.getLogger(__name__)
SERVICE = "console"
SKIPPED_PREFIXES = ("/health", "/readyz", "/metrics", "/static/", "/favicon.ico")


class SampleBuffer:
    """Thread-safe in-process buffer of (epoch, latency_ms, status, route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list = []
        self._last_flush = time.monotonic()
        self._flusher: threading.Thread | None = None
        self._stopping = threading.Event()

    def add(self, epoch: float, latency_ms: float, status: int, route: str) -> None:
        with self._lock:
            self._rows.append((epoch, latency_ms, status, route))
            if self._flusher is None and not hasattr(mail, "outbox"):
                self._start_flusher()
            due = (
                len(self._rows) >= settings.SLO_BUFFER_MAX_SAMPLES
                or time.monotonic() - self._last_flush >= settings.SLO_BUFFER_MAX_SECONDS
            )
        if due:
            self.flush()

    def __len__(self) -> int:
        return len(self._rows)

    def _start_flusher(self) -> None:
        # Started by the first request of each process (after any fork), so a worker that goes
        # quiet still writes what it holds within a few seconds.
        self._stopping.clear()
        self._flusher = threading.Thread(target=self._flush_now_and_then, name="slo-samples", daemon=True)
        self._flusher.start()

    def stop_flusher(self) -> None:
        """Stop the background writer (tests; a process that exits needs nothing)."""
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join()
        self._flusher = None

    def _flush_now_and_then(self) -> None:
        while not self._stopping.wait(settings.SLO_BUFFER_MAX_SECONDS):
            if self._rows and time.monotonic() - self._last_flush >= settings.SLO_BUFFER_MAX_SECONDS:
                self.flush()
                connection.close()  # this thread's own connection; the next flush opens a fresh one

    def take(self) -> list:
        with self._lock:
            rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
        return rows

    def flush(self) -> int:
        """Write what is buffered as one batch; returns how many samples were written.

        A failed write is logged and dropped: measuring the console must never break it.
        """
        rows = self.take()
        if not rows:
            return 0
        try:
            ingest.ingest(_samples(rows))
        except Exception:
            log.exception("could not write %d console SLO samples", len(rows))
            return 0
        return len(rows)


def _samples(rows: list) -> ingest.Samples:
    epochs, latencies, statuses, routes = zip(*rows, strict=False)
    codes: dict = {}
    stream = [codes.setdefault(route, len(codes)) for route in routes]
    return ingest.Samples(
        epoch_s=np.array(epochs, dtype=np.float64),
        latency_ms=np.array(latencies, dtype=np.float64),
        status=np.array(statuses, dtype=np.int64),
        stream=np.array(stream, dtype=np.int64),
        streams=[(SERVICE, route) for route in codes],
    )


BUFFER = SampleBuffer()
atexit.register(lambda: BUFFER.flush() if not hasattr(mail, "outbox") else 0)


def flush() -> int:
    """Write the buffered console samples now (tests and shutdown call this)."""
    return BUFFER.flush()


def _recording() -> bool:
    if not settings.SLO_RECORD_CONSOLE:
        return False
    under_test = hasattr(mail, "outbox")  # set by django.test.utils.setup_test_environment
    return not under_test or getattr(settings, "SLO_RECORD_CONSOLE_IN_TESTS", False)


def record_request(route: str, status: int, elapsed_ms: float) -> None:
    """Keep one answered request of the console as an SLO sample (the middleware's, and the fast
    path's: echopilot.fastpath)."""
    if _recording():
        _add(route, status, elapsed_ms)


def _add(route: str, status: int, elapsed_ms: float) -> None:
    route = route[: ingest.MAX_ROUTE]
    BUFFER.add(time.time(), elapsed_ms, status, route if route != "*" else "/*")


class ConsoleSamplesMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request) -> HttpResponseBase:
        if not _recording() or request.path.startswith(SKIPPED_PREFIXES):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _add(route_of(request), response.status_code, (time.perf_counter() - started) * 1000)
        return response
