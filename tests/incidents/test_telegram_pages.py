"""Telegram pages keep what matters: the 4,096-character limit is measured on the text after entity
parsing, the body is cut at a word, the header and footer stay whole, and link previews are turned
off with Bot API 7.0's link_preview_options. Every sendMessage is checked against the Bot API's
contract (tests/incidents/telegram_contract.py)."""

import re

import pytest

from incidents import pager, raise_incident
from incidents.channels import telegram_html
from incidents.models import Delivery

from .telegram_contract import visible_text

pytestmark = pytest.mark.django_db

FOOTER = re.compile(
    r"\nsource: (.+)\nseen: \d+x since .+ UTC(?:\nrunbook: \S+)?\nconsole: \S+"
    r"\nincident #(\d+) fingerprint [0-9a-f]+\ndelivery: \d+$"
)


def sent_page(telegram, severity, msg, source="checkout") -> tuple[str, Delivery]:
    result = raise_incident(severity, msg, source)
    (delivery,) = [d for d in result.deliveries if d.channel == "telegram"]
    pager.deliver(delivery.pk)
    return visible_text(telegram.requests[-1]["json"]), delivery


def test_a_page_full_of_ampersands_keeps_its_incident_and_source_lines(telegram):
    text, delivery = sent_page(telegram, "CRITICAL", "R&D & ops & " * 600)
    footer = FOOTER.search(text)
    assert footer and footer.group(1) == "checkout" and int(footer.group(2)) == delivery.incident_id
    assert text.startswith("[CRITICAL] R&D & ops &")
    # Cut by what Telegram counts: the escaped text is far longer, and still accepted.
    assert len(telegram.requests[-1]["json"]["text"]) > 4096 >= len(text) > 3900


def test_a_page_of_angle_brackets_uses_almost_all_of_the_limit(telegram):
    text, _ = sent_page(telegram, "CRITICAL", "if a<b and c>d then " * 400)
    assert 4000 < len(text) <= 4096
    assert "incident #" in text.splitlines()[-2] and text.splitlines()[-1].startswith("delivery: ")


def test_the_body_is_cut_at_a_word_never_inside_one(telegram):
    words = [f"word{n:04d}" for n in range(900)]
    text, _ = sent_page(telegram, "CRITICAL", "start\n" + " ".join(words))
    body = text.split("\nsource: ")[0]
    assert body.endswith("…")
    last = body[:-1].split()[-1]
    assert last in words  # a whole word, not a piece of one


def test_a_short_page_is_sent_whole(telegram):
    text, delivery = sent_page(telegram, "CRITICAL", "p99 <1200ms> & rising")
    assert text.splitlines()[0] == "[CRITICAL] p99 <1200ms> & rising"
    closing = f"fingerprint {delivery.incident.fingerprint[:16]}\ndelivery: {delivery.pk}"
    assert "…" not in text and text.endswith(closing)


def test_link_previews_are_turned_off_with_link_preview_options(telegram):
    sent_page(telegram, "CRITICAL", "see https://status.example.com/incident/42")
    body = telegram.requests[-1]["json"]
    assert body["link_preview_options"] == {"is_disabled": True}
    assert "disable_web_page_preview" not in body


def test_the_plain_text_resend_keeps_the_footer_too(telegram):
    telegram.script = [(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"})]
    text, _ = sent_page(telegram, "CRITICAL", "x & y " * 1000)
    assert "parse_mode" not in telegram.requests[-1]["json"]
    assert FOOTER.search(text)


def test_emoji_count_twice_as_telegram_counts_them():
    html = telegram_html(
        "[CRITICAL] " + "🔥 " * 3000 + "\nsource: x\nseen: 1x since 2026-01-01 00:00:00 UTC\nincident #1 fingerprint ab"
    )
    text = visible_text({"chat_id": 1, "text": html, "parse_mode": "HTML"})
    assert len(text.encode("utf-16-le")) // 2 <= 4096 and text.endswith("fingerprint ab")
