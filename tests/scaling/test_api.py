"""GET /api/scale/status, POST /api/scale/apply and POST /api/scale/signals: what an operator and a
script see, the autoscaler's acceptance criteria, and bad input refused whole."""

import json

import pytest
from django.utils import timezone

from scaling.models import Decision, ScaleState, SignalSample
from slo.models import GateShut, Slo

pytestmark = pytest.mark.django_db

BUSY = {"queue_depth": 120, "queue_time_s": 95.0, "arrivals_per_min": 80.0, "jobs_per_worker_min": 20.0}


def test_status_shows_desired_above_actual_while_a_backlog_grows(api, push):
    assert push(**BUSY, workers_actual=2).status_code == 201
    body = api.get("/api/scale/status").json()
    assert body["actual"] == 2
    assert body["desired"] == 6  # (80 + 120 waiting to clear in 60 s) / 20 = 10, clamped to SCALE_MAX
    assert body["desired"] != body["actual"]
    assert "bounds" in body["constraints"] and "dry_run" in body["constraints"]
    assert body["dry_run"] is True and body["actuator"] == "record"
    for key in ("reason", "signals", "forecast", "cooldown_until", "gate_shut", "spend_frozen"):
        assert key in body
    assert not Decision.objects.exists()  # status computes, never stores or applies


def test_apply_in_dry_run_stores_the_decision_and_changes_nothing(api, push, log_dir):
    push(**BUSY, workers_actual=2)
    body = api.post("/api/scale/apply", {}, content_type="application/json").json()
    assert body["outcome"] == "dry"
    assert "Dry run: nothing applied." in body["reason"]
    assert ScaleState.objects.get().applied_workers is None
    decision = Decision.objects.get()
    assert decision.outcome == Decision.Outcome.DRY and decision.desired == 6
    assert decision.inputs["signals"]["queue_depth"] == 120
    assert decision.inputs["formula"]["formula"]["drain_per_min"] == 120.0
    snapshot = json.loads((log_dir / "autoscale.json").read_text())
    assert snapshot["desired"] == 6 and snapshot["outcome"] == "dry"
    lines = (log_dir / "autoscale.ndjson").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "decision"


def test_apply_with_dry_run_false_applies_and_the_record_actuator_reports_it_as_actual(api, push):
    push(**BUSY, workers_actual=2)
    body = api.post("/api/scale/apply", {"dry_run": False}, content_type="application/json").json()
    assert body["outcome"] == "applied" and body["desired"] == 6
    assert ScaleState.objects.get().applied_workers == 6
    assert api.get("/api/scale/status").json()["actual"] == 6


def test_cooldown_holds_a_second_change_and_says_until_when(api, push, settings):
    settings.SCALE_DRY_RUN = False
    push(**BUSY, workers_actual=2)
    assert api.post("/api/scale/apply", {}, content_type="application/json").json()["outcome"] == "applied"
    push(queue_depth=0, queue_time_s=0, arrivals_per_min=5.0, jobs_per_worker_min=20.0, p95_ms=10)
    # 8 minutes ago: past the 5-minute down-stabilization window, inside the 10-minute cooldown.
    ScaleState.objects.update(last_change_at=timezone.now() - timezone.timedelta(minutes=8))
    Decision.objects.update(at=timezone.now() - timezone.timedelta(minutes=8))
    SignalSample.objects.update(at=timezone.now() - timezone.timedelta(minutes=12))
    push(queue_depth=0, queue_time_s=0, arrivals_per_min=5.0, jobs_per_worker_min=20.0, p95_ms=10)
    body = api.post("/api/scale/apply", {}, content_type="application/json").json()
    assert body["outcome"] == "held"
    assert "cooldown" in body["constraints"]
    assert body["cooldown_until"] is not None
    assert ScaleState.objects.get().applied_workers == 6


def test_no_scale_up_while_the_deploy_gate_is_shut(api, push, settings):
    settings.SCALE_DRY_RUN = False
    slo = Slo.objects.create(
        name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30, min_events=10
    )
    GateShut.objects.create(slo=slo, shut_at=timezone.now(), reason="SLO api: burn 3.1x", burn=3.1)
    push(**BUSY, workers_actual=2)
    body = api.post("/api/scale/apply", {}, content_type="application/json").json()
    assert body["outcome"] == "held" and body["gate_shut"] is True
    assert "deploy_gate" in body["constraints"]
    assert "deploy gate is shut" in body["reason"]
    assert ScaleState.objects.get().applied_workers is None


def test_no_scale_up_while_spend_is_at_90_percent_of_the_daily_cap(api, push, settings):
    from costs.services import record_spend

    settings.SCALE_DRY_RUN = False
    record_spend(model="gpt-4o", usd="91")
    push(**BUSY, workers_actual=2)
    body = api.post("/api/scale/apply", {}, content_type="application/json").json()
    assert body["outcome"] == "held" and body["spend_frozen"] is True
    assert "spend_freeze" in body["constraints"]
    assert ScaleState.objects.get().applied_workers is None


def test_spend_below_the_freeze_lets_the_pool_grow(api, push, settings):
    from costs.services import record_spend

    settings.SCALE_DRY_RUN = False
    record_spend(model="gpt-4o", usd="89")
    push(**BUSY, workers_actual=2)
    assert api.post("/api/scale/apply", {}, content_type="application/json").json()["outcome"] == "applied"


def test_a_stale_pushed_signal_holds_the_pool(api, push, settings):
    settings.SCALE_DRY_RUN = False
    push(**BUSY, workers_actual=2)
    SignalSample.objects.update(at=timezone.now() - timezone.timedelta(minutes=40))
    body = api.post("/api/scale/apply", {}, content_type="application/json").json()
    assert body["outcome"] == "held" and body["desired"] == 2
    assert body["constraints"] == ["stale_signal"]
    assert "40 min old" in body["reason"]


def test_analyst_reads_the_status_but_cannot_apply_or_push(analyst_api):
    assert analyst_api.get("/api/scale/status").status_code == 200
    assert analyst_api.post("/api/scale/apply", {}, content_type="application/json").status_code == 403
    assert (
        analyst_api.post("/api/scale/signals", {"queue_depth": 1}, content_type="application/json").status_code == 403
    )
    assert not Decision.objects.exists() and not SignalSample.objects.exists()


def test_no_key_is_a_401(client):
    assert client.get("/api/scale/status").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "queue_depth"),
        ({"queue_depth": -1}, "queue_depth"),
        ({"queue_depth": "ten"}, "queue_depth"),
        ({"queue_depth": True}, "queue_depth"),
        ({"queue_depth": 3, "queue_time_s": -5}, "queue_time_s"),
        ({"queue_depth": 3, "queue_time_s": "NaN"}, "queue_time_s"),
        ({"queue_depth": 3, "arrivals_per_min": "1_000"}, "arrivals_per_min"),
        ({"queue_depth": 3, "p95_ms": -2}, "p95_ms"),
        ({"queue_depth": 3, "error_rate": 1.5}, "error_rate"),
        ({"queue_depth": 3, "workers_actual": 2.5}, "workers_actual"),
        ({"queue_depth": 3, "jobs_per_worker_min": "Infinity"}, "jobs_per_worker_min"),
        ({"queue_depth": 3, "queue_lenght": 4}, "queue_lenght"),
        ({"queue_depth": 10**12}, "queue_depth"),
        ({"queue_depth": 3, "arrivals_per_min": 1e300}, "arrivals_per_min"),
        ({"queue_depth": 3, "p95_ms": 1e300}, "p95_ms"),
    ],
)
def test_bad_signals_are_a_400_naming_the_field_and_store_nothing(push, body, field):
    response = push(**body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not SignalSample.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"dry_run": "no"}, "dry_run"), ({"dry_run": 0}, "dry_run"), ({"dryrun": True}, "dryrun")],
)
def test_bad_apply_bodies_are_a_400_naming_the_field_and_apply_nothing(api, push, body, field):
    push(**BUSY)
    response = api.post("/api/scale/apply", body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Decision.objects.exists()


def test_signals_that_are_not_a_json_object_are_a_400(api):
    for raw in ("[1, 2]", "not json", '"queue_depth"'):
        response = api.post("/api/scale/signals", raw, content_type="application/json")
        assert response.status_code == 400, raw
        assert "error" in response.json()
    assert not SignalSample.objects.exists()
