"""raise_incident / resolve_incident: the contract every other app builds against."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents import raise_incident, resolve_incident
from incidents.models import Delivery, Incident
from incidents.services import acknowledge_incident, fingerprint_for
from tests.races import race


@pytest.mark.django_db
def test_first_raise_opens_an_incident():
    result = raise_incident("critical", "db down", "slo", {"p99": 2100})
    assert result.created and not result.deduplicated
    incident = Incident.objects.get()
    assert (incident.severity, incident.message, incident.source, incident.count) == ("CRITICAL", "db down", "slo", 1)
    assert incident.meta == {"p99": 2100}
    assert incident.status == Incident.OPEN


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["FATAL", "", None, "crit", 3])
def test_unknown_severity_is_a_value_error(bad):
    with pytest.raises(ValidationError):
        raise_incident(bad, "x", "y")
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_second_raise_within_an_hour_bumps_count_and_does_not_page_again(telegram):
    now = timezone.now()
    first = raise_incident("CRITICAL", "queue stuck", "worker", now=now)
    second = raise_incident("CRITICAL", "queue stuck", "worker", now=now + timedelta(minutes=50))
    assert second.deduplicated and not second.created
    assert second.incident.pk == first.incident.pk
    assert second.incident.count == 2
    assert second.incident.last_seen == now + timedelta(minutes=50)
    assert Delivery.objects.filter(channel="telegram").count() == 1


@pytest.mark.django_db
def test_a_repeat_after_an_hour_joins_the_open_incident_and_pages_a_reminder(telegram):
    now = timezone.now()
    first = raise_incident("CRITICAL", "queue stuck", "worker", now=now)
    later = raise_incident("CRITICAL", "queue stuck", "worker", now=now + timedelta(minutes=61))
    assert not later.created and later.incident.pk == first.incident.pk
    assert Incident.objects.count() == 1 and Incident.objects.get().count == 2
    kinds = list(Delivery.objects.filter(channel="telegram").order_by("pk").values_list("kind", flat=True))
    assert kinds == [Delivery.PAGE, Delivery.REPAGE]
    assert Delivery.objects.get(kind=Delivery.REPAGE).subject.startswith("Again: [CRITICAL]")


@pytest.mark.django_db
def test_a_reminder_waits_pager_repeat_min_after_the_last_page(telegram, settings):
    settings.PAGER_REPEAT_MIN = 30
    now = timezone.now()
    raise_incident("CRITICAL", "queue stuck", "worker", now=now)
    assert not raise_incident("CRITICAL", "queue stuck", "worker", now=now + timedelta(minutes=29)).deliveries
    assert raise_incident("CRITICAL", "queue stuck", "worker", now=now + timedelta(minutes=31)).deliveries
    # The reminder is the new last page: the next one waits another 30 minutes.
    assert not raise_incident("CRITICAL", "queue stuck", "worker", now=now + timedelta(minutes=50)).deliveries
    assert raise_incident("CRITICAL", "queue stuck", "worker", now=now + timedelta(minutes=62)).deliveries
    assert Delivery.objects.filter(kind=Delivery.REPAGE).count() == 2


@pytest.mark.django_db
def test_an_acknowledged_incident_gets_repeats_but_no_reminder(telegram):
    now = timezone.now()
    first = raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="q", now=now)
    acknowledge_incident("q", by="alice", now=now)
    later = raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="q", now=now + timedelta(hours=5))
    assert later.incident.pk == first.incident.pk and not later.deliveries
    assert Incident.objects.get().status == Incident.ACKNOWLEDGED
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_a_reminder_follows_the_route_and_a_silent_route_sends_none(telegram):
    now = timezone.now()
    raise_incident("WARNING", "disk 85%", "host-1", now=now)  # WARNING does not page by default
    later = raise_incident("WARNING", "disk 85%", "host-1", now=now + timedelta(hours=3))
    assert not later.created and not later.deliveries
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_after_resolution_the_same_fingerprint_opens_again(telegram):
    first = raise_incident("CRITICAL", "disk full", "host-1", fingerprint="disk-host-1")
    assert resolve_incident("disk-host-1", by="alice", note="cleaned /tmp") == 1
    resolved = Incident.objects.get(pk=first.incident.pk)
    assert resolved.status == Incident.RESOLVED and resolved.resolved_by == "alice"
    assert resolved.resolved_at is not None and resolved.resolve_note == "cleaned /tmp"
    again = raise_incident("CRITICAL", "disk full", "host-1", fingerprint="disk-host-1")
    assert again.created
    assert Delivery.objects.filter(channel="telegram").count() == 2
    assert resolve_incident("disk-host-1") == 1
    assert resolve_incident("disk-host-1") == 0


@pytest.mark.django_db
def test_volatile_parts_of_the_message_share_a_fingerprint():
    a = raise_incident("ERROR", "timeout after 3012 ms on req 9f8e7d6c5b", "api")
    b = raise_incident("error", "timeout after 2987 ms on req 0a1b2c3d4e", "api")
    assert b.deduplicated and a.incident.pk == b.incident.pk
    assert fingerprint_for(
        "ERROR", "at 2026-11-22T10:00:01Z id 3f2a1c4e-1111-2222-3333-444455556666", "x"
    ) == fingerprint_for("ERROR", "at 2026-11-23T11:30:59Z id 00000000-aaaa-bbbb-cccc-ddddeeeeffff", "x")
    assert fingerprint_for("ERROR", "timeout", "api") != fingerprint_for("ERROR", "timeout", "web")
    assert fingerprint_for("ERROR", "timeout", "api") != fingerprint_for("WARNING", "timeout", "api")


@pytest.mark.django_db
def test_explicit_fingerprint_wins_over_the_derived_one():
    a = raise_incident("WARNING", "one text", "a", fingerprint="fp-1")
    b = raise_incident("WARNING", "another text entirely", "b", fingerprint="fp-1")
    assert b.deduplicated and b.incident.pk == a.incident.pk and b.incident.fingerprint == "fp-1"


@pytest.mark.django_db
def test_critical_pages_every_configured_channel_and_others_do_not(telegram, smtp):
    raise_incident("CRITICAL", "down", "x")
    raise_incident("ERROR", "slow", "x")
    assert sorted(Delivery.objects.values_list("channel", flat=True)) == ["email", "telegram"]
    assert set(Delivery.objects.values_list("incident__severity", flat=True)) == {"CRITICAL"}


@pytest.mark.django_db
def test_no_channel_configured_means_no_delivery_but_the_incident_is_kept():
    raise_incident("CRITICAL", "down", "x")
    assert Incident.objects.count() == 1
    assert not Delivery.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_raises_make_one_incident_with_count_fifty_and_one_page(telegram):
    race(lambda i: raise_incident("CRITICAL", f"payment API 502 on attempt {i}", "billing"), range(50))
    incident = Incident.objects.get()
    assert incident.count == 50
    assert Delivery.objects.filter(channel="telegram").count() == 1


@pytest.mark.django_db
def test_meta_with_decimals_and_datetimes_is_stored_as_plain_json():
    from decimal import Decimal

    now = timezone.now()
    incident = raise_incident("WARNING", "cap near", "costs", {"spent": Decimal("24.500001"), "at": now}).incident
    incident.refresh_from_db()
    assert incident.meta == {"spent": "24.500001", "at": now.isoformat()}
    assert raise_incident("INFO", "x", "y", ["a", 1]).incident.meta == {"value": ["a", 1]}


@pytest.mark.django_db(transaction=True)
def test_opened_and_resolved_incidents_are_logged_after_commit(log_dir):
    import orjson

    raise_incident("ERROR", "queue stuck", "worker", fingerprint="q-1")
    raise_incident("ERROR", "queue stuck", "worker", fingerprint="q-1")
    resolve_incident("q-1", by="bob")
    events = [orjson.loads(line) for line in (log_dir / "incidents.ndjson").read_bytes().splitlines()]
    assert [(e["event"], e["sev"], e["fingerprint"]) for e in events] == [
        ("opened", "ERROR", "q-1"),
        ("resolved", "ERROR", "q-1"),
    ]
    assert events[1]["by"] == "bob"


def test_importing_the_package_touches_no_model():
    import subprocess
    import sys

    code = "import incidents; print(incidents.raise_incident.__name__)"
    env = {"PATH": "/usr/bin:/bin"}  # no DJANGO_SETTINGS_MODULE: nothing may need the app registry
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "raise_incident"


@pytest.mark.django_db
def test_a_more_severe_repeat_escalates_the_open_incident_and_pages_at_once(telegram):
    first = raise_incident("INFO", "m", "api", fingerprint="F")
    assert not Delivery.objects.exists()
    second = raise_incident("CRITICAL", "m", "api", fingerprint="F")
    assert second.deduplicated and second.escalated and not second.created
    assert second.incident.pk == first.incident.pk
    incident = Incident.objects.get()
    assert (incident.severity, incident.count) == ("CRITICAL", 2)
    assert [d.channel for d in second.deliveries] == ["telegram"]
    assert Delivery.objects.get().severity == "CRITICAL"


@pytest.mark.django_db
def test_a_less_or_equally_severe_repeat_only_bumps_the_count(telegram):
    raise_incident("ERROR", "m", "api", fingerprint="F")
    lower = raise_incident("WARNING", "m", "api", fingerprint="F")
    same = raise_incident("ERROR", "m", "api", fingerprint="F")
    assert not lower.escalated and not same.escalated
    incident = Incident.objects.get()
    assert (incident.severity, incident.count) == ("ERROR", 3)
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_an_escalated_incident_is_silenced_as_a_new_one_of_its_severity_would_be(telegram):
    from incidents.services import silence

    info_silence = silence(severity="INFO", hours=1)
    assert raise_incident("INFO", "m", "api", fingerprint="F").incident.silenced_by == info_silence
    escalated = raise_incident("CRITICAL", "m", "api", fingerprint="F")
    assert escalated.incident.silenced_by is None
    assert Incident.objects.get().silenced_by is None
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_python_callers_meta_with_a_nul_raises_and_writes_nothing():
    with pytest.raises(ValidationError, match="NUL"):
        raise_incident("INFO", "x", "test", {"a\x00": "b"})
    with pytest.raises(ValidationError, match="NUL"):
        raise_incident("INFO", "x", "test", {"a": ["b\x00"]})
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_backslash_followed_by_u0000_is_text_not_a_nul():
    meta = {"path": "C:\\u0000", "both": "\\\x00"}
    with pytest.raises(ValidationError, match="NUL"):
        raise_incident("INFO", "x", "test", meta)
    del meta["both"]
    assert raise_incident("INFO", "x", "test", meta).incident.meta == {"path": "C:\\u0000"}


@pytest.mark.django_db
def test_an_unacknowledged_incident_is_reminded_even_when_its_sender_is_quiet(telegram):
    from incidents.services import remind_unacknowledged

    now = timezone.now()
    raise_incident("CRITICAL", "checkout down", "pagerduty", fingerprint="pd-1", now=now)
    raise_incident("WARNING", "disk 85%", "host-1", now=now)  # its route does not page
    assert remind_unacknowledged(now=now + timedelta(minutes=59)) == 0
    assert remind_unacknowledged(now=now + timedelta(minutes=61)) == 1
    assert remind_unacknowledged(now=now + timedelta(minutes=70)) == 0
    assert remind_unacknowledged(now=now + timedelta(minutes=122)) == 1
    acknowledge_incident("pd-1", by="alice", now=now + timedelta(minutes=130))
    assert remind_unacknowledged(now=now + timedelta(hours=5)) == 0
    reminders = Delivery.objects.filter(kind=Delivery.REPAGE, incident__fingerprint="pd-1")
    assert reminders.count() == 2 and Incident.objects.count() == 2
