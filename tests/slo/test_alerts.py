"""Multi-window burn alerts and the watchdog raise through the incidents app and resolve again."""

import json
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from incidents.models import Incident
from slo import alerts, ticks, watchdog
from slo.models import RecoveryRequest, SloState, SloTick

from .conftest import NOW


def _incident(slo):
    """The SLO's one burn incident: every burn alert of it lands there."""
    return Incident.objects.get(fingerprint=f"slo:{slo.pk}:burn")


def test_fast_burn_pages_and_resolves_when_the_burn_stops(slo, feed):
    feed(NOW - timedelta(hours=6), 5 * 60, per_minute=60)  # a quiet, healthy morning
    feed(NOW - timedelta(minutes=59), 60, per_minute=60, error_share=0.2)  # then 20x for the last hour
    # 20x for an hour: page-fast fires; it is also over 1x for 6h and "3 days" (only 6h of data).
    assert alerts.evaluate(slo, NOW) == {"page-fast": "raised", "warn-slow": "raised"}
    assert "page-slow" not in alerts.evaluate(slo, NOW)  # 6h burn is 3.3x, under 6x
    page = _incident(slo)
    assert page.severity == "CRITICAL" and page.status == "open" and page.count == 2
    assert alerts.evaluate(slo, NOW + timedelta(minutes=1)) == {}  # still firing: no second page
    feed(NOW + timedelta(minutes=1), 10, per_minute=60)  # the fix lands: ten clean minutes
    assert alerts.evaluate(slo, NOW + timedelta(minutes=10)) == {"page-fast": "resolved"}
    page.refresh_from_db()
    # The 3-day warning still fires: the incident comes down to WARNING, open, paging nobody.
    assert (page.severity, page.status) == ("WARNING", "open")
    assert Incident.objects.count() == 1


def test_slow_burn_pages_over_six_hours_and_thirty_minutes(slo, feed):
    feed(NOW - timedelta(hours=6), 6 * 60, per_minute=60, error_share=0.08)  # 8x for six hours
    changes = alerts.evaluate(slo, NOW)
    assert changes == {"page-slow": "raised", "warn-slow": "raised"}
    assert _incident(slo).severity == "CRITICAL" and Incident.objects.count() == 1


def test_a_short_spike_alone_does_not_page(slo, feed):
    feed(NOW - timedelta(hours=1), 55, per_minute=100)
    feed(NOW - timedelta(minutes=4), 5, per_minute=100, error_share=0.5)  # 5 minutes at 50x
    changes = alerts.evaluate(slo, NOW)
    assert "page-fast" not in changes and "page-slow" not in changes  # the hour burned 4.2x, under 14.4x
    assert not Incident.objects.filter(severity="CRITICAL").exists()


def test_minimum_events_guard_keeps_a_quiet_window_from_paging(slo, feed):
    slo.min_events = 500
    slo.save()
    feed(NOW - timedelta(minutes=59), 60, per_minute=5, error_share=1.0)  # 300 requests, all failing
    assert alerts.evaluate(slo, NOW) == {}
    assert not Incident.objects.exists()


def test_watchdog_asks_for_recovery_once_after_three_breaches_in_ten_minutes(slo, feed, log_dir):
    feed(NOW - timedelta(minutes=10), 60, per_minute=60, error_share=0.05)
    assert watchdog.check(slo, NOW) is None
    assert watchdog.check(slo, NOW + timedelta(minutes=4)) is None
    request = watchdog.check(slo, NOW + timedelta(minutes=8))
    assert request is not None and request.outcome.startswith("recorded")
    incident = Incident.objects.get()  # the SLO's burn incident, opened by the watchdog's finding
    assert incident.fingerprint == f"slo:{slo.pk}:burn" and incident.severity == "CRITICAL"
    assert incident.meta["notes"][0]["text"].startswith("SLO watchdog: SLO api breached 3 times")
    lines = [json.loads(x) for x in (log_dir / "slo_budget.ndjson").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["recovery_requested"]
    # Still breaching, but within the 30-minute cooldown: no second recovery, no second incident.
    for minutes in (12, 16, 20, 24, 28, 32, 36):
        assert watchdog.check(slo, NOW + timedelta(minutes=minutes)) is None
    assert watchdog.check(slo, NOW + timedelta(minutes=40)) is not None
    assert RecoveryRequest.objects.count() == 2


def test_breaches_spread_over_more_than_ten_minutes_do_not_trigger(slo, feed):
    feed(NOW - timedelta(minutes=10), 60, per_minute=60, error_share=0.05)
    for minutes in (0, 6, 12):
        assert watchdog.check(slo, NOW + timedelta(minutes=minutes)) is None
    assert not RecoveryRequest.objects.exists()


def failing_hook(*, slo, reason, now=None):
    raise RuntimeError("restart refused")


def test_recovery_hook_is_a_setting_and_its_failure_is_recorded(slo, feed, settings):
    settings.SLO_RECOVERY_HOOK = "tests.slo.test_alerts.failing_hook"
    feed(NOW - timedelta(minutes=10), 30, per_minute=60, error_share=0.05)
    for minutes in (0, 3, 6):
        request = watchdog.check(slo, NOW + timedelta(minutes=minutes))
    request.refresh_from_db()
    assert request.hook == "tests.slo.test_alerts.failing_hook"
    assert request.outcome == "hook failed: RuntimeError: restart refused"


def test_budget_tick_logs_a_slo_tick_and_rewrites_the_status_snapshot(slo, feed, log_dir):
    now = timezone.now()
    feed(now - timedelta(minutes=30), 20, per_minute=30, error_share=0.01)
    call_command("slo_budget")
    tick = json.loads((log_dir / "slo_budget.ndjson").read_text().splitlines()[-1])
    assert tick["event"] == "slo_tick" and tick["slo"] == "api"
    assert {"p95", "err_rate", "burn"} <= tick.keys() and tick["p95"] > 0
    snapshot = json.loads((log_dir / "slo_status.json").read_text())
    assert snapshot["gate"]["gate"] == "open"
    assert [s["slo"] for s in snapshot["slos"]] == ["api"]
    assert SloTick.objects.get().requests == 600


def test_strict_health_fails_while_a_watched_slo_is_critical(client, settings, slo, feed):
    settings.HEALTHZ_STRICT_SLOS = ["api"]
    now = timezone.now()
    assert client.get("/healthz/strict").json()["checks"]["slo"]["ok"] is True
    feed(now - timedelta(minutes=20), 15, per_minute=20, error_share=0.5)
    response = client.get("/healthz/strict")
    assert response.status_code == 500
    assert "slo" in response.json()["failing"]


def test_watch_tick_runs_alerts_watchdog_and_gate(slo, feed):
    feed(NOW - timedelta(minutes=59), 60, per_minute=60, error_share=0.3)
    done = ticks.watch_tick(NOW)
    assert done["api"]["alerts"]["page-fast"] == "raised"
    assert done["api"]["recovery"] is False and done["api"]["gate_shut"] is False


def test_two_watchdog_runs_at_the_same_moment_are_one_look(slo, feed):
    feed(NOW - timedelta(minutes=10), 30, per_minute=60, error_share=0.05)
    for _ in range(3):
        assert watchdog.check(slo, NOW) is None
    assert not RecoveryRequest.objects.exists()


def test_three_clusters_running_the_watch_for_one_due_time_are_one_look(slo, feed):
    # Three qclusters took the same 2-minute due time and ran 87 ms apart: one look, not three.
    feed(NOW - timedelta(minutes=10), 30, per_minute=60, error_share=0.05)
    for i in range(3):
        assert watchdog.check(slo, NOW + timedelta(milliseconds=87 * i)) is None
    assert not RecoveryRequest.objects.exists()
    assert len(SloState.objects.get(slo=slo).watch_history) == 1
    # The next due times are new looks: the third in a row, within ten minutes, asks for recovery.
    assert watchdog.check(slo, NOW + timedelta(minutes=2)) is None
    assert watchdog.check(slo, NOW + timedelta(minutes=4)) is not None
