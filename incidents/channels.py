"""Where pages go: one small class per outside system, each with `send(delivery) -> status`.

A channel raises DeliveryError(message, retryable=...) when a send fails; retryable=False means a
retry cannot help (bad credentials, bot blocked, chat not found) and the pager marks it broken.
Error messages never carry a secret (the bot token sits in the Telegram URL, so it is scrubbed).
"""

import hashlib
import hmac
import html
import re
import smtplib
import time

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from echopilot.dbclock import db_now
from echopilot.events import dumps
from echopilot.scrub import scrub

from .links import ack_url, console_url
from .models import ChannelState

TELEGRAM_MAX_CHARS = 4096
BOLD_CHARS = 300
# The lines a page closes with (pager.page_text): what the on-call needs even when the text is cut.
_FOOTER_LINE = re.compile(r"^(source: |seen: |runbook: |console: |incident #|delivery: )")
# Delivery is at least once (a sender killed after the send but before recording it sends again):
# every message carries its delivery's id, the same on each attempt, so a receiver can drop repeats.
DELIVERY_HEADER = "X-EchoPilot-Delivery"
HOW_TO_TURN_ON = "set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID, SMTP_HOST and PAGER_EMAIL_TO, or PAGER_WEBHOOK_URL"


def without_secrets(text: str) -> str:
    """`text` with every configured secret blanked out, raw, percent-encoded or JSON-escaped.

    The channels keep secrets out of their own messages, but an unexpected exception's text, or an
    outside server echoing what it was sent, could still carry one into the admin and the logs.
    """
    return scrub(text)


class DeliveryError(Exception):
    """A failed send. `retryable` says whether trying again later can help."""

    def __init__(
        self, message: str, *, retryable: bool = True, status: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = str(status or "")
        self.retry_after = retry_after


class Channel:
    name = ""

    def is_configured(self) -> bool:
        return not self.off_reason()

    def off_reason(self) -> str:
        """Why the channel is off ('' when it is configured)."""
        raise NotImplementedError

    def send(self, delivery) -> str:
        """Send `delivery`; return the confirming status (e.g. '200'), or raise DeliveryError."""
        raise NotImplementedError


# --- Telegram ----------------------------------------------------------------------------------------


def pace(sleep=time.sleep) -> None:
    """Wait for the chat's next send slot: Telegram allows about one message a second per chat,
    and every qcluster worker process shares the slot through the database."""

    if settings.TELEGRAM_MIN_INTERVAL_S <= 0:
        return
    slot = ChannelState.reserve_send_slot("telegram", settings.TELEGRAM_MIN_INTERVAL_S)
    wait = (slot - db_now()).total_seconds()
    if wait > 0:
        sleep(wait)


def visible_length(text: str) -> int:
    """How long Telegram counts `text` after entity parsing: UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def cut_at_word(text: str, budget: int) -> str:
    """`text` cut to at most `budget` visible characters at a word boundary, with an ellipsis when
    cut; a word that does not fit is left out whole rather than split."""
    if visible_length(text) <= budget:
        return text
    kept = ""
    for word in re.split(r"(?<=\s)", text):  # each piece ends with its whitespace
        if visible_length(kept + word) > budget - 1:
            break
        kept += word
    return kept.rstrip() + "…"


def page_parts(text: str) -> tuple[str, str, str]:
    """(header, body, footer) of a page: its first line (at most BOLD_CHARS, cut at a word, the rest
    moving to the body), its closing `source:` / `seen:` / `incident #` lines, and what is between."""
    lines = text.split("\n")
    header, body_lines = lines[0], lines[1:]
    footer: list[str] = []
    while body_lines and _FOOTER_LINE.match(body_lines[-1]):
        footer.insert(0, body_lines.pop())
    if visible_length(header) > BOLD_CHARS:
        bold = cut_at_word(header, BOLD_CHARS + 1)[:-1].rstrip() or header[:BOLD_CHARS]
        body_lines.insert(0, header[len(bold) :].lstrip())
        header = bold
    return header, "\n".join(body_lines), "\n".join(footer)


def fit_page(text: str, limit: int = TELEGRAM_MAX_CHARS) -> tuple[str, str, str]:
    """The page's (header, body, footer) with the body cut at a word so that all three, and the
    newlines between them, are at most `limit` visible characters. Header and footer stay whole."""
    header, body, footer = page_parts(text)
    fixed = visible_length(header) + (visible_length(footer) + 1 if footer else 0)
    budget = limit - fixed - 1  # the newline after the header
    return header, cut_at_word(body, max(budget, 0)) if body else "", footer


def telegram_html(text: str, limit: int = TELEGRAM_MAX_CHARS) -> str:
    """The page as Telegram HTML within `limit` characters as Telegram counts them (after entity
    parsing, so `&amp;` is one): the header in bold, the body cut at a word, the footer whole.
    Cut before escaping, so no entity or tag is ever split."""
    header, body, footer = fit_page(text, limit)
    parts = [f"<b>{html.escape(header, quote=False)}</b>", html.escape(body, quote=False)]
    if footer:
        parts.append(html.escape(footer, quote=False))
    return "\n".join(parts)


def plain_cut(text: str, limit: int = TELEGRAM_MAX_CHARS) -> str:
    """The page as plain text within `limit` characters, for the resend without markup."""
    header, body, footer = fit_page(text, limit)
    return "\n".join([header, body] + ([footer] if footer else []))


class Telegram(Channel):
    name = "telegram"

    def off_reason(self) -> str:
        missing = [n for n in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID") if not getattr(settings, n)]
        return f"{' and '.join(missing)} not set" if missing else ""

    def send(self, delivery) -> str:
        text = with_delivery_line(delivery.body, delivery)
        formatted = {"text": telegram_html(text), "parse_mode": "HTML"}
        try:
            return self._post(formatted)
        except _ParseRefused:
            # Telegram refused our markup; the words matter more than the bold.
            return self._post({"text": plain_cut(text)})

    def _post(self, fields: dict) -> str:
        chat_id = settings.TELEGRAM_CHAT_ID
        pace()
        url = f"{settings.TELEGRAM_API_BASE.rstrip('/')}/bot{settings.TELEGRAM_BOT_TOKEN}/sendMessage"
        try:
            response = requests.post(
                url,
                # link_preview_options replaced disable_web_page_preview in Bot API 7.0.
                json={"chat_id": chat_id, "link_preview_options": {"is_disabled": True}, **fields},
                timeout=settings.PAGER_HTTP_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            # The exception text includes the URL, and the URL includes the token.
            raise DeliveryError(f"telegram unreachable: {type(exc).__name__}", retryable=True) from None
        return self._outcome(response)

    def _outcome(self, response) -> str:
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        code = response.status_code
        description = str(data.get("description", ""))[:300] or response.reason or ""
        if code == 200 and data.get("ok"):
            return "200"
        if code == 429:
            raise DeliveryError(f"telegram 429: {description}", status="429", retry_after=_retry_after(data))
        if code == 400 and "parse entities" in description.lower():
            raise _ParseRefused(description)
        if code >= 500 or code == 200:
            raise DeliveryError(f"telegram {code}: {description}", status=str(code))
        # 400 chat not found, 401 bad token, 403 bot blocked or kicked: waiting will not fix these.
        raise DeliveryError(f"telegram {code}: {description}", retryable=False, status=str(code))


class _ParseRefused(Exception):
    pass


def _retry_after(data: dict) -> float:
    parameters = data.get("parameters")
    try:
        return max(float(parameters.get("retry_after", 1)), 0.0) if isinstance(parameters, dict) else 1.0
    except (TypeError, ValueError):
        return 1.0


# --- Email -------------------------------------------------------------------------------------------


class Email(Channel):
    name = "email"

    def off_reason(self) -> str:
        return "" if settings.SMTP_HOST else "SMTP_HOST not set"

    def recipients(self) -> list[str]:
        return list(settings.PAGER_EMAIL_TO) or [settings.SMTP_FROM]

    def send(self, delivery) -> str:
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend",
            host=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            username=settings.SMTP_USER or None,
            password=settings.SMTP_PASS or None,
            use_tls=settings.SMTP_USE_TLS,
            timeout=settings.PAGER_HTTP_TIMEOUT_S,
        )
        # Header injection guard: a message's newlines must not reach the Subject header.
        subject = " ".join(delivery.subject.split())[:250]
        message = EmailMessage(
            subject,
            with_delivery_line(with_ack_link(delivery), delivery),
            settings.SMTP_FROM,
            self.recipients(),
            connection=connection,
            headers={DELIVERY_HEADER: str(delivery.pk)},
        )
        try:
            message.send()
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"smtp auth refused ({exc.smtp_code})", retryable=False, status=str(exc.smtp_code)
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({str(code) for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"smtp refused recipients ({', '.join(codes)})", retryable=False, status=codes[0]
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"smtp {exc.smtp_code}: {_text(exc.smtp_error)}",
                retryable=exc.smtp_code < 500,
                status=str(exc.smtp_code),
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp unreachable: {type(exc).__name__}: {exc}", retryable=True) from None
        return "250 OK"


def with_delivery_line(text: str, delivery) -> str:
    """`text` closing with the line naming its delivery (kept whole when Telegram's limit cuts the body)."""
    return f"{text}\ndelivery: {delivery.pk}"


def with_ack_link(delivery) -> str:
    """The page's text, with its one-click acknowledge link when it pages for an incident."""
    url = ack_link_of(delivery)
    return f"{delivery.body}\n\nAcknowledge (asks to confirm): {url}" if url else delivery.body


def ack_link_of(delivery) -> str | None:
    if delivery.incident_id is None or delivery.kind not in ("page", "repage"):
        return None
    return ack_url(delivery)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# --- Webhook -----------------------------------------------------------------------------------------


SIGNATURE_HEADER = "X-EchoPilot-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value, as Stripe signs: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>." + body>`. The time is inside the MAC, so a receiver can refuse an old page replayed."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class Webhook(Channel):
    name = "webhook"

    def off_reason(self) -> str:
        return "" if settings.PAGER_WEBHOOK_URL else "PAGER_WEBHOOK_URL not set"

    def send(self, delivery) -> str:
        body = dumps(payload_of(delivery))
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery.pk)}
        if settings.PAGER_WEBHOOK_SECRET:
            headers[SIGNATURE_HEADER] = sign(settings.PAGER_WEBHOOK_SECRET, body)
        try:
            response = requests.post(
                settings.PAGER_WEBHOOK_URL, data=body, headers=headers, timeout=settings.PAGER_HTTP_TIMEOUT_S
            )
        except requests.RequestException as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}", retryable=True) from None
        code = response.status_code
        if 200 <= code < 300:
            return str(code)
        retryable = code >= 500 or code in (408, 425, 429)
        raise DeliveryError(f"webhook answered {code}", retryable=retryable, status=str(code))


def payload_of(delivery) -> dict:
    """The JSON a webhook receiver gets for `delivery`."""
    incident = delivery.incident
    return {
        "delivery_id": delivery.pk,
        "kind": delivery.kind,
        "severity": delivery.severity,
        "subject": delivery.subject,
        "text": delivery.body,
        "incident": incident.to_dict() if incident else None,
        "console_url": console_url(incident) if incident else None,
        "runbook_url": (incident.runbook_url or None) if incident else None,
        "acknowledge_url": ack_link_of(delivery),
    }


CHANNEL_CLASSES = {cls.name: cls for cls in (Telegram, Email, Webhook)}


def channel_for(name: str) -> Channel:
    """The channel instance for `name` (telegram, email, webhook)."""
    return CHANNEL_CLASSES[name]()


def configured_channels(include_off: bool = False) -> dict[str, Channel]:
    """Channel name -> instance, for the channels whose settings are present (or all of them)."""
    channels: dict[str, Channel] = {name: cls() for name, cls in CHANNEL_CLASSES.items()}
    return channels if include_off else {n: c for n, c in channels.items() if c.is_configured()}
