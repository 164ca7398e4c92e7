"""The ops check in process: concurrency and timeouts, verdicts, one incident, the API."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from echopilot import dbclock
from incidents.models import Incident
from ops import checks
from ops.models import OpsCheckRun

pytestmark = pytest.mark.django_db(transaction=True)  # the checks run in threads of their own


def test_a_check_that_hangs_fails_as_timed_out_while_the_others_answer(settings):
    release = threading.Event()
    hanging = checks.Check("broker", lambda: (release.wait(30), ("ok", ""))[1], timeout_s=0.5)
    quick = checks.Check("database", lambda: ("ok", "fine"))
    try:
        outcomes, total_ms = checks.run_all([hanging, quick])
    finally:
        release.set()
    assert [(o.name, o.status) for o in outcomes] == [("broker", "fail"), ("database", "ok")]
    assert outcomes[0].detail == "no answer within 0.5 s"
    assert total_ms < 5000


def test_the_whole_deadline_bounds_checks_with_longer_timeouts(settings):
    settings.OPS_CHECK_DEADLINE_S = 1
    release = threading.Event()
    slow = checks.Check("qcluster", lambda: (release.wait(30), ("ok", ""))[1], timeout_s=20)
    try:
        outcomes, total_ms = checks.run_all([slow])
    finally:
        release.set()
    assert outcomes[0].status == "fail" and total_ms < 5000


def test_checks_run_at_the_same_time():
    # Each check waits for the other: run one after the other, both would time out.
    barrier = threading.Barrier(2, timeout=2)

    def meet():
        barrier.wait()
        return "ok", "met"

    outcomes, _ = checks.run_all([checks.Check("a", meet), checks.Check("b", meet)])
    assert [o.status for o in outcomes] == ["ok", "ok"]


def test_a_check_that_raises_fails_with_its_error_as_detail():
    def broken():
        raise ConnectionError("refused")

    [outcome] = checks.run_all([checks.Check("broker", broken)])[0]
    assert outcome.status == "fail" and outcome.detail == "ConnectionError: refused"


@pytest.mark.parametrize(("free_pct", "verdict"), [(50, "ok"), (10, "ok"), (9.9, "warn"), (2, "warn"), (1.9, "fail")])
def test_disk_free_warns_below_10_percent_and_fails_below_2(free_pct, verdict):
    assert checks.disk_verdict(free_pct) == verdict


def test_the_database_check_writes_and_reads_and_leaves_nothing():
    assert checks.check_database()[0] == "ok"
    assert not OpsCheckRun.objects.exists()


def test_the_clock_check_passes_when_host_and_database_agree():
    status, detail = checks.check_clock()
    assert status == "ok" and "clocks differ by" in detail


@pytest.mark.parametrize(("skew_s", "verdict"), [(0.5, "ok"), (3, "warn"), (30, "fail")])
def test_the_clock_check_judges_the_skew_against_the_tolerance(monkeypatch, settings, skew_s, verdict):
    settings.OPS_CLOCK_TOLERANCE_S = 2
    monkeypatch.setattr(dbclock, "database_time", lambda: timezone.now() + timedelta(seconds=skew_s))
    assert checks.check_clock()[0] == verdict


def test_a_missing_schedule_warns_and_names_setup_schedules():
    status, detail = checks.check_schedules()
    assert status == "warn" and "setup_schedules" in detail and "uptime_probes" in detail


def test_an_overdue_schedule_warns():
    from echopilot.registry import sync_schedules

    sync_schedules(timezone.now() - timedelta(hours=1))
    from django_q.models import Schedule

    Schedule.objects.filter(name="uptime_probes").update(next_run=timezone.now() - timedelta(hours=1))
    status, detail = checks.check_schedules()
    assert status == "warn" and "overdue" in detail and "uptime_probes" in detail


def test_a_task_that_failed_in_the_last_hour_warns():
    from django_q.models import Task

    Task.objects.create(id="f1", name="n", func="costs.tasks.cost_guardrails_tick", started=timezone.now(),
                        stopped=timezone.now(), success=False)  # fmt: skip
    status, detail = checks.check_failed_tasks()
    assert status == "warn" and "1 task(s)" in detail and "cost_guardrails_tick" in detail


def test_no_pager_channel_configured_warns(settings):
    settings.TELEGRAM_BOT_TOKEN = settings.TELEGRAM_CHAT_ID = settings.SMTP_HOST = settings.PAGER_WEBHOOK_URL = ""
    settings.PAGER_EMAIL_TO = []
    assert checks.check_pager()[0] == "warn"


def test_a_failing_check_raises_one_incident_however_often_it_runs(settings):
    settings.OPS_HEARTBEAT_TIMEOUT_S = 0.5  # no qcluster runs here: the heartbeat fails
    first = checks.ops_check()
    second = checks.ops_check()
    assert first.worst == second.worst == "fail"
    incident = Incident.objects.get(fingerprint=checks.INCIDENT_FINGERPRINT)
    assert incident.count == 2 and "qcluster" in incident.message
    assert first.incident == second.incident == incident.pk
    assert OpsCheckRun.objects.count() == 2


def test_the_incident_is_resolved_once_no_check_fails(settings, monkeypatch):
    settings.OPS_HEARTBEAT_TIMEOUT_S = 0.5
    checks.ops_check()
    monkeypatch.setattr(checks, "_CHECKS", {"database": checks.Check("database", checks.check_database)})
    assert checks.ops_check().worst == "ok"
    assert Incident.objects.get(fingerprint=checks.INCIDENT_FINGERPRINT).status == Incident.RESOLVED


@pytest.mark.parametrize(("worst", "code"), [("ok", 0), ("warn", 1), ("fail", 2)])
def test_the_exit_code_follows_the_worst_result(worst, code):
    assert checks.exit_code(worst) == code


def test_post_check_answers_503_naming_every_check_when_one_fails(api, settings):
    settings.OPS_HEARTBEAT_TIMEOUT_S = 0.5
    started = time.monotonic()
    response = api.post("/api/ops/check")
    assert time.monotonic() - started < 10
    assert response.status_code == 503 and response["Retry-After"]
    body = response.json()
    names = {c["name"] for c in body["checks"]}
    assert {"database", "clock", "host_clocks", "broker", "qcluster", "schedules", "log_dir", "slos", "deploy_gate",
            "pager", "failed_tasks"} <= names  # fmt: skip
    assert all({"status", "detail", "duration_ms"} <= set(c) for c in body["checks"])
    assert body["status"] == "fail"


def test_post_check_answers_200_when_nothing_fails(api, monkeypatch):
    monkeypatch.setattr(checks, "_CHECKS", {"database": checks.Check("database", checks.check_database)})
    response = api.post("/api/ops/check")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_an_analyst_cannot_run_the_check_and_no_key_is_a_401(analyst_api, client):
    assert analyst_api.post("/api/ops/check").status_code == 403
    client.defaults.pop("HTTP_X_DASH_KEY", None)
    assert client.post("/api/ops/check").status_code == 401


def test_get_on_the_check_is_a_405(api):
    assert api.get("/api/ops/check").status_code == 405
