"""The schedule, manage.py autoscale_workers, the Prometheus series, the dashboard card and the admin."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from scaling.models import Decision, ScaleState, SignalSample

pytestmark = pytest.mark.django_db

BUSY = {"queue_depth": 120, "queue_time_s": 95.0, "arrivals_per_min": 80.0, "jobs_per_worker_min": 20.0}


def test_setup_schedules_registers_the_autoscaler_every_ten_minutes():
    call_command("setup_schedules")
    row = Schedule.objects.get(name="autoscale_workers")
    assert row.func == "scaling.tasks.autoscale_workers_tick"
    assert row.minutes == 10


def test_the_job_reads_the_queue_stores_a_sample_and_decides(log_dir):
    from scaling.tasks import autoscale_workers_tick

    result = autoscale_workers_tick()
    assert result["outcome"] in ("held", "dry")
    assert SignalSample.objects.filter(source=SignalSample.Source.MEASURED).count() == 1
    assert Decision.objects.get().by == "schedule"
    assert json.loads((log_dir / "autoscale.json").read_text())["decision_id"] == Decision.objects.get().pk


def test_autoscale_workers_dry_run_never_applies_and_apply_overrides_scale_dry_run(push, capsys):
    push(**BUSY, workers_actual=2)
    call_command("autoscale_workers", "--dry-run")
    assert "dry: desired 6, actual 2" in capsys.readouterr().out
    assert ScaleState.objects.get().applied_workers is None
    call_command("autoscale_workers", "--apply")
    assert "applied: desired 6, actual 2" in capsys.readouterr().out
    assert ScaleState.objects.get().applied_workers == 6


def test_autoscale_workers_refuses_both_flags(push):
    with pytest.raises(CommandError, match="contradict"):
        call_command("autoscale_workers", "--apply", "--dry-run")
    assert not Decision.objects.exists()


def test_autoscale_workers_fails_when_the_actuator_fails(push, settings, tmp_path):
    settings.SCALE_ACTUATOR = "command"
    settings.SCALE_COMMAND = "false {desired}"
    settings.SCALE_ACTUAL_COMMAND = ""
    push(**BUSY)
    with pytest.raises(CommandError, match="command actuator failed: exit status 1"):
        call_command("autoscale_workers", "--apply")


def test_prometheus_shows_the_target_actual_and_applied_events(client, api, push):
    push(**BUSY, workers_actual=2)
    api.post("/api/scale/apply", {"dry_run": False}, content_type="application/json")
    text = client.get("/metrics").content.decode()
    assert "echopilot_worker_target 6.0" in text
    assert "echopilot_workers_actual 6.0" in text
    assert 'echopilot_autoscale_events_total{direction="up"} 1.0' in text


def test_the_card_draws_desired_and_actual_and_offers_buttons_to_admins(client, django_user_model, push):
    push(**BUSY, workers_actual=2)
    Decision.objects.create(
        at=timezone.now() - timezone.timedelta(hours=3),
        outcome="dry",
        desired=5,
        actual=2,
        recommended=5,
        raw=4.6,
        reason="x",
        actuator="record",
    )
    admin = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(admin)
    html = client.get("/admin/").content.decode()
    card = html[html.index('id="card-scaling"') :]
    assert "<svg" in card and card.count("<polyline") == 2
    assert "Want 6 workers, 2 running." in card
    assert "Decide now (dry run)" in card and "Apply now" in card


def test_an_analyst_sees_the_card_without_buttons(staff_with, push):
    push(**BUSY)
    client = staff_with("echopilot.api_analyst")
    html = client.get("/admin/").content.decode()
    card = html[html.index('id="card-scaling"') :]
    assert "running" in card and "Apply now" not in card


def test_the_admin_history_filters_applied_held_and_dry(client, django_user_model):
    for outcome in ("applied", "held", "dry"):
        Decision.objects.create(
            at=timezone.now(),
            outcome=outcome,
            desired=3,
            actual=2,
            recommended=3,
            raw=2.5,
            reason=f"reason for {outcome}",
            actuator="record",
        )
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    page = client.get("/admin/scaling/decision/?outcome__exact=held").content.decode()
    assert "reason for held" in page and "reason for applied" not in page and "reason for dry" not in page
    detail = client.get(f"/admin/scaling/decision/{Decision.objects.get(outcome='dry').pk}/change/")
    assert detail.status_code == 200


def test_the_demo_loads_a_day_of_decisions_once(client, django_user_model):
    from scaling.demo import load

    now = timezone.now()
    assert load(now).startswith("144 dry-run decisions")
    assert load(now).startswith("0 new")
    assert Decision.objects.filter(by="demo").count() == 144
    assert Decision.objects.filter(outcome="dry").exists()  # the afternoon peak would have grown the pool
    assert not Decision.objects.filter(outcome="applied").exists()
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    html = client.get("/admin/").content.decode()
    card = html[html.index('id="card-scaling"') :]
    assert "decisions, 0 applied" in card and card.count("<polyline") == 2
