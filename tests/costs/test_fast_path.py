"""Scripts' authorize and usage calls are answered in front of Django (echopilot.fastpath), by the
WSGI application the servers run, and get exactly Django's answer; every other request still goes
through Django and DRF.

Each test calls two WSGI applications as a server does, with the same request: `served`, built as
echopilot.wsgi builds what gunicorn runs (the fast paths in front of Django), and `django_only`,
Django's own handler. Both are built by each test, after its settings: middleware reads them once."""

import json
import logging
from decimal import Decimal

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from django.urls import get_resolver
from prometheus_client import REGISTRY

from costs import services
from costs.models import SpendEntry
from echopilot import fastpath, wsgi
from slo import middleware as slo_middleware

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("connection_stays_open")]

JSON = "application/json"


def served():
    return fastpath.FastPaths(WSGIHandler())


def django_only():
    return WSGIHandler()


class Answer:
    def __init__(self, status: str, headers: list, body: bytes):
        self.status = status
        self.status_code = int(status.split()[0])
        self.header_list = headers
        self.headers = dict(headers)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def seen_by_a_caller(self) -> tuple:
        """Status line, every header but the length (DRF and orjson may space a number differently), body."""
        assert self.headers["Content-Length"] == str(len(self.body))
        return self.status, [h for h in self.header_list if h[0] != "Content-Length"], self.json()


def call(app, path, body, *, method="POST", key=None, content_type=JSON, **meta) -> Answer:
    """One request through `app`, as a WSGI server makes it (the response closed once read)."""
    if key is not None:
        meta["HTTP_X_DASH_KEY"] = key
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    environ = RequestFactory().generic(method, path, data, content_type=content_type, **meta).environ
    started = {}
    chunks = app()(environ, lambda status, headers, exc_info=None: started.update(status=status, headers=headers))
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return Answer(started["status"], started["headers"], body)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/costs/authorize", {"model": "gpt-4o", "est_usd": "0.25"}),
        ("/api/costs/authorize", {"model": "gpt-4o-mini"}),
        ("/api/costs/authorize", {"model": ""}),
        ("/api/costs/authorize", {"model": "gpt-4o", "est_usd": -1}),
        ("/api/costs/authorize", {"model": "gpt-4o", "est_usd": 1e308}),
        ("/api/costs/authorize", ["gpt-4o"]),
        ("/api/costs/usage", {"model": "gpt-4o", "usd": "lots"}),
        ("/api/costs/usage", {"model": "gpt-4o", "usd": 1, "input_tokens": -5}),
        ("/api/costs/usage", {"usd": 1}),
        ("/api/costs/usage", {"model": "gpt-4o", "usd": 1, "ts": "0001-01-01T00:00:00+14:00"}),
        ("/api/costs/usage", "42"),
    ],
)
def test_the_fast_path_answers_exactly_what_django_answers(admin_key, caps, drf_dispatches, path, body):
    fast = call(served, path, body, key=admin_key)
    assert drf_dispatches == []
    through_django = call(django_only, path, body, key=admin_key)
    assert drf_dispatches == [1]
    assert fast.seen_by_a_caller() == through_django.seen_by_a_caller()
    assert fast.status_code in (200, 400)
    assert fast.headers["X-Frame-Options"] == "DENY" and fast.headers["X-Content-Type-Options"] == "nosniff"


def test_a_usage_report_answers_the_same_through_either_path(admin_key, caps, drf_dispatches):
    report = {"model": "gpt-4o", "usd": "9.25", "input_tokens": 10, "request_id": "r-1"}
    first = call(served, "/api/costs/usage", report, key=admin_key)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    repeat_fast = call(served, "/api/costs/usage", report, key=admin_key)
    repeat_django = call(django_only, "/api/costs/usage", report, key=admin_key)
    assert len(drf_dispatches) == 1
    assert repeat_fast.seen_by_a_caller() == repeat_django.seen_by_a_caller()
    assert repeat_fast.json()["duplicate"] is True
    assert first.json()["usd"] == 9.25  # a JSON number, as DRF's encoder writes a Decimal
    assert SpendEntry.objects.get().usd == Decimal("9.25")


def test_the_env_admin_key_takes_the_fast_path_too(settings, caps, drf_dispatches):
    settings.DASHBOARD_KEY = "ep_env_admin_key_for_the_fast_path"
    answer = call(served, "/api/costs/usage", {"model": "gpt-4o", "usd": "0.5"}, key=settings.DASHBOARD_KEY)
    assert answer.status_code == 200
    assert drf_dispatches == []
    assert SpendEntry.objects.get().usd == Decimal("0.5")


def test_over_https_both_paths_send_the_same_hsts_header(settings, admin_key, caps):
    settings.SECURE_HSTS_SECONDS = 3600
    fast = call(served, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key, secure=True)
    through_django = call(django_only, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key, secure=True)
    assert fast.headers["Strict-Transport-Security"] == "max-age=3600"
    assert fast.seen_by_a_caller() == through_django.seen_by_a_caller()


@pytest.mark.parametrize("key, status", [(None, 401), ("ep_nope_0000000000000000", 401), ("analyst_key", 403)])
def test_without_an_admin_key_django_answers(request, caps, drf_dispatches, key, status):
    if key == "analyst_key":
        key = request.getfixturevalue(key)
    answer = call(served, "/api/costs/usage", {"model": "gpt-4o", "usd": 1}, key=key)
    assert answer.status_code == status
    assert drf_dispatches == [1]
    assert not SpendEntry.objects.exists()


def test_a_malformed_body_is_handed_to_drf_which_words_the_400(admin_key, drf_dispatches):
    answer = call(served, "/api/costs/authorize", '{"model": ', key=admin_key)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("malformed request body: JSON parse error")
    assert drf_dispatches == [1]  # the body the fast path read was given back to Django whole


@pytest.mark.parametrize(
    "change",
    [
        {"HTTP_ACCEPT": "text/html"},  # a browser: the browsable API
        {"path": "/api/costs/authorize?format=json"},
        {"content_type": "application/json; charset=latin-1"},
        {"method": "PUT"},
    ],
)
def test_other_requests_go_to_drf(admin_key, caps, drf_dispatches, change):
    change = dict(change)
    path = change.pop("path", "/api/costs/authorize")
    answer = call(served, path, {"model": "gpt-4o"}, key=admin_key, **change)
    assert drf_dispatches == [1]
    assert answer.status_code in (200, 405)


def test_a_host_outside_allowed_hosts_is_refused_by_django(settings, admin_key, caps, drf_dispatches):
    settings.ALLOWED_HOSTS = ["console.example"]
    answer = call(served, "/api/costs/usage", {"model": "gpt-4o", "usd": 1}, key=admin_key, HTTP_HOST="evil.example")
    assert answer.status_code == 400
    assert drf_dispatches == []
    assert not SpendEntry.objects.exists()


def test_ssl_redirect_still_redirects_a_plain_http_report(settings, admin_key, caps):
    settings.SECURE_SSL_REDIRECT = True
    answer = call(served, "/api/costs/usage", {"model": "gpt-4o", "usd": 1}, key=admin_key)
    assert answer.status_code == 301
    assert answer.headers["Location"] == "https://testserver/api/costs/usage"
    assert not SpendEntry.objects.exists()


def test_a_body_over_the_upload_limit_is_refused_by_django(settings, admin_key, caps):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    answer = call(served, "/api/costs/usage", {"model": "gpt-4o", "usd": 1, "request_id": "x" * 200}, key=admin_key)
    assert answer.status_code == 400
    assert not SpendEntry.objects.exists()


def test_an_unexpected_error_is_logged_and_answered_as_djangos_json_500(admin_key, caps, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the guard broke")

    monkeypatch.setattr(services, "authorize", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        fast = call(served, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key)
    assert fast.status_code == 500
    assert fast.json() == {"error": "internal error", "fields": {}}
    assert fast.headers["X-Frame-Options"] == "DENY"
    logged = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in logged] == ["Internal Server Error: /api/costs/authorize"]
    assert logged[0].exc_info[0] is RuntimeError
    through_django = call(django_only, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key)
    assert fast.seen_by_a_caller() == through_django.seen_by_a_caller()


def test_a_400_is_logged_as_django_logs_it(admin_key, caps, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        call(served, "/api/costs/authorize", {"model": ""}, key=admin_key)
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == [
        "Bad Request: /api/costs/authorize"
    ]


def test_the_request_signals_are_sent_as_for_any_request(admin_key, caps):
    seen = []

    def started(sender, **kwargs):
        seen.append("started")

    def finished(sender, **kwargs):
        seen.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        call(served, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert seen == ["started", "finished"]


def _requests_counted(route: str, status: str) -> float:
    labels = {"route": route, "method": "POST", "status": status}
    return REGISTRY.get_sample_value("echopilot_http_requests_total", labels) or 0


def test_the_request_metrics_count_a_fast_answer_under_djangos_route(admin_key, caps):
    before = _requests_counted("/api/costs/authorize", "200")
    call(served, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key)
    assert _requests_counted("/api/costs/authorize", "200") == before + 1
    call(django_only, "/api/costs/authorize", {"model": "gpt-4o"}, key=admin_key)
    assert _requests_counted("/api/costs/authorize", "200") == before + 2  # the same series
    before_400 = _requests_counted("/api/costs/usage", "400")
    call(served, "/api/costs/usage", {"usd": 1}, key=admin_key)
    assert _requests_counted("/api/costs/usage", "400") == before_400 + 1


def test_a_fast_answer_is_an_slo_sample_of_the_console_like_any_other(settings, admin_key, caps):
    settings.SLO_RECORD_CONSOLE_IN_TESTS = True
    settings.SLO_BUFFER_MAX_SAMPLES = 1000
    settings.SLO_BUFFER_MAX_SECONDS = 3600
    slo_middleware.BUFFER.take()
    call(served, "/api/costs/usage", {"model": "gpt-4o", "usd": 1}, key=admin_key)
    call(served, "/api/costs/usage", {"usd": 1}, key=admin_key)
    call(django_only, "/api/costs/usage", {"usd": 1}, key=admin_key)
    samples = slo_middleware.BUFFER.take()
    assert [(status, route) for _, _, status, route in samples] == [
        (200, "/api/costs/usage"),
        (400, "/api/costs/usage"),
        (400, "/api/costs/usage"),
    ]
    assert all(0 < latency_ms < 10_000 for _, latency_ms, _, _ in samples)


def test_what_the_servers_run_is_the_fast_paths_in_front_of_django():
    assert isinstance(wsgi.application, fastpath.FastPaths)
    assert isinstance(wsgi.application.django_app, WSGIHandler)


def test_the_fast_routes_are_the_two_marked_views_read_from_the_urlconf():
    routes = dict(fastpath._fast_routes(get_resolver()))
    assert set(routes) == {"/api/costs/usage", "/api/costs/authorize"}
    assert {route.name for route in routes.values()} == set(routes)
    assert set(routes["/api/costs/usage"].allow.split(", ")) == {"POST", "OPTIONS"}


def test_the_schema_still_documents_both_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    for path, body in (("/api/costs/usage", "Usage"), ("/api/costs/authorize", "Authorize")):
        request_body = schema["paths"][path]["post"]["requestBody"]["content"][JSON]["schema"]
        assert request_body["$ref"].endswith(f"/{body}")
