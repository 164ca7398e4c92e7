"""Auto-recovery in process: what is requeued and what never is, stuck tasks, the worker pool, dry
runs, the record on the incident, and the SLO watchdog's hook."""

import os
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_q.models import OrmQ, Task

from incidents.models import Incident
from ops import recovery
from ops.models import RecoveryRun, RequeuedTask
from slo import ingest, watchdog
from slo.models import RecoveryRequest, Slo

from .console import ROOT

FLAKY = "tests.ops.flaky.fails_the_first_time"


def failed_task(task_id, func=FLAKY, minutes_ago=5, args=("/nowhere",)):
    stopped = timezone.now() - timedelta(minutes=minutes_ago)
    return Task.objects.create(
        id=task_id, name=f"task-{task_id}", func=func, args=args, kwargs={}, started=stopped, stopped=stopped,
        success=False, result="boom",
    )  # fmt: skip


def queued_funcs() -> list[str]:
    return [package.func() for package in OrmQ.objects.all()]


def test_a_task_that_failed_in_the_last_hour_is_queued_again_once(db):
    failed_task("a1")
    first = recovery.recover(trigger="test")
    assert [a["action"] for a in first.actions if a["target"].startswith(FLAKY)] == ["requeue"]
    assert queued_funcs() == [FLAKY]
    second = recovery.recover(trigger="test")
    assert any(a["outcome"] == "already requeued once" for a in second.actions)
    assert queued_funcs() == [FLAKY]
    assert RequeuedTask.objects.get().failed_task_id == "a1"


def test_a_requeued_task_that_fails_again_is_not_requeued_again(db):
    failed_task("a1")
    recovery.recover(trigger="test")
    retry_id = RequeuedTask.objects.get().new_task_id
    failed_task(retry_id, minutes_ago=1)
    run = recovery.recover(trigger="test")
    assert any("failing again" in a["outcome"] for a in run.actions)
    assert len(queued_funcs()) == 1


def test_a_task_whose_function_no_longer_exists_is_never_requeued(db):
    failed_task("gone", func="tests.ops.flaky.removed_in_the_last_release")
    run = recovery.recover(trigger="test")
    [action] = [a for a in run.actions if "removed_in_the_last_release" in a["target"]]
    assert action["action"] == "skip" and "no longer exists" in action["outcome"]
    assert queued_funcs() == []


def test_a_task_that_failed_over_an_hour_ago_is_left_alone(db):
    failed_task("old", minutes_ago=61)
    run = recovery.recover(trigger="test")
    assert not [a for a in run.actions if FLAKY in a["target"]]


def test_a_dry_run_lists_the_actions_and_changes_nothing(db, log_dir):
    failed_task("a1")
    stuck = stuck_package()
    run = recovery.recover(dry_run=True, trigger="test")
    assert {a["action"] for a in run.actions} >= {"requeue", "release", "restart"}
    assert all("would" in a["outcome"] for a in run.actions if a["action"] in ("requeue", "release"))
    assert not RequeuedTask.objects.exists()
    assert OrmQ.objects.get(pk=stuck.pk).lock == stuck.lock
    assert OrmQ.objects.count() == 1
    assert '"dry_run":true' in (log_dir / "ops.ndjson").read_text()


def stuck_package(taken_s_ago=150):
    # A worker took it taken_s_ago seconds ago: its lease runs until then + Q_CLUSTER retry.
    taken = timezone.now() - timedelta(seconds=taken_s_ago)
    return OrmQ.objects.create(
        key="echopilot", payload="x", lock=taken + timedelta(seconds=django_settings.Q_CLUSTER["retry"])
    )


def test_a_task_stuck_past_its_timeout_is_handed_back_to_the_queue(db):
    stuck = stuck_package(taken_s_ago=django_settings.Q_CLUSTER["timeout"] + 30)
    running = stuck_package(taken_s_ago=10)
    run = recovery.recover(trigger="test")
    released = [a for a in run.actions if a["action"] == "release"]
    assert [a["outcome"] for a in released] == ["handed back to the queue"]
    assert OrmQ.objects.get(pk=stuck.pk).lock <= timezone.now()
    assert OrmQ.objects.get(pk=running.pk).lock == running.lock


def test_without_a_worker_pool_hook_restarting_is_not_in_this_consoles_hands(db, settings):
    settings.OPS_WORKER_POOL_HOOK = ""
    run = recovery.recover(trigger="test")
    [restart] = [a for a in run.actions if a["action"] == "restart"]
    assert "not in this console's hands" in restart["outcome"]


calls: list[bool] = []


def restart_pool(dry_run: bool) -> str:
    calls.append(dry_run)
    return "would restart 2 workers" if dry_run else "restarted 2 workers"


def test_the_worker_pool_hook_restarts_the_pool_and_is_told_about_dry_runs(db, settings):
    settings.OPS_WORKER_POOL_HOOK = "tests.ops.test_recovery.restart_pool"
    calls.clear()
    recovery.recover(dry_run=True, trigger="test")
    run = recovery.recover(trigger="test")
    assert calls == [True, False]
    assert [a["outcome"] for a in run.actions if a["action"] == "restart"] == ["restarted 2 workers"]


def test_post_recover_runs_and_answers_the_actions(api, db):
    failed_task("a1")
    response = api.post("/api/ops/recover", {"dry_run": True}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and any(a["action"] == "requeue" for a in body["actions"])
    assert not RequeuedTask.objects.exists()
    assert api.post("/api/ops/recover", {}, content_type="application/json").json()["dry_run"] is False
    assert RequeuedTask.objects.count() == 1


@pytest.mark.parametrize("body", [{"dry_run": "maybe"}, {"dry_run": [1]}, [True], "true"])
def test_bad_recover_bodies_are_a_400_and_change_nothing(api, db, body):
    failed_task("a1")
    response = api.post("/api/ops/recover", body, content_type="application/json")
    assert response.status_code == 400 and "error" in response.json()
    assert not RecoveryRun.objects.exists()


def test_malformed_json_to_recover_is_a_400(api, db):
    response = api.post("/api/ops/recover", "{dry_run: yes", content_type="application/json")
    assert response.status_code == 400 and "error" in response.json()
    assert not RecoveryRun.objects.exists()


def test_an_analyst_cannot_recover(analyst_api):
    assert analyst_api.post("/api/ops/recover", {"dry_run": True}, content_type="application/json").status_code == 403


def breach(slo, at):
    """A minute of requests at `at` that burns the budget far above 1x."""
    count = 50
    ingest.ingest(
        ingest.Samples(
            epoch_s=np.full(count, at.timestamp()),
            latency_ms=np.full(count, 50.0),
            status=np.full(count, 500, dtype=np.int64),
            stream=np.zeros(count, dtype=np.int64),
            streams=[(slo.service, "/")],
        )
    )


def test_with_autorecover_the_slo_watchdog_recovers_and_keeps_the_actions_on_its_incident(db, settings):
    settings.INCIDENT_AUTORECOVER = True
    settings.SLO_RECOVERY_HOOK = "ops.recovery.watchdog_hook"
    failed_task("a1")
    slo = Slo.objects.create(name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1, window_days=30,
                             min_events=1)  # fmt: skip
    now = timezone.now()
    for minute in range(3):
        at = now + timedelta(minutes=minute)
        breach(slo, at)
        watchdog.check(slo, at)
    request = RecoveryRequest.objects.get()
    run = RecoveryRun.objects.get()
    assert run.incident == Incident.objects.get(fingerprint=f"slo:{slo.pk}:burn")
    assert run.trigger.startswith("slo-watchdog") and RequeuedTask.objects.get().run == run
    assert request.outcome.startswith(f"recovery #{run.pk}") and "requeue" in request.outcome
    finding, note = Incident.objects.get(fingerprint=f"slo:{slo.pk}:burn").meta["notes"]
    assert finding["text"].startswith("SLO watchdog:")
    assert note["text"].startswith(f"recovery #{run.pk}: requeue") and "(task-a1, a1): queued again" in note["text"]


def test_without_autorecover_the_hook_runs_nothing(db, settings):
    settings.INCIDENT_AUTORECOVER = False
    slo = Slo.objects.create(name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1, window_days=30)
    assert recovery.watchdog_hook(slo=slo, reason="test").startswith("not run")
    assert not RecoveryRun.objects.exists()


def settings_with(**env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("SLO_RECOVERY_HOOK", "INCIDENT_AUTORECOVER")}
    full.update(env)
    code = "import django;django.setup();from django.conf import settings;print(settings.SLO_RECOVERY_HOOK)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**full, "DJANGO_SETTINGS_MODULE": "echopilot.settings"},
    )  # fmt: skip


def test_incident_autorecover_wires_the_watchdog_to_ops_recovery():
    assert settings_with(INCIDENT_AUTORECOVER="true").stdout.strip() == "ops.recovery.watchdog_hook"
    assert settings_with().stdout.strip() == "slo.watchdog.record_only"


def test_incident_autorecover_with_another_recovery_hook_refuses_to_start():
    done = settings_with(INCIDENT_AUTORECOVER="true", SLO_RECOVERY_HOOK="my.hook")
    assert done.returncode != 0 and "leave SLO_RECOVERY_HOOK empty" in done.stderr


def test_manage_py_check_flags_a_worker_pool_hook_that_names_no_function(settings):
    from ops.system_checks import worker_pool_hook_check

    settings.OPS_WORKER_POOL_HOOK = "scaling.pool.restart_that_does_not_exist"
    assert [e.id for e in worker_pool_hook_check()] == ["ops.E001"]
    settings.OPS_WORKER_POOL_HOOK = "tests.ops.test_recovery.FLAKY"
    assert [e.id for e in worker_pool_hook_check()] == ["ops.E002"]
    settings.OPS_WORKER_POOL_HOOK = "tests.ops.test_recovery.restart_pool"
    assert worker_pool_hook_check() == []
