"""The daily digest: the last 24 h by severity and fingerprint, by email, once per local day."""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from echopilot.zones import zone_or_utc

from . import pager
from .channels import configured_channels
from .models import Delivery, DigestRun, Route
from .services import summarize


def local_now(now=None) -> datetime:
    """`now` in the digest's time zone (PAGER_DIGEST_TIMEZONE)."""
    return (now or timezone.now()).astimezone(zone_or_utc("PAGER_DIGEST_TIMEZONE", settings.PAGER_DIGEST_TIMEZONE))


def digest_text(summary: dict, severities: set[str]) -> tuple[str, str]:
    """Subject and plain-text body of a digest built from `summarize()` output."""
    groups = [g for g in summary["groups"] if g["severity"] in severities]
    totals = ", ".join(f"{sev} {n}" for sev, n in summary["totals"].items() if sev in severities)
    subject = f"EchoPilot incidents, last 24 h: {sum(g['count'] for g in groups)} events in {len(groups)} groups"
    lines = [subject, f"By severity: {totals}", ""]
    for group in groups:
        lines.append(
            f"[{group['severity']}] {group['source']}: {group['msg'][:200]} x{group['count']} "
            f"({group['status']}, last {group['last_seen'][:16]}, pages sent {group['pages_sent']})"
        )
    if not groups:
        lines.append("Nothing happened. Enjoy the quiet.")
    return subject, "\n".join(lines)


def send_digest_if_due(now=None) -> Delivery | None | bool:
    """At or after PAGER_DIGEST_HOUR local time, record today's digest once; returns its delivery.

    Returns None when it is not time yet or today's digest is already recorded, False when email
    is off (the day is still marked done, so a later configuration does not send yesterday's).
    """
    now = now or timezone.now()
    today = local_now(now)
    if today.hour < settings.PAGER_DIGEST_HOUR:
        return None
    try:
        with transaction.atomic():
            # The unique day is what keeps two clusters from both sending it.
            run = DigestRun.objects.create(day=today.date(), created_at=now)
            return _record_digest(run, now)
    except IntegrityError:
        return None


def preview(now=None) -> str:
    """The digest that would go out now (its body starts with its subject); records and sends nothing."""
    _, body = digest_text(summarize(hours=24, now=now), _digest_severities())
    return body


def _digest_severities() -> set[str]:
    return set(Route.objects.filter(in_digest=True).values_list("severity", flat=True))


def _record_digest(run: DigestRun, now) -> Delivery | bool:
    summary = summarize(hours=24, now=now)
    severities = _digest_severities()
    run.incidents = sum(g["count"] for g in summary["groups"] if g["severity"] in severities)
    run.save(update_fields=["incidents"])
    if "email" not in configured_channels():
        return False
    subject, body = digest_text(summary, severities)
    delivery = Delivery.objects.create(
        channel="email",
        kind=Delivery.DIGEST,
        severity="INFO",
        subject=subject,
        body=body,
        created_at=now,
        next_attempt_at=now,
    )
    pager._send_on_commit([delivery.pk])
    return delivery
