"""The ops check judges every host's clock, not only the clock of the host it runs on: a web host or
a worker 90-200 s ahead moves leases and due times wherever the check is run from.

One machine cannot run two clocks, so the other hosts' readings are written here through the same
service function their processes call (echopilot.dbclock.record_clock), with the offset they would
have measured."""

import socket
from datetime import timedelta

import pytest
from django.core.management import call_command

from echopilot import dbclock
from echopilot.dbclock import ClockReading, db_now, record_clock
from echopilot.models import HostClock
from ops.checks import check_host_clocks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def tolerance(settings):
    settings.OPS_CLOCK_TOLERANCE_S = 2
    settings.OPS_HOST_CLOCK_RECENT_MIN = 10


def seen(host, role, offset_s, minutes_ago=0.0):
    record_clock(host, role, ClockReading(offset_s, db_now() - timedelta(minutes=minutes_ago)))


def test_hosts_within_the_tolerance_pass_and_are_named():
    seen("web-a", "web", 0.004)
    seen("worker-a", "tasks", -0.12)
    seen("worker-a", "web", 0.01)
    status, detail = check_host_clocks()
    assert status == "ok"
    assert detail == "2 host(s) within 2 s of the database clock: web-a (web) +0.004 s, worker-a (tasks, web) -0.120 s"


def test_a_worker_200_s_ahead_fails_the_check_by_name():
    seen("web-a", "web", 0.01)
    seen("worker-b", "tasks", 200.0)
    status, detail = check_host_clocks()
    assert status == "fail"
    assert detail.startswith("off the database clock: worker-b (tasks) 200.0 s ahead (tolerance 2 s, fail past 6 s)")
    assert detail.endswith("within it: web-a")


def test_a_host_off_by_less_than_three_tolerances_warns(settings):
    settings.OPS_CLOCK_TOLERANCE_S = 100
    seen("worker-b", "tasks", 200.0)
    status, detail = check_host_clocks()
    assert status == "warn" and "worker-b (tasks) 200.0 s ahead" in detail


def test_a_web_host_behind_warns_and_says_behind():
    seen("web-c", "web", -5.0)
    status, detail = check_host_clocks()
    assert status == "warn" and detail.startswith("off the database clock: web-c (web) 5.0 s behind (")


def test_each_off_host_is_named_worst_first():
    seen("web-c", "web", 3.0)
    seen("worker-b", "tasks", 90.0)
    status, detail = check_host_clocks()
    assert status == "fail" and "worker-b (tasks) 90.0 s ahead, web-c (web) 3.0 s ahead (" in detail


def test_a_host_silent_for_longer_than_the_window_is_not_judged():
    seen("web-a", "web", 0.0)
    seen("worker-old", "tasks", 500.0, minutes_ago=30)
    status, detail = check_host_clocks()
    assert status == "ok"
    assert detail.endswith("; not judged, silent for over 10 min: worker-old")


def test_no_host_noted_yet_is_nothing_to_judge():
    status, detail = check_host_clocks()
    assert status == "ok" and detail.startswith("no web worker or task runner has noted")


def test_the_host_serving_the_api_is_judged_after_its_first_request(api, settings):
    settings.HOST_CLOCK_EVERY_S = 60  # on, as on a server (the suite turns it off)
    dbclock._noted.clear()
    api.get("/api/slo/status")
    status, detail = check_host_clocks()
    assert status == "ok" and f"{socket.gethostname()} (web)" in detail


def test_the_prune_forgets_hosts_silent_for_the_retention(settings, capsys):
    settings.HOST_CLOCK_RETENTION_DAYS = 7
    seen("worker-gone", "tasks", 0.0, minutes_ago=8 * 24 * 60)
    seen("worker-here", "tasks", 0.0, minutes_ago=6 * 24 * 60)
    call_command("prune")
    assert "echopilot.hostclock: 1 deleted" in capsys.readouterr().out
    assert list(HostClock.objects.values_list("host", flat=True)) == ["worker-here"]
