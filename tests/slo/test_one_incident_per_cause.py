"""One burst of errors on one service is one incident: the SLO's burn alerts share it (escalating
with a page, de-escalating without one), the deploy gate shutting is a note on it, and so is the
2-minute watchdog's finding (with the recovery it asked for)."""

from datetime import timedelta

import pytest

from incidents.models import Delivery, Incident
from slo import alerts, ticks, watchdog
from slo.models import GateShut, RecoveryRequest, SloState
from tests.incidents.conftest import quiet_channels, telegram  # noqa: F401  (fixtures)

from .conftest import NOW

pytestmark = pytest.mark.django_db


def test_a_scripted_burst_is_one_incident_with_at_most_two_pages(slo, feed, telegram):  # noqa: F811
    feed(NOW - timedelta(hours=6), 3 * 60, per_minute=60)  # a healthy morning
    feed(NOW - timedelta(hours=3), 3 * 60, per_minute=60, error_share=0.03, seed=2)  # 3x: a warning
    feed(NOW, 3 * 60, per_minute=60, error_share=0.2, seed=3)  # 20x for three hours: pages, shuts the gate
    feed(NOW + timedelta(hours=3), 60, per_minute=60, seed=4)  # the fix lands

    severities = []
    # Both schedules through the burst and after: the 2-minute watch (burn alerts, the watchdog, the
    # gate) and the 15-minute budget tick (burn alerts and the gate).
    for minutes in range(0, 4 * 60, 2):
        ticks.watch_tick(NOW + timedelta(minutes=minutes, seconds=5))
        if minutes % 15 < 2:
            ticks.budget_tick(NOW + timedelta(minutes=minutes, seconds=10))
        severities += [i.severity for i in Incident.objects.exclude(status=Incident.RESOLVED)]

    incident = Incident.objects.get()  # exactly one incident for the whole burst
    assert incident.fingerprint == f"slo:{slo.pk}:burn"
    assert GateShut.objects.count() == 1
    notes = [n["text"] for n in incident.meta["notes"]]
    assert sum(n.startswith("Deploy gate shut: SLO api") for n in notes) == 1
    assert any(n.startswith("SLO watchdog: SLO api breached 3 times") for n in notes)  # the watch saw it
    assert RecoveryRequest.objects.exists()  # and asked for recovery, on this same incident
    assert "WARNING" in severities and "CRITICAL" in severities  # it went up...
    assert incident.severity == "WARNING" and incident.status == Incident.OPEN  # ...and came down
    pages = Delivery.objects.filter(kind__in=[Delivery.PAGE, Delivery.REPAGE])
    assert 1 <= pages.count() <= 2
    assert set(pages.values_list("severity", flat=True)) == {"CRITICAL"}


def _watch(slo, start, minutes):
    for minute in range(0, minutes, 2):
        watchdog.check(slo, start + timedelta(minutes=minute, seconds=5))


def test_the_watchdog_escalates_a_warning_burn_incident_with_one_page_and_lowers_it_when_it_ends(
    slo,
    feed,
    telegram,  # noqa: F811
):
    feed(NOW - timedelta(hours=6), 6 * 60, per_minute=60, error_share=0.03)  # 3x: the warning rule fires
    assert alerts.evaluate(slo, NOW) == {"warn-slow": "raised"}
    assert Incident.objects.get().severity == "WARNING"
    feed(NOW, 10, per_minute=60, error_share=0.05, seed=2)
    _watch(slo, NOW + timedelta(minutes=2), 6)  # three breaches in a row
    incident = Incident.objects.get()
    assert incident.severity == "CRITICAL" and incident.fingerprint == f"slo:{slo.pk}:burn"
    assert Delivery.objects.filter(kind=Delivery.PAGE, severity="CRITICAL").count() == 1
    feed(NOW + timedelta(minutes=10), 10, per_minute=60, seed=3)  # healthy again
    _watch(slo, NOW + timedelta(minutes=18), 2)
    incident.refresh_from_db()
    assert incident.severity == "WARNING" and incident.status == Incident.OPEN  # the rule still fires
    assert SloState.objects.get(slo=slo).active_alerts == ["warn-slow"]
    assert Delivery.objects.filter(kind__in=[Delivery.PAGE, Delivery.REPAGE], severity="CRITICAL").count() == 1


def test_the_burn_alerts_keep_the_watchdogs_finding_until_the_watchdog_ends_it(slo, feed):
    feed(NOW - timedelta(hours=6), 6 * 60 - 10, per_minute=60, seed=5)  # a healthy morning
    feed(NOW - timedelta(minutes=10), 20, per_minute=60, error_share=0.05)  # 5x for twenty minutes
    _watch(slo, NOW, 6)
    assert SloState.objects.get(slo=slo).active_alerts == ["watchdog"]
    alerts.evaluate(slo, NOW + timedelta(minutes=6))  # no rule fires: 5x for minutes only
    assert Incident.objects.get().status == Incident.OPEN
    assert SloState.objects.get(slo=slo).active_alerts == ["watchdog"]
    _watch(slo, NOW + timedelta(minutes=30), 2)  # five quiet minutes: the finding ends
    incident = Incident.objects.get()
    assert incident.status == Incident.RESOLVED and "no longer sees a breach" in incident.resolve_note
