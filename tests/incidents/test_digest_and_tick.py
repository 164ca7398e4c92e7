"""The daily digest (09:00 local, once a day) and the 5-minute pager run (`manage.py incident_pager`)."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import orjson
import pytest
from django.core.management import CommandError, call_command

from incidents import pager, raise_incident
from incidents.digest import send_digest_if_due
from incidents.models import Delivery, DigestRun
from incidents.schedules import SCHEDULES
from tests.races import race

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def at(hour, minute=0, tz=LONDON):
    return datetime(2026, 11, 23, hour, minute, tzinfo=tz)


def test_digest_waits_for_nine_local_then_goes_once(smtp, settings):
    settings.PAGER_DIGEST_TIMEZONE = "Europe/London"
    raise_incident("WARNING", "disk 81%", "host-1", now=at(3))
    raise_incident("WARNING", "disk 82%", "host-1", now=at(4))
    raise_incident("ERROR", "retry storm", "worker", now=at(5))
    assert send_digest_if_due(now=at(8, 59)) is None
    delivery = send_digest_if_due(now=at(9, 1))
    assert delivery.kind == Delivery.DIGEST and delivery.channel == "email"
    assert send_digest_if_due(now=at(15)) is None
    pager.deliver(delivery.pk, now=at(9, 1))
    assert len(smtp.messages) == 1
    content = smtp.messages[0].content.decode()
    assert "last 24 h: 3 events in 2 groups" in content
    assert "[WARNING] host-1: disk 81% x2" in content
    # The next local day gets its own.
    assert send_digest_if_due(now=at(9, 1) + timedelta(days=1)) is not None


def test_digest_hour_is_judged_in_the_configured_time_zone(smtp, settings):
    settings.PAGER_DIGEST_TIMEZONE = "Asia/Tokyo"
    # 01:00 in London is 10:00 in Tokyo: due there.
    assert send_digest_if_due(now=at(1)) is not None
    assert DigestRun.objects.get().day.isoformat() == "2026-11-23"


def test_digest_with_email_off_marks_the_day_done():
    assert send_digest_if_due(now=at(10)) is False
    assert send_digest_if_due(now=at(11)) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clusters_checking_the_digest_at_once_send_it_once(smtp):
    results = race(lambda _: send_digest_if_due(now=at(9, 5)), range(6))
    assert len([r for r in results if r]) == 1
    assert Delivery.objects.filter(kind=Delivery.DIGEST).count() == 1


def test_incident_pager_command_sends_reads_logs_and_writes_the_summary(telegram, log_dir):
    raise_incident("CRITICAL", "db down", "db")
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "uptime.ndjson").write_bytes(
        orjson.dumps({"event": "burn", "sev": "CRITICAL", "msg": "budget burning 3x", "source": "slo"}) + b"\n"
    )
    call_command("incident_pager")
    # The due page went out; the one raised from the log is handed to the send task (or the next run).
    assert len(telegram.requests) == 1
    summary = orjson.loads((log_dir / "incident_summary.json").read_bytes())
    assert {g["msg"] for g in summary["groups"]} == {"db down", "budget burning 3x"}
    assert summary["totals"]["CRITICAL"] == 2
    call_command("incident_pager")
    assert len(telegram.requests) == 2


def test_schedules_declare_the_five_minute_pager():
    jobs = {job.name: job for job in SCHEDULES}
    assert jobs["incident_pager"].func == "incidents.tasks.pager_tick" and jobs["incident_pager"].minutes == 5
    assert jobs["incident_digest"].func == "incidents.tasks.digest_tick"


def test_a_misspelt_digest_time_zone_falls_back_to_utc_and_fails_readiness(settings):
    from incidents.digest import local_now
    from incidents.health import pager_check

    settings.PAGER_DIGEST_TIMEZONE = "Europe/Londn"
    assert local_now(at(9)).utcoffset() == timedelta(0)
    check = pager_check()
    assert not check.ok and "PAGER_DIGEST_TIMEZONE 'Europe/Londn'" in check.detail


def test_digest_preview_prints_what_would_go_out_and_sends_nothing(smtp):
    raise_incident("WARNING", "disk 91% on db-1", "node")
    out = StringIO()
    call_command("incident_pager", "--digest", "--preview", stdout=out)
    text = out.getvalue()
    assert text.startswith("EchoPilot incidents, last 24 h: 1 events in 1 groups")
    assert "[WARNING] node: disk 91% on db-1 x1" in text
    assert not DigestRun.objects.exists() and not Delivery.objects.exists()


def test_preview_without_digest_is_refused():
    with pytest.raises(CommandError, match="--digest --preview"):
        call_command("incident_pager", "--preview")
