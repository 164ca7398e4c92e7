"""Prometheus metrics: request count and latency by route and status, plus what apps register.

Under gunicorn with several workers the console sets PROMETHEUS_MULTIPROC_DIR itself
(`echopilot.multiproc`, from gunicorn.conf.py or the WSGI entry), so the counters of every worker
are summed at scrape time. Names follow Prometheus' conventions: counters end in `_total`, ratios
from 0 to 1 in `_ratio`, no time window in a name (PromQL's increase() windows counters), and no
empty label values.
"""

import os
import time
from collections.abc import Callable, Iterable, Iterator

from django.http import HttpResponseBase
from django.urls import Resolver404, resolve
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import queue

REQUESTS = Counter("echopilot_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "echopilot_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_SCRAPE_COLLECTORS: list[Callable[[], Iterable]] = []


def register_collector(collect: Callable[[], Iterable]) -> None:
    """Add a function yielding metric families, computed at scrape time (e.g. from the database)."""
    _SCRAPE_COLLECTORS.append(collect)


class _ScrapeTimeCollector(Collector):
    def describe(self) -> list:
        # Without describe(), registering calls collect() to learn the names: a database query
        # while Django is still loading its apps (and on every manage.py command).
        return []

    def collect(self) -> Iterator[Metric]:
        for collect in _SCRAPE_COLLECTORS:
            yield from collect()


def queue_metrics() -> Iterator[GaugeMetricFamily]:

    depth = GaugeMetricFamily("echopilot_queue_depth", "Tasks waiting in the django-q2 broker")
    depth.add_metric([], queue.queue_depth())
    yield depth


register_collector(queue_metrics)
_scrape_collector = _ScrapeTimeCollector()
REGISTRY.register(_scrape_collector)


def render_latest() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_scrape_collector)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def route_of(request) -> str:
    """The URL pattern that served the request, so /api/x?id=1 and /api/x?id=2 are one series."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "<unmatched>"
    return "/" + match.route if match.route else match.view_name


def observe_request(route: str, method: str, status: int, elapsed_s: float) -> None:
    """Count one answered request in the request metrics (the middleware's, and the fast path's)."""
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(elapsed_s)


class RequestMetricsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(route_of(request), request.method, response.status_code, time.perf_counter() - started)
        return response
