"""Pages that bring the operator to the console: its URL, the runbook, the facts, and a one-click
acknowledge link (signed, expiring, single use; GET only asks), sent to real loopback servers."""

import email
import os
import re
import subprocess
import sys
import time
from email import policy

import pytest

from incidents import pager, raise_incident
from incidents.models import Delivery, Incident
from incidents.public_views import REFUSED

pytestmark = pytest.mark.django_db

CONSOLE = "https://console.example.test"
RUNBOOK = "https://runbooks.example.test/checkout"


@pytest.fixture
def console(settings):
    settings.CONSOLE_BASE_URL = CONSOLE


def email_text(envelope) -> str:
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    return message.get_body().get_content().replace("\r\n", "\n")


def ack_link_in(text: str) -> str:
    return re.search(r"Acknowledge \(asks to confirm\): (\S+)", text).group(1)


def test_every_channel_carries_the_console_url_runbook_and_facts(console, telegram, smtp, webhook):
    incident = raise_incident("CRITICAL", "checkout 502s", "web", {"runbook_url": RUNBOOK}).incident
    pager.send_due()
    url = f"{CONSOLE}/admin/incidents/incident/{incident.pk}/change/"
    texts = {
        "telegram": telegram.requests[-1]["json"]["text"],
        "email": email_text(smtp.messages[-1]),
        "webhook": webhook.requests[-1]["json"]["text"],
    }
    for channel, text in texts.items():
        assert f"console: {url}" in text, channel
        assert f"runbook: {RUNBOOK}" in text, channel
        assert "[CRITICAL] checkout 502s" in text and "\nsource: web\n" in text, channel
        assert re.search(r"seen: 1x since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), channel
    payload = webhook.requests[-1]["json"]
    assert (payload["console_url"], payload["runbook_url"]) == (url, RUNBOOK)
    assert payload["acknowledge_url"].startswith(f"{CONSOLE}/incidents/ack/")
    assert ack_link_in(texts["email"]).startswith(f"{CONSOLE}/incidents/ack/")
    assert "/incidents/ack/" not in texts["telegram"]  # a group chat is no place for a one-click ack
    # The link is added as the page goes out: the delivery rows staff can read never hold it.
    assert not Delivery.objects.filter(body__contains="/incidents/ack/").exists()


def test_a_page_without_a_runbook_has_no_runbook_line(console, webhook):
    raise_incident("CRITICAL", "disk full", "db", {"runbook_url": "javascript:alert(1)"})
    pager.send_due()
    payload = webhook.requests[-1]["json"]
    assert "runbook:" not in payload["text"] and payload["runbook_url"] is None


def test_the_ack_link_asks_on_get_acknowledges_on_post_and_works_once(client, console, smtp):
    incident = raise_incident("CRITICAL", "checkout 502s", "web").incident
    pager.send_due()
    path = ack_link_in(email_text(smtp.messages[-1])).removeprefix(CONSOLE)
    for _ in range(2):  # a mail scanner following the link twice acknowledges nothing
        page = client.get(path)
        assert page.status_code == 200 and "Acknowledge incident #" in page.content.decode()
    incident.refresh_from_db()
    assert incident.status == Incident.OPEN
    done = client.post(path)
    assert done.status_code == 200 and "the link is used up" in done.content.decode()
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Incident.ACKNOWLEDGED, "email link")
    again = client.post(path)
    assert again.status_code == 410 and REFUSED in again.content.decode()
    assert done["Cache-Control"] == "private, no-store" and done["Referrer-Policy"] == "no-referrer"


def test_an_expired_or_altered_ack_link_is_refused_with_one_answer(client, console, webhook, settings):
    incident = raise_incident("CRITICAL", "checkout 502s", "web").incident
    pager.send_due()
    path = webhook.requests[-1]["json"]["acknowledge_url"].removeprefix(CONSOLE)
    altered = client.post(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))
    assert altered.status_code == 410 and REFUSED in altered.content.decode()
    settings.PAGER_ACK_LINK_TTL_HRS = 0.5 / 3600  # half a second
    time.sleep(1.6)
    expired = client.post(path)
    assert expired.status_code == 410 and expired.content == altered.content  # which check failed stays unsaid
    incident.refresh_from_db()
    assert incident.status == Incident.OPEN


def test_console_base_url_defaults_to_the_portal_base_url():
    env = {
        **os.environ,
        "PORTAL_BASE_URL": "https://portal.example.test",
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
    }
    env.pop("CONSOLE_BASE_URL", None)
    code = "from django.conf import settings; print(settings.CONSOLE_BASE_URL)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "https://portal.example.test"
