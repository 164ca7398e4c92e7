"""Dash key rotation: a successor issued beside the old key, which keeps working until the overlap
ends, and the daily look for keys that are too old or about to expire."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .auth import forget_resolved_keys
from .models import DashKey

MAX_OVERLAP_DAYS = 365


def active_keys(now=None) -> QuerySet[DashKey]:
    """Stored keys that work now: not revoked, not expired."""
    now = now or timezone.now()
    return DashKey.objects.filter(revoked__isnull=True).filter(Q(expires__isnull=True) | Q(expires__gt=now))


def rotate(name: str, overlap_days: float = 7, now=None) -> tuple[DashKey, str]:
    """Issue a successor to the working key(s) named `name`, with their role; they keep working for
    `overlap_days` more (never longer than they would have). Returns the new key and its raw secret,
    which is shown once and never stored."""
    now = now or timezone.now()
    if not 0 <= overlap_days <= MAX_OVERLAP_DAYS:
        raise ValidationError({"overlap_days": f"must be between 0 and {MAX_OVERLAP_DAYS}"})
    with transaction.atomic():
        old = list(active_keys(now).select_for_update().filter(name=name, replaced_by__isnull=True))
        if not old:
            raise ValidationError({"name": f"no working key named {name!r} (see `manage.py dashkey list`)"})
        roles = {key.role for key in old}
        if len(roles) > 1:
            raise ValidationError({"name": f"keys named {name!r} have different roles; revoke one first"})
        successor, raw = DashKey.issue(name, roles.pop())
        overlap_end = now + timedelta(days=overlap_days)
        for key in old:
            key.expires = min(key.expires, overlap_end) if key.expires else overlap_end
            key.replaced_by = successor
            key.save(update_fields=["expires", "replaced_by"])
    forget_resolved_keys()
    return successor, raw


@dataclass(frozen=True)
class KeyFinding:
    """A key an operator should rotate, and why."""

    key: DashKey
    reason: str

    @property
    def fingerprint(self) -> str:
        return f"dashkey:{self.key.prefix}:{'age' if 'old' in self.reason else 'expiry'}"


def keys_needing_rotation(now=None) -> list[KeyFinding]:
    """Working keys without a successor that are older than DASH_KEY_MAX_AGE_DAYS or expire within
    DASH_KEY_EXPIRY_WARN_DAYS. A key already rotated is ending its overlap as planned: not listed."""
    now = now or timezone.now()
    max_age = timedelta(days=settings.DASH_KEY_MAX_AGE_DAYS)
    warn = now + timedelta(days=settings.DASH_KEY_EXPIRY_WARN_DAYS)
    findings = []
    for key in active_keys(now).filter(replaced_by__isnull=True).order_by("created"):
        if key.expires is not None and key.expires <= warn:
            hours = (key.expires - now).total_seconds() / 3600
            findings.append(KeyFinding(key, f"expires in {hours / 24:.1f} days ({key.expires:%Y-%m-%d %H:%M} UTC)"))
        elif now - key.created > max_age:
            findings.append(KeyFinding(key, f"is {(now - key.created).days} days old (max {max_age.days})"))
    return findings
