"""The inbox: raise, deduplicate, acknowledge, resolve, silence and summarise incidents.

Other apps call `incidents.raise_incident(...)`; the API, the webhooks and the NDJSON consumer call
the same function. Pages are planned in `incidents.pager` inside the raise's transaction.
"""
import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
from django.db import transaction
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from echopilot.events import append_event, dumps

from .models import DEDUP_WINDOW, SEVERITIES, Delivery, FingerprintLock, Incident, Silence

MAX_MESSAGE_CHARS = 4000

_VOLATILE = [
    # Order matters: timestamps and uuids contain numbers and hex, so they go first.
    (re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{6,}\b"), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]


@dataclass
class RaiseResult:
    """What one raise did: the incident it landed on, whether it opened it, whether it was a repeat."""

    incident: Incident
    created: bool
    deduplicated: bool
    deliveries: list = field(default_factory=list)


def normalize_severity(severity) -> str:
    """The canonical upper-case severity; ValueError for anything outside INFO..CRITICAL."""
    value = str(severity or "").strip().upper()
    if value not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    return value


def normalize_message(msg: str) -> str:
    """The message with numbers, ids, hex and timestamps replaced, so repeats look the same."""
    text = str(msg).strip().lower()
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return text.strip()


def fingerprint_for(severity: str, msg: str, source: str) -> str:
    """A stable fingerprint from source, severity and the normalised message."""
    basis = f"{source.strip().lower()}|{normalize_severity(severity)}|{normalize_message(msg)}"
    return hashlib.sha256(basis.encode()).hexdigest()[:40]


def raise_incident(severity, msg, source, meta=None, *, fingerprint=None, now=None) -> RaiseResult:
    """Record one occurrence of a problem and page for it when it is new.

    A raise whose fingerprint matches an unresolved incident seen within the last hour bumps that
    incident's count and last_seen and pages nobody. Otherwise a new incident opens and its pages
    are recorded in the same transaction; they are handed to the send task once it commits.
    Raises of one fingerprint are serialised by a row lock, so concurrent raises never open twice.
    """
    from . import pager

    severity = normalize_severity(severity)
    msg = str(msg)[:MAX_MESSAGE_CHARS]
    source = str(source or "unknown")[:200]
    meta = _jsonable(meta)
    fingerprint = str(fingerprint)[:255] if fingerprint else fingerprint_for(severity, msg, source)
    now = now or timezone.now()
    with transaction.atomic():
        _lock_fingerprint(fingerprint)
        incident = _recent_unresolved(fingerprint, now)
        if incident is not None:
            _bump(incident, now)
            return RaiseResult(incident, created=False, deduplicated=True)
        incident = Incident.objects.create(
            fingerprint=fingerprint, severity=severity, source=source, message=msg,
            meta=meta,
            first_seen=now, last_seen=now, silenced_by=active_silence_for(fingerprint, severity, source, now),
        )
        deliveries = pager.plan_pages(incident, now=now)
        _log_on_commit("opened", incident, silenced=bool(incident.silenced_by_id), pages=len(deliveries))
    return RaiseResult(incident, created=True, deduplicated=False, deliveries=deliveries)


def _jsonable(meta) -> dict:
    """`meta` as plain JSON (callers pass Decimals, datetimes, enums); a non-dict is kept under "value"."""
    if meta is None:
        return {}
    try:
        plain = orjson.loads(dumps(meta))
    except orjson.JSONEncodeError as exc:  # an int beyond 64 bits, a lone surrogate, nesting past 254
        raise ValueError(f"meta must be plain JSON: {exc}")
    return plain if isinstance(plain, dict) else {"value": plain}


def _recent_unresolved(fingerprint: str, now) -> Incident | None:
    return (
        Incident.objects.filter(fingerprint=fingerprint, last_seen__gte=now - DEDUP_WINDOW)
        .exclude(status=Incident.RESOLVED)
        .order_by("-last_seen")
        .first()
    )


def _lock_fingerprint(fingerprint: str) -> None:
    """Hold the fingerprint's lock row until the transaction ends (making the row on first use)."""
    if not FingerprintLock.objects.select_for_update().filter(fingerprint=fingerprint).exists():
        FingerprintLock.objects.get_or_create(fingerprint=fingerprint)
        FingerprintLock.objects.select_for_update().filter(fingerprint=fingerprint).exists()


def _bump(incident: Incident, now) -> None:
    Incident.objects.filter(pk=incident.pk).update(count=F("count") + 1, last_seen=Greatest(F("last_seen"), now))
    # The fingerprint lock keeps every other raise of this incident out, so the new values are known.
    incident.count += 1
    incident.last_seen = max(incident.last_seen, now)


def _log_on_commit(event: str, incident: Incident, **fields) -> None:
    # After commit, so the operator's tail -f never shows an incident that was rolled back.
    record = {"sev": incident.severity, "id": str(incident.pk), "source": incident.source, "fingerprint": incident.fingerprint, **fields}
    transaction.on_commit(lambda: append_event("incidents", event, **record))


def resolve_incident(fingerprint, *, by="system", note="", now=None) -> int:
    """Resolve every unresolved incident with `fingerprint`; returns how many were resolved."""
    return resolve(Incident.objects.filter(fingerprint=fingerprint), by=by, note=note, now=now)


def acknowledge_incident(fingerprint, *, by="system", now=None) -> int:
    """Acknowledge every open incident with `fingerprint`; returns how many changed."""
    return acknowledge(Incident.objects.filter(fingerprint=fingerprint), by=by, now=now)


def acknowledge(incidents, *, by="system", now=None) -> int:
    """Acknowledge the open incidents among `incidents` (a queryset); returns how many changed."""
    now = now or timezone.now()
    return incidents.filter(status=Incident.OPEN).update(
        status=Incident.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=str(by)[:150]
    )


def resolve(incidents, *, by="system", note="", now=None) -> int:
    """Resolve the unresolved incidents among `incidents` (a queryset); returns how many changed."""
    now = now or timezone.now()
    with transaction.atomic():
        open_ones = list(incidents.exclude(status=Incident.RESOLVED).select_for_update())
        done = Incident.objects.filter(pk__in=[i.pk for i in open_ones]).exclude(status=Incident.RESOLVED).update(
            status=Incident.RESOLVED, resolved_at=now, resolved_by=str(by)[:150], resolve_note=note
        )
        for incident in open_ones:
            _log_on_commit("resolved", incident, by=str(by)[:150])
    return done


def active_silence_for(fingerprint: str, severity: str, source: str, now=None) -> Silence | None:
    """The first unexpired silence that matches, or None."""
    now = now or timezone.now()
    candidates = Silence.objects.filter(expires_at__gt=now).filter(
        Q(source="") | Q(source=source),
        Q(severity="") | Q(severity=severity),
        Q(fingerprint="") | Q(fingerprint=fingerprint),
    )
    return candidates.order_by("-expires_at").first()


def silence(*, source="", severity="", fingerprint="", hours=1.0, by="system", reason="", now=None) -> Silence:
    """Stop paging for incidents matching every given field for `hours`; they are still recorded."""
    now = now or timezone.now()
    if not (source or severity or fingerprint):
        raise ValueError("a silence needs a source, a severity or a fingerprint")
    return Silence.objects.create(
        source=source, severity=normalize_severity(severity) if severity else "", fingerprint=fingerprint,
        reason=reason, created_by=str(by)[:150], created_at=now, expires_at=now + timedelta(hours=hours),
    )


def silence_incidents(incidents, *, hours, by="system", now=None) -> int:
    """Silence the fingerprints of `incidents` (a queryset) for `hours`; returns how many silences."""
    fingerprints = sorted(set(incidents.values_list("fingerprint", flat=True)))
    for fingerprint in fingerprints:
        silence(fingerprint=fingerprint, hours=hours, by=by, reason="silenced from the admin", now=now)
    return len(fingerprints)


def summarize(hours=24, now=None) -> dict:
    """Incidents seen in the last `hours`, grouped by fingerprint, with totals by severity."""
    now = now or timezone.now()
    since = now - timedelta(hours=hours)
    incidents = Incident.objects.filter(last_seen__gte=since)
    stats = {
        row["fingerprint"]: row
        for row in incidents.values("fingerprint").annotate(
            count=Sum("count"), incidents=Count("id"), first_seen=Min("first_seen"), last_seen=Max("last_seen")
        ).order_by()
    }
    pages = dict(
        Delivery.objects.filter(incident__in=incidents, status=Delivery.SENT)
        .values_list("incident__fingerprint").annotate(n=Count("id")).order_by()
    )
    groups, seen = [], set()
    # The newest incident of a fingerprint speaks for its group (severity, message, status).
    for latest in incidents.order_by("-last_seen", "-pk"):
        if latest.fingerprint in seen:
            continue
        seen.add(latest.fingerprint)
        groups.append(_group(latest, stats[latest.fingerprint], pages.get(latest.fingerprint, 0)))
    totals = {sev: 0 for sev in SEVERITIES}
    for group in groups:
        totals[group["severity"]] += group["count"]
    return {
        "since": since.isoformat(), "until": now.isoformat(), "hours": hours,
        "groups": groups, "totals": totals, "open": incidents.exclude(status=Incident.RESOLVED).count(),
    }


def _group(latest: Incident, row: dict, pages_sent: int) -> dict:
    return {
        "fingerprint": latest.fingerprint, "severity": latest.severity, "source": latest.source,
        "msg": latest.message, "count": row["count"], "incidents": row["incidents"],
        "first_seen": row["first_seen"].isoformat(), "last_seen": row["last_seen"].isoformat(),
        "status": latest.status, "pages_sent": pages_sent,
    }


def open_by_severity() -> dict:
    """Unresolved incidents counted by severity (every severity present, zeros included)."""
    counts = dict(
        Incident.objects.exclude(status=Incident.RESOLVED).values_list("severity").annotate(n=Count("id")).order_by()
    )
    return {sev: counts.get(sev, 0) for sev in reversed(SEVERITIES)}


def recent_deliveries(limit=10) -> list[dict]:
    """The last deliveries, newest first, with their state."""
    rows = Delivery.objects.select_related("incident").order_by("-created_at", "-pk")[:limit]
    return [
        {
            "id": d.pk, "incident": d.incident_id, "channel": d.channel, "kind": d.kind, "severity": d.severity,
            "subject": d.subject, "status": d.status, "attempts": d.attempts, "last_status": d.last_status,
            "last_error": d.last_error[:200], "created_at": d.created_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        }
        for d in rows
    ]


def pager_status(now=None) -> dict:
    """What the card and /api/incidents/status show: open incidents, channels, deliveries."""
    from .pager import channel_status

    now = now or timezone.now()
    return {
        "open_by_severity": open_by_severity(),
        "channels": channel_status(),
        "deliveries_failed_24h": Delivery.objects.filter(status=Delivery.FAILED, created_at__gte=now - timedelta(hours=24)).count(),
        "deliveries_pending": Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.SENDING]).count(),
        "recent_deliveries": recent_deliveries(),
        "active_silences": Silence.objects.filter(expires_at__gt=now).count(),
    }


def write_summary(now=None) -> dict:
    """Rewrite logs/incident_summary.json with the 24 h summary and the pager's state."""
    from echopilot.events import write_snapshot

    now = now or timezone.now()
    data = {"generated_at": now.isoformat(), **summarize(hours=24, now=now), "pager": pager_status(now=now)}
    write_snapshot("incident_summary.json", data)
    return data
