"""One burst of errors on one service is one incident: the SLO's burn alerts share it (escalating
with a page, de-escalating without one) and the deploy gate shutting is a note on it."""

from datetime import timedelta

import pytest

from incidents.models import Delivery, Incident
from slo import ticks
from slo.models import GateShut
from tests.incidents.conftest import quiet_channels, telegram  # noqa: F401  (fixtures)

from .conftest import NOW

pytestmark = pytest.mark.django_db


def test_a_scripted_burst_is_one_incident_with_at_most_two_pages(slo, feed, telegram):  # noqa: F811
    feed(NOW - timedelta(hours=6), 3 * 60, per_minute=60)  # a healthy morning
    feed(NOW - timedelta(hours=3), 3 * 60, per_minute=60, error_share=0.03, seed=2)  # 3x: a warning
    feed(NOW, 3 * 60, per_minute=60, error_share=0.2, seed=3)  # 20x for three hours: pages, shuts the gate
    feed(NOW + timedelta(hours=3), 60, per_minute=60, seed=4)  # the fix lands

    severities = []
    # The budget tick (burn alerts and the gate) on its 15-minute schedule, through the burst and after.
    # (The 2-minute watch's watchdog still raises its own incident: see the README.)
    for minutes in range(0, 4 * 60, 15):
        ticks.budget_tick(NOW + timedelta(minutes=minutes, seconds=10))
        severities += [i.severity for i in Incident.objects.exclude(status=Incident.RESOLVED)]

    incident = Incident.objects.get()  # exactly one incident for the whole burst
    assert incident.fingerprint == f"slo:{slo.pk}:burn"
    assert GateShut.objects.count() == 1
    assert [n["text"] for n in incident.meta["notes"]][0].startswith("Deploy gate shut: SLO api")
    assert "WARNING" in severities and "CRITICAL" in severities  # it went up...
    assert incident.severity == "WARNING" and incident.status == Incident.OPEN  # ...and came down
    pages = Delivery.objects.filter(kind__in=[Delivery.PAGE, Delivery.REPAGE])
    assert 1 <= pages.count() <= 2
    assert set(pages.values_list("severity", flat=True)) == {"CRITICAL"}
