"""Crossing 90% warns (event + WARNING incident), 100% raises a CRITICAL incident, once per cap per day."""

from datetime import timedelta
from decimal import Decimal

import orjson
import pytest

from costs import authorize, record_spend, spend_cache
from costs.models import CapAlert
from costs.services import set_cap
from incidents.models import Incident
from tests.races import race

pytestmark = pytest.mark.django_db


def events(log_dir, name=None):
    path = log_dir / "costs.ndjson"
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []
    return [e for e in lines if name is None or e["event"] == name]


def spend(usd, now, model="gpt-4o"):
    return record_spend(model=model, usd=Decimal(usd), ts=now, now=now)


def test_below_90_percent_raises_nothing(caps, now, log_dir):
    spend("8.99", now)
    assert not Incident.objects.exists()
    assert events(log_dir, "cap_warn") == []


def test_crossing_90_percent_writes_a_warn_event_and_a_warning_incident(caps, now, log_dir):
    spend("9", now)
    [warn] = events(log_dir, "cap_warn")
    assert (warn["sev"], warn["scope"], warn["key"], warn["level_pct"]) == ("WARN", "model", "gpt-4o", 90)
    incident = Incident.objects.get()
    assert incident.severity == "WARNING"
    assert incident.source == "costs"
    assert incident.fingerprint == "costs:model:gpt-4o:2026-03-10:90"


def test_reaching_100_percent_raises_a_critical_incident_and_throttles(caps, now):
    set_cap("model", "0", "gpt-4.1-nano", now=now)
    set_cap("model", "0.01", "gpt-4o-mini", now=now)
    spend("0.01", now, model="gpt-4o-mini")  # both fallbacks shut
    spend("10", now)
    assert authorize("gpt-4o", now=now).decision == "throttle"
    critical = Incident.objects.get(fingerprint="costs:model:gpt-4o:2026-03-10:100")
    assert critical.severity == "CRITICAL"
    assert "throttled" in critical.message


def test_each_threshold_alerts_once_per_cap_per_day(caps, now, log_dir):
    for _ in range(5):
        spend("2.5", now)  # 25%, 50%, 75%, 100%, 125%
    assert CapAlert.objects.filter(scope="model", key="gpt-4o").count() == 2
    assert len(events(log_dir, "cap_warn")) == 1
    assert len(events(log_dir, "cap_reached")) == 1
    spend_cache.reset()  # another process, with no memory of the alerts, still alerts nothing new
    spend("1", now)
    assert CapAlert.objects.filter(scope="model", key="gpt-4o").count() == 2


def test_the_next_day_alerts_again(caps, now):
    spend("10", now)
    spend("10", now + timedelta(days=1))
    assert CapAlert.objects.filter(scope="model", key="gpt-4o", level=100).count() == 2


def test_lowering_a_cap_below_todays_spend_alerts_at_once(caps, now):
    spend("50", now, model="other")
    set_cap("daily", "40", now=now)
    assert Incident.objects.filter(fingerprint="costs:daily:all:2026-03-10:100").exists()


def test_an_incident_that_failed_to_raise_is_raised_by_the_hourly_check(caps, now):
    from costs.services import guardrails_tick

    spend("9", now)
    Incident.objects.all().delete()
    CapAlert.objects.update(raised=None, incident_id="")
    guardrails_tick(now=now)
    assert Incident.objects.filter(fingerprint="costs:model:gpt-4o:2026-03-10:90").exists()
    assert CapAlert.objects.get().raised is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_crossings_raise_one_alert_and_one_incident(caps, now):
    spend("8.9", now)
    race(lambda _: spend("0.5", now), range(8))
    assert CapAlert.objects.filter(key="gpt-4o", level=90).count() == 1
    assert CapAlert.objects.filter(key="gpt-4o", level=100).count() == 1
    assert Incident.objects.filter(fingerprint="costs:model:gpt-4o:2026-03-10:90").count() == 1
    assert Incident.objects.filter(fingerprint="costs:model:gpt-4o:2026-03-10:100").count() == 1
