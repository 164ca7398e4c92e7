"""The inbox: raise, deduplicate, acknowledge, resolve, silence and summarise incidents.

Other apps call `incidents.raise_incident(...)`; the API, the webhooks and the NDJSON consumer call
the same function. Pages are planned in `incidents.pager` inside the raise's transaction.
"""

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Max, Min, QuerySet, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from echopilot.events import append_event, dumps, write_snapshot

from . import links, pager
from .models import MAX_SILENCE, SEVERITIES, Delivery, FingerprintLock, Incident, Silence
from .pager import channel_status

MAX_MESSAGE_CHARS = 4000
BATCH_SIZE = 1000
MAX_SILENCE_HOURS = MAX_SILENCE / timedelta(hours=1)

# A NUL as orjson writes it: the escape \u0000 after an even run of backslashes (after an odd run,
# the backslash is the text's own and "u0000" is plain text).
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")

_VOLATILE = [
    # Order matters: timestamps and uuids contain numbers and hex, so they go first.
    (re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{6,}\b"), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]


@dataclass(frozen=True)
class Occurrence:
    """One report of a problem, as `raise_incidents` takes it: the arguments of `raise_incident`."""

    severity: str
    msg: str
    source: str
    meta: object = None
    fingerprint: str | None = None


@dataclass
class RaiseResult:
    """What one raise did: the incident it landed on, whether it opened it, whether it was a repeat,
    and whether it raised the incident's severity."""

    incident: Incident
    created: bool
    deduplicated: bool
    deliveries: list = field(default_factory=list)
    escalated: bool = False
    resilenced: bool = False


def normalize_severity(severity) -> str:
    """The canonical upper-case severity; a ValidationError for anything outside INFO..CRITICAL."""
    value = str(severity or "").strip().upper()
    if value not in SEVERITIES:
        raise ValidationError(f"severity must be one of {', '.join(SEVERITIES)}")
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
    """Record one occurrence of a problem and page for it when it is new or more severe than before.

    A raise whose fingerprint matches an unresolved incident joins it, however old it is (a sender
    repeats a firing alert until it resolves it): the count and last_seen go up. When it is more
    severe, the incident takes its severity (its first message stays) and is paged (or silenced) as
    a new incident of that severity would be; when the incident is still unacknowledged and its last
    page is PAGER_REPEAT_MIN old, the repeat pages a reminder; otherwise nobody is paged. Without an
    unresolved incident a new one opens and its pages are recorded in the same transaction; they are
    handed to the send task once it commits. Raises of one fingerprint are serialised by a row lock,
    so concurrent raises never open twice nor escalate twice.
    """
    return raise_incidents([Occurrence(severity, msg, source, meta, fingerprint)], now=now)[0]


def raise_incidents(occurrences, *, now=None) -> list[RaiseResult]:
    """Raise each occurrence in turn, as `raise_incident` would, in one transaction and a few queries
    however many there are (an Alertmanager notification carries up to 10,000).

    A bad occurrence is a ValidationError before anything is written. An incident opened or escalated
    more than once within the call is paged once, for the severity it ends with.
    """

    now = now or timezone.now()
    occurrences = [_checked(occurrence) for occurrence in occurrences]
    fingerprints = {occurrence.fingerprint for occurrence in occurrences}
    with transaction.atomic():
        _lock_fingerprints(fingerprints)
        open_ones = _unresolved(fingerprints)
        silences = list(Silence.objects.filter(expires_at__gt=now).order_by("-expires_at"))
        results = [_land(occurrence, open_ones, silences, now) for occurrence in occurrences]
        _save(results, now)
        paging = _paging_results(results)
        pages = pager.plan_pages_for([result.incident for result in paging], now=now)
        for result in paging:
            result.deliveries = pages[result.incident.pk]
            event = "opened" if result.created else "escalated"
            _log_on_commit(
                event, result.incident, silenced=bool(result.incident.silenced_by_id), pages=len(result.deliveries)
            )
        _remind(results, now)
    return results


def _remind(results: list[RaiseResult], now) -> None:
    """Page a reminder for the repeats that land on an unacknowledged incident whose last page is
    PAGER_REPEAT_MIN old: the sender says it still fires and nobody has taken it."""
    repeats = {id(r.incident): r for r in results if r.deduplicated and not r.escalated and not r.created}
    due = pager.reminders_due([r.incident for r in repeats.values()], now=now)
    if not due:
        return
    pages = pager.plan_pages_for(due, now=now, kind=Delivery.REPAGE, routed=True)
    for result in repeats.values():
        result.deliveries = pages.get(result.incident.pk, [])
        if result.deliveries:
            _log_on_commit("reminded", result.incident, pages=len(result.deliveries))


def remind_unacknowledged(*, now=None, limit=BATCH_SIZE) -> int:
    """Page a reminder for open, unacknowledged, unsilenced incidents whose severity's route pages
    and whose last page is PAGER_REPEAT_MIN old, even when their sender is quiet (a PagerDuty
    trigger comes once). At most `limit` incidents a run; returns the pages recorded.

    The fingerprints are locked as a raise locks them, so a repeat arriving at the same moment and
    this run never remind the same incident twice.
    """
    now = now or timezone.now()
    paging = [severity for severity in SEVERITIES if pager.route_for(severity).page_now]
    waiting = Incident.objects.filter(status=Incident.OPEN, silenced_by__isnull=True, severity__in=paging)
    fingerprints = set(waiting.order_by("last_seen").values_list("fingerprint", flat=True)[:limit])
    if not fingerprints:
        return 0
    with transaction.atomic():
        _lock_fingerprints(fingerprints)
        due = pager.reminders_due(list(waiting.filter(fingerprint__in=fingerprints)), now=now)
        pages = pager.plan_pages_for(due, now=now, kind=Delivery.REPAGE, routed=True)
        for incident in due:
            if pages[incident.pk]:
                _log_on_commit("reminded", incident, pages=len(pages[incident.pk]))
    return sum(len(recorded) for recorded in pages.values())


def record_alerts(alerts, *, by: str, now=None) -> tuple[list[RaiseResult], int]:
    """One notification's alerts in order, all or nothing: `(True, occurrence)` raises the
    occurrence, `(False, occurrence)` resolves its fingerprint. Returns the raises and how many
    incidents were resolved."""
    raised, resolved = [], 0
    with transaction.atomic():
        for batch in _without_repeated_fingerprints(alerts):
            resolving = [occurrence.fingerprint for firing, occurrence in batch if not firing]
            resolved += resolve(Incident.objects.filter(fingerprint__in=resolving), by=by, now=now)
            raised += raise_incidents([occurrence for firing, occurrence in batch if firing], now=now)
    return raised, resolved


def _without_repeated_fingerprints(alerts) -> Iterator[list[tuple[bool, Occurrence]]]:
    """`alerts` cut where a fingerprint comes back: within a run, raising the firing ones and
    resolving the others as two bulk steps ends as going through them one by one would."""
    batch: list = []
    seen: set[str | None] = set()
    for firing, occurrence in alerts:
        if occurrence.fingerprint in seen:
            yield batch
            batch, seen = [], set()
        batch.append((firing, occurrence))
        seen.add(occurrence.fingerprint)
    if batch:
        yield batch


def _checked(occurrence: Occurrence) -> Occurrence:
    """The occurrence as stored: canonical severity, bounded text, plain JSON meta and a fingerprint."""
    severity = normalize_severity(occurrence.severity)
    msg = str(occurrence.msg)[:MAX_MESSAGE_CHARS]
    source = str(occurrence.source or "unknown")[:200]
    fingerprint = occurrence.fingerprint
    fingerprint = str(fingerprint)[:255] if fingerprint else fingerprint_for(severity, msg, source)
    return Occurrence(severity, msg, source, _jsonable(occurrence.meta), fingerprint)


def _jsonable(meta) -> dict:
    """`meta` as plain JSON (callers pass Decimals, datetimes, enums); a non-dict is kept under "value"."""
    if meta is None:
        return {}
    try:
        plain = orjson.loads(storable_json(meta))
    except ValidationError as exc:
        raise ValidationError(f"meta {' '.join(exc.messages)}") from exc
    return plain if isinstance(plain, dict) else {"value": plain}


def storable_json(value) -> bytes:
    """`value` as JSON text every database stores, or a ValidationError saying why it cannot be.

    orjson refuses an int beyond 64 bits, a lone surrogate and nesting past 254 levels; PostgreSQL
    refuses a NUL character in jsonb and text (SQLite stores it, so only production would fail).
    """
    try:
        text = dumps(value)
    except orjson.JSONEncodeError as exc:
        raise ValidationError(f"must be plain JSON: {exc}") from exc
    if _NUL_ESCAPE.search(text):
        raise ValidationError("must not contain a NUL character (\\u0000)")
    return text


def json_without_nul(text: bytes) -> bytes:
    """JSON text with every NUL character replaced by U+FFFD, so that PostgreSQL can store it."""
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", text)


def _unresolved(fingerprints) -> dict[str, Incident]:
    """The newest unresolved incident of each fingerprint, however old: one open incident per alert."""
    unresolved = (
        Incident.objects.filter(fingerprint__in=fingerprints).exclude(status=Incident.RESOLVED).order_by("last_seen")
    )
    return {incident.fingerprint: incident for incident in unresolved}


def _lock_fingerprints(fingerprints) -> None:
    """Hold the fingerprints' lock rows until the transaction ends (making the rows on first use).

    In sorted order, so that two raises sharing fingerprints queue up instead of deadlocking.
    """
    ordered = sorted(fingerprints)
    missing = set(ordered) - set(_locked(ordered))
    if missing:
        FingerprintLock.objects.bulk_create(
            [FingerprintLock(fingerprint=f) for f in sorted(missing)], ignore_conflicts=True, batch_size=BATCH_SIZE
        )
        _locked(sorted(missing))


def _locked(fingerprints: list[str]) -> list[str]:
    rows = FingerprintLock.objects.select_for_update().filter(fingerprint__in=fingerprints).order_by("fingerprint")
    return list(rows.values_list("fingerprint", flat=True))


def _land(occurrence: Occurrence, open_ones: dict, silences: list, now) -> RaiseResult:
    """Where one occurrence lands, decided in memory (the fingerprint locks keep other raises out):
    a new incident, a repeat of an open one, or a repeat that escalates it."""
    incident = open_ones.get(occurrence.fingerprint)
    if incident is None:
        assert occurrence.fingerprint is not None, "every occurrence has its fingerprint by now"
        incident = Incident(
            fingerprint=occurrence.fingerprint or "",
            severity=occurrence.severity,
            source=occurrence.source,
            message=occurrence.msg,
            meta=occurrence.meta,
            first_seen=now,
            last_seen=now,
        )
        incident.silenced_by = _silence_for(incident, silences)
        open_ones[occurrence.fingerprint] = incident
        return RaiseResult(incident, created=True, deduplicated=False)
    incident.count += 1
    incident.last_seen = max(incident.last_seen, now)
    escalated = SEVERITIES.index(occurrence.severity) > SEVERITIES.index(incident.severity)
    if escalated:
        incident.severity = occurrence.severity
    silenced_by = incident.silenced_by_id
    if escalated or (silenced_by and silenced_by not in {silence.pk for silence in silences}):
        # Escalated, or its silence ran out while it kept firing: judged again against today's silences.
        incident.silenced_by = _silence_for(incident, silences)
    resilenced = incident.silenced_by_id != silenced_by
    return RaiseResult(incident, created=False, deduplicated=True, escalated=escalated, resilenced=resilenced)


def _silence_for(incident: Incident, silences: list[Silence]) -> Silence | None:
    """The first of the active `silences` (latest expiry first) that matches `incident`, or None."""
    return next((silence for silence in silences if silence.matches(incident)), None)


def _save(results: list[RaiseResult], now) -> None:
    """Write what `_land` decided: new incidents inserted, repeats counted, escalations recorded."""
    # Repeats of an incident opened in this call are already in the row it is inserted as.
    repeated = [result for result in results if result.deduplicated and result.incident.pk is not None]
    Incident.objects.bulk_create([result.incident for result in results if result.created], batch_size=BATCH_SIZE)
    # Grouped so that a storm costs a few UPDATEs, not one per incident.
    times = Counter(result.incident.pk for result in repeated)
    for n, pks in _grouped(times, key=times.get).items():
        Incident.objects.filter(pk__in=pks).update(count=F("count") + n, last_seen=Greatest(F("last_seen"), now))
    changed = {result.incident.pk: result.incident for result in repeated if result.escalated or result.resilenced}
    by_state = _grouped(changed.values(), key=lambda incident: (incident.severity, incident.silenced_by_id))
    for (severity, silence_id), incidents in by_state.items():
        Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(severity=severity, silenced_by_id=silence_id)


def _grouped(items, key) -> dict:
    groups = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _paging_results(results: list[RaiseResult]) -> list[RaiseResult]:
    """Per incident opened or escalated, the first result that did it: it answers with the pages."""
    first: dict[int, RaiseResult] = {}
    for result in results:
        if result.created or result.escalated:
            first.setdefault(id(result.incident), result)
    return list(first.values())


def _log_on_commit(event: str, incident: Incident, **fields) -> None:
    # After commit, so the operator's tail -f never shows an incident that was rolled back.
    record = {
        "sev": incident.severity,
        "id": str(incident.pk),
        "source": incident.source,
        "fingerprint": incident.fingerprint,
        **fields,
    }
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


def acknowledge_by_link(token: str, *, now=None) -> Incident:
    """Acknowledge the incident of the page whose one-click link `token` is, using the link up.

    `links.AckRefused` when the link is bad, expired or already used (two clicks racing: one wins).
    An incident already acknowledged or resolved stays as it is.
    """
    now = now or timezone.now()
    delivery = links.delivery_for(token)
    incident = links.incident_of(delivery)
    with transaction.atomic():
        # A conditional update, so that of two clicks racing only one uses the link.
        used = Delivery.objects.filter(pk=delivery.pk, ack_used_at__isnull=True).update(ack_used_at=now)
        if not used:
            raise links.AckRefused("This acknowledge link was already used.")
        acknowledge(Incident.objects.filter(pk=incident.pk), by=f"{delivery.channel} link", now=now)
    incident.refresh_from_db()
    return incident


def deescalate(fingerprint: str, severity: str, *, now=None) -> int:
    """Lower the unresolved incident of `fingerprint` to `severity` when it is above it; pages nobody.

    The other way round is a raise: a more severe repeat escalates and pages. Returns rows changed.
    """
    severity = normalize_severity(severity)
    higher = SEVERITIES[SEVERITIES.index(severity) + 1 :]
    with transaction.atomic():
        _lock_fingerprints({fingerprint})
        lowered = list(
            Incident.objects.filter(fingerprint=fingerprint, severity__in=higher).exclude(status=Incident.RESOLVED)
        )
        Incident.objects.filter(pk__in=[i.pk for i in lowered]).update(severity=severity)
        for incident in lowered:
            _log_on_commit("deescalated", incident, to=severity)
    return len(lowered)


def unresolved_severity(fingerprint: str) -> str | None:
    """The severity of the newest unresolved incident of `fingerprint`, or None when none is."""
    incident = (
        Incident.objects.filter(fingerprint=fingerprint)
        .exclude(status=Incident.RESOLVED)
        .order_by("-last_seen")
        .only("severity")
        .first()
    )
    return incident.severity if incident else None


def add_note(fingerprint: str, text: str, *, now=None) -> bool:
    """Record `text` on the unresolved incident of `fingerprint` (in its meta's "notes"), paging nobody.

    Returns False when no incident of `fingerprint` is unresolved: the caller decides what then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_fingerprints({fingerprint})
        incident = (
            Incident.objects.filter(fingerprint=fingerprint)
            .exclude(status=Incident.RESOLVED)
            .order_by("-last_seen")
            .first()
        )
        if incident is None:
            return False
        meta = incident.meta if isinstance(incident.meta, dict) else {}
        earlier = meta.get("notes", [])
        earlier = earlier if isinstance(earlier, list) else [earlier]
        notes = [*earlier, {"at": now.isoformat(), "text": str(text)[:MAX_MESSAGE_CHARS]}]
        incident.meta = {**meta, "notes": notes[-50:]}  # the latest fifty: a note is not a log
        incident.save(update_fields=["meta"])
    return True


def resolve(incidents, *, by="system", note="", now=None) -> int:
    """Resolve the unresolved incidents among `incidents` (a queryset); returns how many changed."""
    now = now or timezone.now()
    with transaction.atomic():
        open_ones = list(incidents.exclude(status=Incident.RESOLVED).select_for_update())
        done = (
            Incident.objects.filter(pk__in=[i.pk for i in open_ones])
            .exclude(status=Incident.RESOLVED)
            .update(status=Incident.RESOLVED, resolved_at=now, resolved_by=str(by)[:150], resolve_note=note)
        )
        for incident in open_ones:
            _log_on_commit("resolved", incident, by=str(by)[:150])
    return done


def silence(*, source="", severity="", fingerprint="", hours=1.0, by="system", reason="", now=None) -> Silence:
    """Stop paging for incidents matching every given field for `hours`; they are still recorded.

    ValidationError when no field is given, or `hours` is not above 0 and within MAX_SILENCE.
    """
    now = now or timezone.now()
    if not 0 < hours <= MAX_SILENCE_HOURS:
        raise ValidationError(f"hours must be above 0 and at most {MAX_SILENCE_HOURS:g} ({MAX_SILENCE.days} days)")
    quiet = Silence(
        source=source,
        severity=normalize_severity(severity) if severity else "",
        fingerprint=fingerprint,
        reason=reason,
        created_by=str(by)[:150],
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    try:
        quiet.validate_at(now)
    except ValidationError as exc:
        raise ValidationError(" ".join(exc.messages)) from None
    quiet.save()
    return quiet


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
        for row in incidents.values("fingerprint")
        .annotate(count=Sum("count"), incidents=Count("id"), first_seen=Min("first_seen"), last_seen=Max("last_seen"))
        .order_by()
    }
    pages = dict(
        Delivery.objects.filter(incident__in=incidents, status=Delivery.SENT)
        .values_list("incident__fingerprint")
        .annotate(n=Count("id"))
        .order_by()
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
        "since": since.isoformat(),
        "until": now.isoformat(),
        "hours": hours,
        "groups": groups,
        "totals": totals,
        "open": incidents.exclude(status=Incident.RESOLVED).count(),
    }


def _group(latest: Incident, row: Mapping[str, Any], pages_sent: int) -> dict:
    return {
        "fingerprint": latest.fingerprint,
        "severity": latest.severity,
        "source": latest.source,
        "msg": latest.message,
        "count": row["count"],
        "incidents": row["incidents"],
        "first_seen": row["first_seen"].isoformat(),
        "last_seen": row["last_seen"].isoformat(),
        "status": latest.status,
        "pages_sent": pages_sent,
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
            "id": d.pk,
            "incident": d.incident_id,
            "channel": d.channel,
            "kind": d.kind,
            "severity": d.severity,
            "subject": d.subject,
            "status": d.status,
            "attempts": d.attempts,
            "last_status": d.last_status,
            "last_error": d.last_error[:200],
            "created_at": d.created_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        }
        for d in rows
    ]


def pager_status(now=None) -> dict:
    """What the card and /api/incidents/status show: open incidents, channels, deliveries."""

    now = now or timezone.now()
    return {
        "open_by_severity": open_by_severity(),
        "channels": channel_status(),
        "deliveries_failed_24h": Delivery.objects.filter(
            status=Delivery.FAILED, created_at__gte=now - timedelta(hours=24)
        ).count(),
        "deliveries_pending": Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.SENDING]).count(),
        "recent_deliveries": recent_deliveries(),
        "active_silences": Silence.objects.filter(expires_at__gt=now).count(),
    }


def write_summary(now=None) -> dict:
    """Rewrite logs/incident_summary.json with the 24 h summary and the pager's state."""

    now = now or timezone.now()
    data = {"generated_at": now.isoformat(), **summarize(hours=24, now=now), "pager": pager_status(now=now)}
    write_snapshot("incident_summary.json", data)
    return data


def find_incidents(*, status: str = "", severity: str = "", since=None) -> QuerySet[Incident]:
    """Incidents newest first (by last occurrence), narrowed by status, severity and `since` (last
    seen at or after it); the caller pages through the queryset."""
    incidents = Incident.objects.order_by("-last_seen", "-id")
    if status:
        incidents = incidents.filter(status=status)
    if severity:
        incidents = incidents.filter(severity=severity)
    if since is not None:
        incidents = incidents.filter(last_seen__gte=since)
    return incidents


def incident_detail(incident: Incident) -> dict:
    """One incident as the API shows it, with its meta, who acknowledged or resolved it, and every
    page sent for it (each delivery with its attempts)."""
    deliveries = incident.deliveries.order_by("created_at", "id").prefetch_related("attempt_log")
    return {
        **incident.to_dict(),
        "meta": incident.meta,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": _iso(incident.resolved_at),
        "resolved_by": incident.resolved_by,
        "resolve_note": incident.resolve_note,
        "silenced": bool(incident.silenced_by_id),
        "deliveries": [_delivery(d) for d in deliveries],
    }


def _delivery(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk,
        "channel": delivery.channel,
        "kind": delivery.kind,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": _iso(delivery.created_at),
        "sent_at": _iso(delivery.sent_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "attempt_log": [
            {"number": a.number, "ok": a.ok, "status": a.status, "error": a.error, "at": _iso(a.at)}
            for a in delivery.attempt_log.all()
        ],
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None
