"""What the admin and the card say about the pager's channels: none on, and how each one's last attempt went."""

import pytest
from django.contrib.auth.models import User

from incidents import pager, raise_incident
from incidents.channels import Email
from incidents.models import ChannelState, Delivery, Incident

pytestmark = pytest.mark.django_db

SECRET = "hunter2-secret-value"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("oncall", "oncall@example.com", "pw"))
    return client


def page_again(staff, incident):
    return staff.post(
        "/admin/incidents/incident/", {"action": "page_again", "_selected_action": [incident.pk]}, follow=True
    ).content.decode()


def test_page_again_without_any_channel_says_so_and_names_the_settings(staff):
    incident = raise_incident("CRITICAL", "db down", "db").incident
    page = page_again(staff, incident)
    assert "No pager channel is configured" in page
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "SMTP_HOST", "PAGER_EMAIL_TO", "PAGER_WEBHOOK_URL"):
        assert name in page
    assert "Recorded 0 page(s)" not in page
    assert not Delivery.objects.exists()


def test_the_card_warns_when_no_channel_is_on(staff):
    page = staff.get("/admin/").content.decode()
    assert 'id="incidents-no-channel"' in page
    assert "CRITICAL incidents page nobody" in page


def test_the_card_does_not_warn_once_a_channel_is_on(staff, webhook):
    assert 'id="incidents-no-channel"' not in staff.get("/admin/").content.decode()


def test_readiness_stays_ok_without_channels(client):
    assert client.get("/healthz/strict").status_code == 200


def fail_email(settings, dead_smtp):
    settings.PAGER_MAX_ATTEMPTS = 1
    raise_incident("CRITICAL", "db down", "db")
    pager.deliver(Delivery.objects.get(channel="email").pk)


def test_the_channel_admin_shows_that_the_last_email_attempt_failed(staff, settings, dead_smtp):
    fail_email(settings, dead_smtp)
    page = staff.get("/admin/incidents/channelstate/").content.decode()
    assert "last attempt failed" in page and "smtp unreachable" in page


def test_the_card_shows_an_on_channel_whose_last_attempt_failed(staff, settings, dead_smtp):
    fail_email(settings, dead_smtp)
    page = staff.get("/admin/").content.decode()
    assert '<span class="ep-state-critical">— last attempt failed' in page and "smtp unreachable" in page


def test_a_success_after_a_failure_shows_the_success(settings, dead_smtp, smtp):
    settings.PAGER_MAX_ATTEMPTS = 1
    incident = raise_incident("CRITICAL", "db down", "db").incident
    ChannelState.objects.filter(name="email").update(last_failed_at=incident.first_seen, last_failure="smtp 421: busy")
    pager.deliver(Delivery.objects.get(channel="email").pk)
    state = ChannelState.objects.get(name="email")
    assert state.last_attempt().startswith("last attempt ok")
    assert "last attempt ok" in pager.channel_status()[1]["last_attempt"]


@pytest.mark.parametrize("setting", ["SMTP_PASS", "TELEGRAM_BOT_TOKEN", "PAGER_WEBHOOK_SECRET"])
def test_a_failure_reason_never_shows_a_secret(staff, settings, smtp, monkeypatch, setting):
    setattr(settings, setting, SECRET)
    settings.PAGER_MAX_ATTEMPTS = 1

    def leaky_send(self, delivery):
        raise RuntimeError(f"login as pager:{SECRET} went wrong")

    monkeypatch.setattr(Email, "send", leaky_send)
    raise_incident("CRITICAL", "db down", "db")
    pager.deliver(Delivery.objects.get(channel="email").pk)
    for page in (
        staff.get("/admin/incidents/channelstate/"),
        staff.get("/admin/"),
        staff.get(f"/admin/incidents/incident/{Incident.objects.get().pk}/change/"),
    ):
        text = page.content.decode()
        assert "went wrong" in text and SECRET not in text
