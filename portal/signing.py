"""Signed portal links: Django's signing (HMAC-SHA256) keyed by PORTAL_SIGNING_SECRET.

Each purpose has its own salt, so a token made for one purpose (the self-service page, an
unsubscribe) is never accepted for another (a download). A token names its customer and that
customer's link generation; revoking a customer's links bumps the generation.

Every failure, whatever the reason, is one `LinkRefused`: callers answer one 403 and never say which
check failed. `inspect` exists only so the audit log can name the customer behind a refused token.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

DOWNLOAD = "echopilot.portal.download"
SELF_SERVICE = "echopilot.portal.self-service"
UNSUBSCRIBE = "echopilot.portal.unsubscribe"


class LinkRefused(Exception):
    """The token is not good for this purpose now; deliberately carries no reason."""


@dataclass(frozen=True)
class SignedLink:
    token: str
    expires: datetime | None


class _ClockedSigner(signing.TimestampSigner):
    """A TimestampSigner whose clock is `now`, so expiry is judged against a time we control."""

    def __init__(self, *, now: datetime, **kwargs) -> None:
        super().__init__(**kwargs)
        self.now = now

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.now.timestamp()))

    def unsign(self, value, max_age=None) -> str:
        plain = signing.Signer.unsign(self, value)
        value, stamp = plain.rsplit(self.sep, 1)
        if max_age is not None:
            age = self.now.timestamp() - signing.b62_decode(stamp)
            if age > _seconds(max_age) or age < -60:
                raise signing.SignatureExpired("expired")
        return value


def _seconds(max_age) -> float:
    return max_age.total_seconds() if isinstance(max_age, timedelta) else float(max_age)


def _signer(purpose: str, now: datetime) -> _ClockedSigner:
    return _ClockedSigner(
        now=now,
        key=settings.PORTAL_SIGNING_SECRET,
        fallback_keys=list(settings.PORTAL_SIGNING_SECRET_FALLBACKS),
        salt=purpose,
        algorithm="sha256",
    )


def sign(purpose: str, payload: dict, ttl: timedelta | None, now=None) -> SignedLink:
    """A token carrying `payload` for `purpose`, valid for `ttl` from `now` (None: no expiry)."""
    now = now or timezone.now()
    token = _signer(purpose, now).sign_object(payload, compress=True)
    return SignedLink(token=token, expires=now + ttl if ttl is not None else None)


def verify(purpose: str, token: str, ttl: timedelta | None, now=None) -> dict:
    """The payload of a token made for `purpose` within `ttl` of `now`; else LinkRefused."""
    now = now or timezone.now()
    try:
        payload = _signer(purpose, now).unsign_object(token or "", max_age=ttl)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise LinkRefused() from None
    if not isinstance(payload, dict):
        raise LinkRefused()
    return payload


def inspect(purpose: str, token: str) -> dict | None:
    """The payload of an authentic token regardless of its age, for the audit log only."""
    try:
        payload = _signer(purpose, timezone.now()).unsign_object(token or "")
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def link_ttl() -> timedelta:
    return timedelta(hours=settings.PORTAL_LINK_TTL_HRS)


def self_service_ttl() -> timedelta:
    return timedelta(minutes=settings.PORTAL_SELF_SERVICE_TTL_MIN)
