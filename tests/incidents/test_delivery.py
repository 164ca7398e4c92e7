"""Sending pages: Telegram on a loopback Bot API, email to aiosmtpd, the JSON webhook; retries and failures."""

import hashlib
import hmac
import time
from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from incidents import pager, raise_incident
from incidents.models import ChannelState, Delivery, DeliveryAttempt
from tests.incidents.conftest import CHAT, TOKEN

pytestmark = pytest.mark.django_db

TOO_MANY = (
    429,
    {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    },
)
SERVER_ERROR = (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
BLOCKED = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
BAD_MARKUP = (
    400,
    {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities: Unsupported start tag"},
)


def page_events(log_dir):
    path = log_dir / "incidents.ndjson"
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []
    return [e for e in events if e["event"] == "page"]


def only_delivery(channel):
    return Delivery.objects.get(channel=channel)


def test_telegram_429_then_500_then_200_sends_exactly_one_message(telegram, log_dir):
    telegram.script = [TOO_MANY, SERVER_ERROR]
    raise_incident("CRITICAL", "payments down", "billing")
    delivery = pager.deliver(only_delivery("telegram").pk)
    assert delivery.status == Delivery.SENT and delivery.attempts == 3
    assert [r["status"] for r in telegram.requests] == [429, 500, 200]
    # retry_after=1 is honoured: the second try waits at least a second.
    assert telegram.requests[1]["at"] - telegram.requests[0]["at"] >= 1.0
    assert telegram.requests[2]["path"] == f"/bot{TOKEN}/sendMessage"
    assert telegram.requests[2]["json"]["chat_id"] == CHAT
    assert list(delivery.attempt_log.values_list("status", "ok")) == [("429", False), ("500", False), ("200", True)]
    # A delivery confirmed with 200 is never sent again.
    assert pager.deliver(delivery.pk) is None
    assert pager.send_due(now=timezone.now() + timedelta(hours=1)) == {}
    assert len(telegram.requests) == 3
    events = page_events(log_dir)
    assert [(e["event"], e["sev"], e["channel"], e["attempt"], e["result"], e["status"]) for e in events] == [
        ("page", "CRITICAL", "telegram", 1, "429", "pending"),
        ("page", "CRITICAL", "telegram", 2, "500", "pending"),
        ("page", "CRITICAL", "telegram", 3, "200", "sent"),
    ]
    assert {e["id"] for e in events} == {str(delivery.incident_id)}


def test_telegram_message_is_escaped_for_html(telegram):
    raise_incident("CRITICAL", "p99 <1200ms> & rising", "slo")
    pager.deliver(only_delivery("telegram").pk)
    sent = telegram.requests[0]["json"]
    assert sent["parse_mode"] == "HTML"
    assert "p99 &lt;1200ms&gt; &amp; rising" in sent["text"]
    assert sent["text"].startswith("<b>")


def test_refused_markup_is_resent_as_plain_text(telegram):
    telegram.script = [BAD_MARKUP]
    raise_incident("CRITICAL", "weird <tag>", "x")
    delivery = pager.deliver(only_delivery("telegram").pk)
    assert delivery.status == Delivery.SENT and delivery.attempts == 1
    assert "parse_mode" not in telegram.requests[1]["json"]
    assert "weird <tag>" in telegram.requests[1]["json"]["text"]


def test_telegram_sends_to_one_chat_about_one_a_second(telegram, settings):
    settings.TELEGRAM_MIN_INTERVAL_S = 0.4
    raise_incident("CRITICAL", "one", "a")
    raise_incident("CRITICAL", "two", "b")
    pager.send_due()
    assert len(telegram.requests) == 2
    assert telegram.requests[1]["at"] - telegram.requests[0]["at"] >= 0.35


def test_bot_blocked_stops_retries_marks_broken_and_reports_on_email(telegram, smtp):
    telegram.script = [BLOCKED]
    raise_incident("CRITICAL", "db down", "db")
    delivery = pager.deliver(only_delivery("telegram").pk)
    assert delivery.status == Delivery.FAILED and delivery.attempts == 1
    assert len(telegram.requests) == 1
    state = ChannelState.objects.get(name="telegram")
    assert state.broken_at is not None and "blocked" in state.broken_reason
    notice = Delivery.objects.get(kind=Delivery.NOTICE)
    assert notice.channel == "email"
    pager.send_due()
    subjects = [m.content.decode() for m in smtp.messages]
    assert any("Pager channel telegram is broken" in s for s in subjects)
    # While broken, new pages to Telegram are recorded as failed, not sent.
    raise_incident("CRITICAL", "another", "x")
    broken_page = Delivery.objects.filter(channel="telegram", kind=Delivery.PAGE).latest("pk")
    assert broken_page.status == Delivery.FAILED and "channel broken" in broken_page.last_error
    assert pager.repair_channel("telegram") == 1


def test_email_arrives_at_a_real_smtp_server(smtp, log_dir):
    raise_incident("CRITICAL", "disk\nfull", "host-1")
    delivery = pager.deliver(only_delivery("email").pk)
    assert delivery.status == Delivery.SENT and delivery.last_status == "250 OK"
    assert len(smtp.messages) == 1
    envelope = smtp.messages[0]
    assert envelope.mail_from == "pager@echopilot.test" and envelope.rcpt_tos == ["oncall@echopilot.test"]
    content = envelope.content.decode()
    assert "Subject: [CRITICAL] host-1: disk full" in content
    assert [(e["channel"], e["result"]) for e in page_events(log_dir)] == [("email", "250 OK")]


def test_dead_smtp_server_is_tried_five_times_then_failed(dead_smtp, log_dir):
    raise_incident("CRITICAL", "db down", "db")
    delivery = pager.deliver(only_delivery("email").pk)
    assert delivery.status == Delivery.FAILED and delivery.attempts == 5
    assert DeliveryAttempt.objects.filter(delivery=delivery, ok=False).count() == 5
    assert "ConnectionRefusedError" in delivery.last_error
    assert not ChannelState.objects.filter(name="email", broken_at__isnull=False).exists()
    events = page_events(log_dir)
    assert [(e["channel"], e["attempt"], e["status"]) for e in events] == [
        ("email", 1, "pending"),
        ("email", 2, "pending"),
        ("email", 3, "pending"),
        ("email", 4, "pending"),
        ("email", 5, "failed"),
    ]
    assert pager.send_due(now=timezone.now() + timedelta(days=1)) == {}


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.PAGER_BACKOFF_BASE_S = 2
    settings.PAGER_BACKOFF_MAX_S = 300
    delays = [pager.backoff_delay(n, rng=lambda: 1.0) for n in range(1, 6)]
    assert delays == [2, 4, 8, 16, 32]
    assert pager.backoff_delay(3, rng=lambda: 0.0) == 4  # jitter spreads over the upper half
    assert pager.backoff_delay(20, rng=lambda: 1.0) == 300


def test_retry_further_away_waits_for_the_next_run(telegram, settings):
    settings.PAGER_INLINE_WAIT_MAX_S = 0.5
    telegram.script = [
        (429, {"ok": False, "error_code": 429, "description": "slow down", "parameters": {"retry_after": 40}})
    ]
    raise_incident("CRITICAL", "x", "y")
    now = timezone.now()
    delivery = pager.deliver(only_delivery("telegram").pk, now=now)
    assert delivery.status == Delivery.PENDING and delivery.next_attempt_at >= now + timedelta(seconds=40)
    assert pager.send_due(now=now + timedelta(seconds=10)) == {}
    assert pager.send_due(now=now + timedelta(seconds=41)) == {"sent": 1}


def test_a_sender_that_died_mid_send_is_sent_again_after_its_lease(telegram, settings):
    raise_incident("CRITICAL", "x", "y")
    now = timezone.now()
    delivery = pager.claim(only_delivery("telegram").pk, now)  # claimed, then the process "dies"
    assert delivery.status == Delivery.SENDING
    assert pager.send_due(now=now + timedelta(seconds=10)) == {}
    assert pager.send_due(now=now + timedelta(seconds=settings.PAGER_LEASE_S + 1)) == {"sent": 1}
    assert len(telegram.requests) == 1


def test_webhook_is_signed_with_hmac_over_its_time_and_body(webhook, settings):
    settings.PAGER_WEBHOOK_SECRET = "whsec-123"
    raise_incident("CRITICAL", "queue stuck", "worker")
    before = int(time.time())
    delivery = pager.deliver(only_delivery("webhook").pk)
    assert delivery.status == Delivery.SENT and delivery.last_status == "200"
    request = webhook.requests[0]
    # The receiver's check from the README: parse t and v1, recompute over "<t>.<body>", judge the age.
    parts = dict(item.split("=", 1) for item in request["headers"]["X-EchoPilot-Signature"].split(","))
    expected = hmac.new(b"whsec-123", parts["t"].encode() + b"." + request["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert before <= int(parts["t"]) <= time.time() + 1
    # The same body under another time does not verify: a replay cannot re-date itself.
    later = hmac.new(b"whsec-123", str(int(parts["t"]) + 600).encode() + b"." + request["raw"], hashlib.sha256)
    assert later.hexdigest() != parts["v1"]
    assert request["json"]["incident"]["msg"] == "queue stuck" and request["json"]["severity"] == "CRITICAL"


def test_webhook_4xx_is_permanent_and_5xx_retries(webhook):
    webhook.script = [(503, {}), (404, {})]
    raise_incident("CRITICAL", "x", "y")
    delivery = pager.deliver(only_delivery("webhook").pk)
    assert delivery.status == Delivery.FAILED and delivery.attempts == 2
    assert ChannelState.objects.get(name="webhook").broken_at is not None


def test_secrets_never_reach_the_error_or_the_log(settings, log_dir):
    settings.TELEGRAM_BOT_TOKEN = "999:very-secret-token"
    settings.TELEGRAM_CHAT_ID = "1"
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"  # nothing listens: a connection error names the URL
    settings.PAGER_MAX_ATTEMPTS = 2
    raise_incident("CRITICAL", "x", "y")
    delivery = pager.deliver(only_delivery("telegram").pk)
    assert delivery.status == Delivery.FAILED
    texts = [delivery.last_error, *delivery.attempt_log.values_list("error", flat=True)]
    assert all("very-secret-token" not in t for t in texts)
    assert b"very-secret-token" not in (log_dir / "incidents.ndjson").read_bytes()


def test_a_channel_switched_off_after_recording_fails_the_page_without_breaking(telegram, settings):
    raise_incident("CRITICAL", "x", "y")
    settings.TELEGRAM_BOT_TOKEN = ""
    delivery = pager.deliver(only_delivery("telegram").pk)
    assert delivery.status == Delivery.FAILED and "channel is off: TELEGRAM_BOT_TOKEN not set" in delivery.last_error
    assert telegram.requests == []
    assert not ChannelState.objects.filter(broken_at__isnull=False).exists()


def test_a_retry_left_for_later_is_scheduled_at_its_time(telegram, settings):
    from django_q.models import Schedule

    settings.PAGER_INLINE_WAIT_MAX_S = 0.5
    telegram.script = [
        (429, {"ok": False, "error_code": 429, "description": "slow down", "parameters": {"retry_after": 40}})
    ]
    raise_incident("CRITICAL", "x", "y")
    delivery = pager.deliver(only_delivery("telegram").pk)
    job = Schedule.objects.get(func="incidents.tasks.send_deliveries")
    assert job.next_run == delivery.next_attempt_at


def test_waiting_in_place_stops_once_the_waits_add_up(telegram, settings):
    settings.PAGER_INLINE_WAIT_MAX_S = 2.5
    slow_down = (429, {"ok": False, "error_code": 429, "description": "slow down", "parameters": {"retry_after": 1}})
    telegram.script = [slow_down] * 4
    raise_incident("CRITICAL", "x", "y")
    waits = []
    delivery = pager.deliver(only_delivery("telegram").pk, now=timezone.now(), sleep=waits.append)
    assert delivery.status == Delivery.PENDING and delivery.attempts == 3
    assert sum(waits) <= 2.5 and len(waits) == 2


def test_smtp_login_is_used_and_bad_credentials_break_email_at_once(smtp_with_login, telegram, settings):
    settings.SMTP_PASS = "right-password"
    raise_incident("CRITICAL", "first", "a")
    assert pager.deliver(only_delivery("email").pk).status == Delivery.SENT
    assert len(smtp_with_login.messages) == 1

    settings.SMTP_PASS = "wrong-password"
    raise_incident("CRITICAL", "second", "b")
    delivery = pager.deliver(Delivery.objects.filter(channel="email").latest("pk").pk)
    assert delivery.status == Delivery.FAILED and delivery.attempts == 1 and delivery.last_status == "535"
    assert "wrong-password" not in delivery.last_error
    assert ChannelState.objects.get(name="email").broken_at is not None
    notice = Delivery.objects.get(kind=Delivery.NOTICE)
    assert notice.channel == "telegram"
    pager.deliver(notice.pk)
    assert "Pager channel email is broken" in telegram.requests[-1]["json"]["text"]


def test_every_try_of_a_telegram_page_names_the_same_delivery_so_a_receiver_can_drop_repeats(telegram):
    telegram.script = [SERVER_ERROR]
    raise_incident("CRITICAL", "payments down", "billing")
    delivery = pager.deliver(only_delivery("telegram").pk)
    texts = [r["json"]["text"] for r in telegram.requests]
    assert len(texts) == 2 and all(t.endswith(f"\ndelivery: {delivery.pk}") for t in texts)


def test_a_long_telegram_page_is_cut_before_its_delivery_line(telegram):
    raise_incident("CRITICAL", "disk full " + "word " * 2000, "host-1")
    delivery = pager.deliver(only_delivery("telegram").pk)
    text = telegram.requests[0]["json"]["text"]
    assert len(text) <= 4096 + 20 and text.endswith(f"\ndelivery: {delivery.pk}")  # + the <b></b> tags


def test_an_email_page_carries_its_delivery_in_a_header_and_a_body_line(smtp):
    raise_incident("CRITICAL", "disk full", "host-1")
    delivery = pager.deliver(only_delivery("email").pk)
    content = smtp.messages[0].content.decode()
    assert f"X-EchoPilot-Delivery: {delivery.pk}" in content
    assert f"\ndelivery: {delivery.pk}" in content.replace("\r\n", "\n")


def test_a_webhook_page_carries_its_delivery_in_a_header_and_a_field(webhook):
    raise_incident("CRITICAL", "queue stuck", "worker")
    delivery = pager.deliver(only_delivery("webhook").pk)
    request = webhook.requests[0]
    assert request["headers"]["X-EchoPilot-Delivery"] == str(delivery.pk)
    assert request["json"]["delivery_id"] == delivery.pk
