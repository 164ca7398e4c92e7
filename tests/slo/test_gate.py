"""The deploy gate: shuts after 2 hours of burn above 2x, lifted by the admin, the API or the flag file."""

from datetime import timedelta

import pytest
from django.test import Client

from incidents.models import Incident
from slo import gate
from slo.models import GateShut, Slo, SloState

from .conftest import NOW


@pytest.fixture
def burning(slo, feed):
    """10% errors (10x the 1% budget) from an hour before NOW to 2.5 hours after it."""
    feed(NOW - timedelta(hours=1), 210, per_minute=60, error_share=0.1)
    return slo


def _evaluate_every_15_minutes(slo, until: timedelta):
    shut, t = None, timedelta(0)
    while t <= until:
        shut = gate.evaluate(slo, NOW + t) or shut
        t += timedelta(minutes=15)
    return shut


def test_gate_does_not_shut_after_one_hour_fifty_nine(burning):
    _evaluate_every_15_minutes(burning, timedelta(hours=1, minutes=45))
    assert gate.evaluate(burning, NOW + timedelta(hours=1, minutes=59)) is None
    assert not GateShut.objects.exists()
    assert not gate.flag_path().exists()
    assert not gate.is_active()


def test_gate_shuts_after_two_hours_of_sustained_burn(burning, api):
    _evaluate_every_15_minutes(burning, timedelta(hours=1, minutes=45))
    shut = gate.evaluate(burning, NOW + timedelta(hours=2))
    assert shut is not None and shut.burn > 2
    flag = gate.flag_path().read_text()
    assert f"gate_id={shut.pk}" in flag and "SLO api" in flag
    incident = Incident.objects.get(fingerprint=f"slo:{burning.pk}:gate")
    assert incident.severity == "CRITICAL" and incident.status == "open"
    response = api.get("/api/deploy/gate")
    assert response.status_code == 423
    assert "burn" in response.json()["reason"]
    assert gate.is_active() and "SLO api" in gate.reason()
    # A second evaluation while shut does not shut twice.
    assert gate.evaluate(burning, NOW + timedelta(hours=2, minutes=15)) is None
    assert GateShut.objects.count() == 1


def test_a_gap_in_evaluations_restarts_the_count(burning):
    gate.evaluate(burning, NOW)
    assert gate.evaluate(burning, NOW + timedelta(hours=2)) is None  # nobody looked for 2h
    assert SloState.objects.get(slo=burning).gate_pending_since == NOW + timedelta(hours=2)


def test_too_few_requests_never_shut_the_gate(burning):
    burning.min_events = 100_000
    burning.save()
    assert _evaluate_every_15_minutes(burning, timedelta(hours=2, minutes=30)) is None


def _shut(slo):
    _evaluate_every_15_minutes(slo, timedelta(hours=2))
    return GateShut.objects.get(lifted_at__isnull=True)


def test_deleting_the_flag_file_lifts_the_gate(burning, analyst_api):
    shut = _shut(burning)
    gate.flag_path().unlink()
    response = analyst_api.get("/api/deploy/gate")
    assert response.status_code == 200 and response.json()["gate"] == "open"
    shut.refresh_from_db()
    assert shut.lifted_at is not None and shut.lifted_by.startswith("flag file deleted on ")
    assert Incident.objects.get(fingerprint=f"slo:{burning.pk}:gate").status == "resolved"


def test_another_host_without_the_flag_writes_it_instead_of_lifting(burning, settings, tmp_path):
    shut = _shut(burning)
    settings.LOG_DIR = tmp_path / "host-b-logs"  # a second web host with its own logs folder
    assert gate.is_active()
    assert gate.flag_path().exists()
    shut.refresh_from_db()
    assert shut.lifted_at is None and len(shut.flag_hosts) == 2


def test_lifting_through_the_api_needs_a_note_and_an_admin(burning, api, analyst_key):
    _shut(burning)
    assert (
        Client(HTTP_X_DASH_KEY=analyst_key)
        .post("/api/deploy/gate/lift", {"note": "x"}, content_type="application/json")
        .status_code
        == 403
    )
    assert api.post("/api/deploy/gate/lift", {}, content_type="application/json").json()["fields"].keys() == {"note"}
    response = api.post("/api/deploy/gate/lift", {"note": "rolled back v42"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["lifted"] == 1
    assert not gate.flag_path().exists()
    assert api.get("/api/deploy/gate").status_code == 200
    assert GateShut.objects.get().lift_note == "rolled back v42"


def test_after_a_lift_the_gate_shuts_again_only_after_two_more_hours(burning):
    shut = _shut(burning)
    gate.lift(shut, by="ops", note="hotfix deploy", now=NOW + timedelta(hours=2, minutes=1))
    assert gate.evaluate(burning, NOW + timedelta(hours=2, minutes=15)) is None
    assert gate.evaluate(burning, NOW + timedelta(hours=2, minutes=30)) is None
    assert not gate.is_active()


def test_the_api_lift_answers_the_gate_as_it_is_after_the_lift(burning, api):
    _shut(burning)
    other = Slo.objects.create(name="s5", service="s5", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30)
    GateShut.objects.create(slo=other, shut_at=NOW, reason="SLO s5: burn 2.6x", burn=2.6)
    answer = api.post("/api/deploy/gate/lift", {"note": "rolled back v42"}, content_type="application/json").json()
    assert (answer["lifted"], answer["gate"], answer["shuts"]) == (2, "open", [])
    assert api.get("/api/deploy/gate").status_code == 200
