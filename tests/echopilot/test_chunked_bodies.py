"""A body sent with Transfer-Encoding: chunked (no Content-Length) is read, or refused with 411;
never acted on as if it were empty."""

import io
import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from slo.models import Slo

pytestmark = pytest.mark.django_db


def chunked_call(path: str, body: bytes, key: str, *, decoded_by_server: bool) -> tuple[str, dict]:
    """One chunked POST through the WSGI application the servers run. gunicorn decodes the chunks
    and says so with wsgi.input_terminated; a server that does not leaves the length unknown."""
    from echopilot.wsgi import application

    environ = RequestFactory().generic("POST", path, b"", content_type="application/json").environ
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "HTTP_X_DASH_KEY": key,
            "wsgi.input": io.BytesIO(body),
        }
    )
    if decoded_by_server:
        environ["wsgi.input_terminated"] = True
    started = {}
    # As Django's test client does: the request signals would close the test's connection, which
    # sits in the test's transaction (on PostgreSQL, a connection out of autocommit is closed).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, lambda status, headers, exc_info=None: started.update(status=status))
        try:
            answer = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return started["status"], json.loads(answer)


def test_a_chunked_rebaseline_naming_an_unknown_slo_is_refused_not_applied_to_the_default(admin_key):
    before = list(Slo.objects.values_list("name", "baseline_at"))
    status, body = chunked_call("/api/slo/rebaseline", b'{"slo": "no-such-slo"}', admin_key, decoded_by_server=True)
    assert status.startswith("400")
    assert "no-such-slo" in body["fields"]["slo"]
    assert list(Slo.objects.values_list("name", "baseline_at")) == before


def test_a_chunked_incident_is_raised_with_its_body(admin_key):
    from incidents.models import Incident

    raw = json.dumps({"severity": "WARNING", "msg": "sent in chunks", "source": "ci"}).encode()
    status, body = chunked_call("/api/incidents/raise", raw, admin_key, decoded_by_server=True)
    assert status.startswith("201")
    assert Incident.objects.get().message == "sent in chunks"


def test_a_chunked_body_the_server_did_not_decode_is_a_411(admin_key):
    status, body = chunked_call("/api/incidents/raise", b'{"msg": "x"}', admin_key, decoded_by_server=False)
    assert status.startswith("411")
    assert body["error"].startswith("a request body needs Content-Length")
