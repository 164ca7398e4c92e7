"""The log disk full: the database is the source of truth, so a failed event or snapshot write after
a commit is logged and counted, never changes the answer, and readiness says LOG_DIR is unwritable.
A full disk is the kernel's own ENOSPC, from /dev/full."""

import os

import pytest
from prometheus_client import REGISTRY

from echopilot import events
from incidents.models import Incident

FULL = "/dev/full"  # every write: ENOSPC, "No space left on device"


def failures(name: str) -> float:
    return REGISTRY.get_sample_value("echopilot_log_write_failures_total", {"file": name}) or 0.0


def full(log_dir, name: str) -> None:
    """`<LOG_DIR>/<name>` on a full disk."""
    log_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(FULL, log_dir / name)


@pytest.mark.django_db  # the metrics registry's collectors read the database
def test_an_event_the_full_disk_refuses_is_counted_and_logged_not_raised(log_dir, caplog):
    full(log_dir, "incidents.ndjson")
    before = failures("incidents.ndjson")
    record = events.append_event("incidents", "raised", msg="x")
    assert record["event"] == "raised"
    assert failures("incidents.ndjson") == before + 1
    assert "No space left on device" in caplog.text


@pytest.mark.django_db
def test_a_snapshot_that_cannot_be_written_keeps_the_previous_state_and_is_counted(settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.LOG_DIR = blocker / "logs"  # cannot be created: its parent is a file
    before = failures("costs.json")
    assert events.write_snapshot("costs.json", {"ok": True}) is None
    assert failures("costs.json") == before + 1


@pytest.mark.django_db
def test_an_incident_raised_while_the_disk_is_full_is_answered_as_always_and_counted_once(api, log_dir):
    full(log_dir, "incidents.ndjson")
    body = {"severity": "WARNING", "msg": "disk full drill", "source": "test"}
    first = api.post("/api/incidents/raise", body, content_type="application/json")
    assert first.status_code == 201
    # A client retrying a 500 would double the count: there is no 500 to retry.
    assert Incident.objects.get().count == 1
    second = api.post("/api/incidents/raise", body, content_type="application/json")
    assert second.status_code == 200 and second.json()["count"] == 2


@pytest.mark.django_db
def test_readiness_reports_a_full_log_dir(client, log_dir):
    full(log_dir, events.PROBE)
    response = client.get("/healthz/strict")
    check = response.json()["checks"]["log_dir"]
    assert check["ok"] is False
    assert "not writable: No space left on device" in check["detail"]
    assert "log_dir" in response.json()["failing"]


@pytest.mark.django_db
def test_readiness_passes_a_writable_log_dir(client, log_dir):
    assert client.get("/healthz/strict").json()["checks"]["log_dir"] == {"ok": True, "detail": "writable"}
