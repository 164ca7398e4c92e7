"""A silence names what it silences, ends in the future and within MAX_SILENCE; who and when are the server's."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents.models import MAX_SILENCE, Silence
from incidents.services import silence

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("oncall", "oncall@example.com", "pw"))
    return client


def add_silence(staff, expires_at, **matchers):
    form = {"source": "", "severity": "", "fingerprint": "", "reason": "maintenance", **matchers}
    form.update({"expires_at_0": f"{expires_at:%Y-%m-%d}", "expires_at_1": f"{expires_at:%H:%M:%S}"})
    return staff.post("/admin/incidents/silence/add/", form)


def in_days(days):
    return timezone.now() + timedelta(days=days)


def test_the_admin_refuses_a_silence_without_any_matcher(staff):
    response = add_silence(staff, in_days(1))
    assert response.status_code == 200
    assert "would silence every incident" in response.content.decode()
    assert not Silence.objects.exists()


@pytest.mark.parametrize("expires_at", [timezone.now() - timedelta(minutes=5), timezone.now().replace(year=9999)])
def test_the_admin_refuses_an_expiry_in_the_past_or_past_the_maximum(staff, expires_at):
    response = add_silence(staff, expires_at, source="batch")
    assert response.status_code == 200
    assert f"at most {MAX_SILENCE.days} days from now" in response.content.decode()
    assert not Silence.objects.exists()


def test_the_admin_accepts_a_scoped_silence_and_sets_who_and_when_itself(staff):
    before = timezone.now()
    response = add_silence(staff, in_days(2), source="batch", created_at_0="2031-01-01", created_at_1="00:00:00")
    assert response.status_code == 302
    made = Silence.objects.get()
    assert made.created_by == "oncall"
    assert before <= made.created_at <= timezone.now()


def test_the_admin_refuses_an_edit_that_pushes_the_expiry_past_the_maximum(staff):
    quiet = silence(source="batch", hours=1)
    form = {"source": "batch", "severity": "", "fingerprint": "", "reason": ""}
    later = in_days(365)
    form.update({"expires_at_0": f"{later:%Y-%m-%d}", "expires_at_1": f"{later:%H:%M:%S}"})
    response = staff.post(f"/admin/incidents/silence/{quiet.pk}/change/", form)
    assert response.status_code == 200
    quiet.refresh_from_db()
    assert quiet.expires_at < in_days(1)


@pytest.mark.parametrize("hours", [0, -1, MAX_SILENCE / timedelta(hours=1) + 1, 24 * 365 * 9000, float("nan")])
def test_the_service_refuses_a_silence_that_is_over_or_too_long(hours):
    with pytest.raises(ValidationError, match="hours"):
        silence(source="batch", hours=hours)
    assert not Silence.objects.exists()


def test_the_service_accepts_the_maximum(db):
    now = timezone.now()
    assert silence(source="batch", hours=MAX_SILENCE / timedelta(hours=1), now=now).expires_at == now + MAX_SILENCE
