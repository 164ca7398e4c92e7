"""A secret an outside server echoes back, in any encoding, reaches no delivery row, log line, status
answer or email."""

import json
from urllib.parse import quote

import pytest

from echopilot.scrub import scrub
from incidents import pager, raise_incident
from incidents.models import ChannelState, Delivery, DeliveryAttempt
from tests.incidents.conftest import TOKEN

pytestmark = pytest.mark.django_db

ECHOED_TOKEN = (
    401,
    {"ok": False, "error_code": 401, "description": f"Unauthorized: bad token {quote(TOKEN, safe='')} (/bot{TOKEN}/)"},
)


def test_a_telegram_401_echoing_the_token_percent_encoded_leaves_it_nowhere(
    telegram, smtp, log_dir, analyst_api, settings
):
    telegram.script = [ECHOED_TOKEN]
    raise_incident("CRITICAL", "db down", "db")
    page = pager.deliver(Delivery.objects.get(channel="telegram").pk)
    pager.send_due()  # the "channel broken" notice goes out by email
    secret_part = TOKEN.split(":")[1]
    stored = [
        page.last_error,
        *DeliveryAttempt.objects.values_list("error", flat=True),
        *ChannelState.objects.values_list("broken_reason", flat=True),
        *Delivery.objects.values_list("body", flat=True),
        (log_dir / "incidents.ndjson").read_text(),
        analyst_api.get("/api/incidents/status").content.decode(),
        *(m.content.decode() for m in smtp.messages),
    ]
    assert "Unauthorized" in page.last_error and smtp.messages
    assert all(secret_part not in text for text in stored)
    assert all("test-token" not in text for text in stored)


@pytest.mark.parametrize(
    "name", ["SMTP_PASS", "PAGER_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "PORTAL_SIGNING_SECRET"]
)
def test_every_configured_secret_is_blanked_raw_percent_encoded_and_json_escaped(settings, name):
    secret = 'p"ss/wörd+&=é\\x'
    setattr(settings, name, secret)
    forms = [secret, quote(secret, safe=""), quote(secret, safe="").lower(), json.dumps(secret)[1:-1]]
    forms.append(json.dumps(secret, ensure_ascii=False)[1:-1])
    for form in forms:
        assert scrub(f"server said: {form}.") == "server said: [secret]."


def test_one_of_several_rolled_stripe_secrets_is_blanked(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_new_aaaaaaaa,whsec_old_bbbbbbbb"
    assert scrub("echo whsec_old_bbbbbbbb") == "echo [secret]"


def test_an_unconfigured_bot_token_in_a_bot_api_url_is_blanked(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    text = scrub(
        "GET https://api.telegram.org/bot987654321:AAHxyz-secret_part/getMe and 987654321%3AAAHxyz-secret_part"
    )
    assert "AAHxyz" not in text and "/bot[secret]/getMe" in text
