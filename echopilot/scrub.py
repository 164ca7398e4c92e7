"""Secrets taken out of text before it is stored or sent, in every form they come back in.

An outside server's error can echo what it was sent: Telegram answered a 401 with the bot token
percent-encoded (`123456%3ATG...`), a JSON body carries it escaped. Each configured secret is
blanked raw, percent-encoded (quote and quote_plus, either case of hex) and JSON-escaped, and the
token part of any Bot API URL (`/bot<token>/`) or anything shaped like a bot token, configured or not.
"""

import json
import re
from urllib.parse import quote, quote_plus

from django.conf import settings

MASK = "[secret]"
# Settings that hold one secret each; STRIPE_WEBHOOK_SECRET may hold several, comma-separated.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "PORTAL_SIGNING_SECRET",
    "STRIPE_WEBHOOK_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "SMTP_PASS",
    "PAGER_WEBHOOK_SECRET",
    "DASHBOARD_KEY",
)
# A Bot API token: digits, a colon (maybe percent-encoded), then the secret part.
BOT_TOKEN = re.compile(r"\b\d{3,}(?::|%3[aA])[A-Za-z0-9_-]{8,}")
BOT_URL_TOKEN = re.compile(r"(/bot)[^/\s?#\"']+")
SHORTEST_SECRET = 4  # shorter values would blank ordinary words


def scrub(text: str) -> str:
    """`text` with every configured secret, in every encoding, and every Bot API token blanked."""
    for form in sorted(_forms(), key=len, reverse=True):
        text = text.replace(form, MASK)
    text = BOT_URL_TOKEN.sub(rf"\1{MASK}", text)
    return BOT_TOKEN.sub(MASK, text)


def configured_secrets() -> list[str]:
    """Every secret value in the settings (with the portal's old keys and the env API keys)."""
    values = [str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS]
    values += [str(v) for v in getattr(settings, "PORTAL_SIGNING_SECRET_FALLBACKS", [])]
    values += [str(k) for k in (getattr(settings, "ROLES_JSON", None) or {})]
    split = [part.strip() for value in values for part in value.split(",")]
    return [v for v in {*values, *split} if len(v) >= SHORTEST_SECRET]


def _forms() -> set[str]:
    forms = set()
    for secret in configured_secrets():
        encoded = quote(secret, safe="")
        forms |= {secret, encoded, _lower_hex(encoded), quote_plus(secret), json.dumps(secret)[1:-1]}
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    return {f for f in forms if f}


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
