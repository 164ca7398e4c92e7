import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from echopilot import keys
from echopilot.models import DashKey, JobRun
from incidents.models import Incident

pytestmark = pytest.mark.django_db

STATUS = "/api/queue/status"


def status_with(client, raw):
    return client.get(STATUS, HTTP_X_DASH_KEY=raw).status_code


def test_rotated_key_and_its_successor_both_work_during_the_overlap_then_only_the_successor(client, capsys, settings):
    settings.DASH_KEY_CACHE_S = 0
    old, old_raw = DashKey.issue("ci", DashKey.ADMIN)

    call_command("dashkey", "rotate", "ci", "--overlap-days", "7")
    new_raw = capsys.readouterr().out.strip().splitlines()[-1]

    assert new_raw.startswith("ep_") and new_raw != old_raw
    assert status_with(client, old_raw) == 200 and status_with(client, new_raw) == 200
    old.refresh_from_db()
    successor = DashKey.objects.get(name="ci", replaced_by__isnull=True)
    assert old.replaced_by == successor and successor.role == DashKey.ADMIN
    assert timedelta(days=6, hours=23) < old.expires - timezone.now() <= timedelta(days=7)

    DashKey.objects.filter(pk=old.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert status_with(client, old_raw) == 401 and status_with(client, new_raw) == 200


def test_a_remembered_key_is_not_trusted_past_its_expiry(client, settings):
    settings.DASH_KEY_CACHE_S = 3600
    key, raw = DashKey.issue("ci", DashKey.ANALYST)
    DashKey.objects.filter(pk=key.pk).update(expires=timezone.now() + timedelta(milliseconds=300))
    assert status_with(client, raw) == 200

    time.sleep(0.4)
    assert status_with(client, raw) == 401


def test_rotating_an_unknown_name_or_a_bad_overlap_is_refused():
    DashKey.issue("ci", DashKey.ADMIN)
    with pytest.raises(CommandError, match="no working key named 'nope'"):
        call_command("dashkey", "rotate", "nope")
    with pytest.raises(CommandError, match="between 0 and 365"):
        call_command("dashkey", "rotate", "ci", "--overlap-days", "-1")
    assert DashKey.objects.count() == 1


def test_rotation_never_lengthens_an_earlier_expiry():
    old, _ = DashKey.issue("ci", DashKey.ANALYST)
    soon = timezone.now() + timedelta(days=2)
    DashKey.objects.filter(pk=old.pk).update(expires=soon)
    keys.rotate("ci", overlap_days=7)
    old.refresh_from_db()
    assert old.expires == soon


def test_create_with_an_expiry_and_list_shows_it(capsys):
    call_command("dashkey", "create", "--name", "temp", "--expires-days", "3")
    key = DashKey.objects.get(name="temp")
    assert timedelta(days=2, hours=23) < key.expires - key.created <= timedelta(days=3)
    call_command("dashkey", "list")
    assert "expires" in capsys.readouterr().out


def test_daily_check_raises_an_incident_for_old_and_for_expiring_keys(settings):
    settings.DASH_KEY_MAX_AGE_DAYS = 90
    now = timezone.now()
    old, _ = DashKey.issue("grafana", DashKey.ANALYST)
    DashKey.objects.filter(pk=old.pk).update(created=now - timedelta(days=91))
    expiring, _ = DashKey.issue("contractor", DashKey.ANALYST)
    DashKey.objects.filter(pk=expiring.pk).update(expires=now + timedelta(days=5))
    DashKey.issue("fresh", DashKey.ADMIN)
    rotated, _ = DashKey.issue("ci", DashKey.ADMIN)
    DashKey.objects.filter(pk=rotated.pk).update(created=now - timedelta(days=200))
    keys.rotate("ci")  # the old ci key ends its overlap as planned; its successor is new

    call_command("dashkey_check")

    messages = sorted(Incident.objects.values_list("message", flat=True))
    assert len(messages) == 2
    assert "'contractor'" in messages[0] and "expires in" in messages[0]
    assert "'grafana'" in messages[1] and "91 days old" in messages[1]
    assert JobRun.objects.get(name="dashkey_check").outcome == JobRun.Outcome.OK


def test_admin_action_rotates_and_shows_the_new_key_once(admin_client):
    key, _ = DashKey.issue("grafana", DashKey.ANALYST)

    answer = admin_client.post(
        "/admin/echopilot/dashkey/", {"action": "rotate", "_selected_action": [key.pk]}, follow=True
    )

    successor = DashKey.objects.get(name="grafana", replaced_by__isnull=True)
    shown = [str(m) for m in answer.context["messages"]]
    assert any(f"ep_{successor.prefix}_" in m for m in shown)
    key.refresh_from_db()
    assert key.replaced_by == successor and key.expires is not None
