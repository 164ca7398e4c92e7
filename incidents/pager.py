"""The pager: which channels an incident pages, the outbox of deliveries, and sending them.

A page is a Delivery row written in the incident's own transaction and handed to a django-q2 task
on commit. The task claims a delivery with a lease, sends it outside any transaction, and records
the outcome. If the process dies between the send and the record, the lease runs out and the
delivery is sent again: a second page is better than none.
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from echopilot.dbclock import db_now
from echopilot.events import append_event

from .channels import DeliveryError, channel_for, configured_channels, without_secrets
from .links import console_url
from .models import ChannelState, Delivery, DeliveryAttempt, Incident, Route

log = logging.getLogger(__name__)

DEFAULT_ROUTES = {"CRITICAL": True, "ERROR": False, "WARNING": False, "INFO": False}
STORM_WINDOW = timedelta(minutes=1)


def route_for(severity: str) -> Route:
    """The routing row for `severity` (created with the default when missing)."""
    route, _ = Route.objects.get_or_create(
        severity=severity, defaults={"page_now": DEFAULT_ROUTES.get(severity, False)}
    )
    return route


def plan_pages(incident: Incident, *, now=None, kind=Delivery.PAGE) -> list[Delivery]:
    """Record the pages `incident` gets under its route (none when silenced). Call inside its transaction."""
    return plan_pages_for([incident], now=now, kind=kind)[incident.pk]


def plan_pages_for(incidents, *, now=None, kind=Delivery.PAGE, routed=False) -> dict[int, list[Delivery]]:
    """Record the pages each of `incidents` gets, by incident id, in a few queries however many
    incidents there are. Call inside the incidents' transaction. A first page (and, with `routed`,
    any other kind) goes where the severity's route says; a page again from the admin goes everywhere."""
    now = now or timezone.now()
    wanted = _channels_wanted(incidents, kind, routed)
    channels = {name: _PlannedChannel(name, now) for name in sorted(set().union(*wanted.values()))}
    planned = {
        incident.pk: _deliveries(incident, [channels[n] for n in wanted[incident.pk]], kind, now)
        for incident in incidents
    }
    deliveries = [delivery for pages in planned.values() for delivery in pages]
    # Due at once by the database's clock: a host whose clock runs ahead must not date pages later.
    due = min(now, db_now()) if deliveries else now
    for delivery in deliveries:
        delivery.next_attempt_at = due
    Delivery.objects.bulk_create(deliveries, batch_size=1000)
    _send_on_commit([d.pk for d in deliveries if d.status == Delivery.PENDING])
    return planned


def _channels_wanted(incidents, kind, routed=False) -> dict[int, list[str]]:
    """Per incident id, the configured channels it pages on, in name order."""
    configured = set(configured_channels())
    if kind != Delivery.PAGE and not routed:
        return {incident.pk: sorted(configured) for incident in incidents}
    routes = {severity: route_for(severity) for severity in {incident.severity for incident in incidents}}
    wanted = {}
    for incident in incidents:
        route = routes[incident.severity]
        paged = route.page_now and not incident.silenced_by_id
        wanted[incident.pk] = sorted(set(route.channel_names()) & configured) if paged else []
    return wanted


def _deliveries(incident: Incident, channels: list, kind: str, now) -> list[Delivery]:
    if not channels:
        return []
    subject, body = page_text(incident, kind)
    return [
        channel.delivery(
            incident=incident,
            channel=channel.name,
            kind=kind,
            severity=incident.severity,
            subject=subject,
            body=body,
            created_at=now,
            next_attempt_at=now,
        )
        for channel in channels
    ]


class _PlannedChannel:
    """A channel while pages are planned for it: its row locked, and what is left of its storm budget."""

    def __init__(self, name: str, now) -> None:
        self.name, self.now = name, now
        # Locking the channel row makes the storm count exact when several raises page at once.
        self.state = _locked_channel(name)
        self.budget_left = settings.PAGER_STORM_MAX_PER_MIN - _recent_pages(name, now)
        self.summary: Delivery | None = None

    def delivery(self, **fields) -> Delivery:
        """An unsaved delivery to this channel: failed when the channel is broken, capped past the budget."""
        delivery = Delivery(**fields)
        if self.state.broken_at:
            delivery.status = Delivery.FAILED
            delivery.last_error = f"channel broken: {self.state.broken_reason}"
        elif self.budget_left <= 0:
            delivery.status = Delivery.CAPPED
            self.summary = self.summary or _storm_summary(self.name, self.now)
            delivery.storm = self.summary
        else:
            self.budget_left -= 1
        return delivery


def reminders_due(incidents, *, now=None) -> list[Incident]:
    """Those of `incidents` (saved, unresolved) still unacknowledged and unsilenced whose last page,
    or their opening when never paged, is at least PAGER_REPEAT_MIN old."""
    now = now or timezone.now()
    waiting = [i for i in incidents if i.status == Incident.OPEN and not i.silenced_by_id]
    if not waiting:
        return []
    last_paged = dict(
        Delivery.objects.filter(incident__in=waiting, kind__in=[Delivery.PAGE, Delivery.REPAGE])
        .values_list("incident")
        .annotate(at=Max("created_at"))
        .order_by()
    )
    since = now - timedelta(minutes=settings.PAGER_REPEAT_MIN)
    return [i for i in waiting if last_paged.get(i.pk, i.first_seen) <= since]


def page_again(incidents, *, now=None) -> int:
    """Page the given incidents again on every configured channel; returns deliveries recorded."""
    total = 0
    for incident in incidents:
        with transaction.atomic():
            total += len(plan_pages(incident, now=now, kind=Delivery.REPAGE))
    return total


def page_text(incident: Incident, kind: str) -> tuple[str, str]:
    """Subject and plain-text body of a page for `incident` (channels format them their way)."""
    prefix = "Again: " if kind == Delivery.REPAGE else ""
    subject = f"{prefix}[{incident.severity}] {incident.source}: {incident.message}"[:300]
    lines = [
        f"{prefix}[{incident.severity}] {incident.message}",
        f"source: {incident.source}",
        f"seen: {incident.count}x since {incident.first_seen:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if incident.runbook_url:
        lines.append(f"runbook: {incident.runbook_url}")
    lines += [
        f"console: {console_url(incident)}",
        f"incident #{incident.pk} fingerprint {incident.fingerprint[:16]}",
    ]
    return subject, "\n".join(lines)


def _locked_channel(name: str) -> ChannelState:
    ChannelState.objects.get_or_create(name=name)
    return ChannelState.objects.select_for_update().get(name=name)


def _recent_pages(channel: str, now) -> int:
    """Pages recorded for `channel` within the storm window, not counting those the cap held back."""
    recent = Delivery.objects.filter(
        channel=channel, kind__in=[Delivery.PAGE, Delivery.REPAGE], created_at__gt=now - STORM_WINDOW
    ).exclude(status=Delivery.CAPPED)
    return recent.count()


def _storm_summary(channel: str, now) -> Delivery:
    """The pending 'N more incidents' delivery of this channel's current storm, made on first need."""
    summary = Delivery.objects.filter(channel=channel, kind=Delivery.STORM, status=Delivery.PENDING).first()
    if summary is None:
        # Sent when the minute is over, so it carries every page the cap held back in that minute.
        summary = Delivery.objects.create(
            channel=channel,
            kind=Delivery.STORM,
            subject="More incidents",
            body="",
            created_at=now,
            next_attempt_at=now + STORM_WINDOW,
        )
        send_later([summary.pk], summary.next_attempt_at)
    return summary


def storm_text(summary: Delivery) -> tuple[str, str]:
    """The 'N more incidents' page: what the storm cap held back, read when it is sent."""
    held = list(summary.capped.select_related("incident").order_by("created_at"))
    subject = f"{len(held)} more incidents (paging capped at {settings.PAGER_STORM_MAX_PER_MIN}/min)"
    lines = [subject] + [
        f"- [{incident.severity}] {incident.source}: {incident.message[:120]}"
        for incident in (d.incident for d in held[:20])
        if incident is not None  # a capped page always belongs to an incident
    ]
    if len(held) > 20:
        lines.append(f"... and {len(held) - 20} more in the console")
    return subject, "\n".join(lines)


def _send_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: enqueue_send(ids))


def enqueue_send(ids: list[int]) -> None:
    """Hand deliveries to the send task. If the broker refuses it, send them here and now: a page
    must not wait for the 5-minute job because Redis is down (retries are left to that job)."""

    try:
        async_task("incidents.tasks.send_deliveries", ids, task_name=f"pager-send-{ids[0]}")
    except Exception as exc:  # the broker's client raises its own error types; the outbox rows are safe
        log.warning("could not enqueue pager send for %s (%s): sending inline", ids, type(exc).__name__)
        for delivery_id in ids:
            deliver(delivery_id, inline=False)


def send_later(ids: list[int], when) -> None:
    """Ask the cluster's scheduler to send `ids` at `when` (a one-off schedule row, so it survives
    restarts); the 5-minute job stays the safety net."""

    schedule("incidents.tasks.send_deliveries", ids, schedule_type=Schedule.ONCE, next_run=when)


# --- sending ---------------------------------------------------------------------------------------


def backoff_delay(attempt: int, rng=random.random) -> float:
    """Seconds to wait after failed attempt number `attempt`: exponential, capped, with full jitter on top half."""
    base = settings.PAGER_BACKOFF_BASE_S * (2 ** (attempt - 1))
    capped = min(base, settings.PAGER_BACKOFF_MAX_S)
    return capped / 2 + rng() * capped / 2


def claim(delivery_id: int, now=None) -> Delivery | None:
    """Take a due delivery for sending (a lease, not a lock held over the network), or None.
    Leases are reckoned by the database's clock, the one every host shares."""
    now = now or db_now()
    claimed = Delivery.objects.filter(_due_q(now), pk=delivery_id).update(
        status=Delivery.SENDING, lease_until=now + timedelta(seconds=settings.PAGER_LEASE_S)
    )
    return Delivery.objects.select_related("incident").get(pk=delivery_id) if claimed else None


def _due_q(now) -> Q:
    return Q(status=Delivery.PENDING, next_attempt_at__lte=now) | Q(status=Delivery.SENDING, lease_until__lte=now)


def due_ids(now=None) -> list[int]:
    """Deliveries waiting to be sent now (including any whose sender died mid-send)."""
    now = now or db_now()
    return list(Delivery.objects.filter(_due_q(now)).order_by("next_attempt_at").values_list("pk", flat=True))


def deliver(delivery_id: int, *, now=None, inline=True, sleep=time.sleep, clock=db_now) -> Delivery | None:
    """Send one delivery, retrying in place while the next try is due soon; returns it, or None if not due.

    Waiting in place stops once the waits add up to PAGER_INLINE_WAIT_MAX_S (or at once when
    `inline` is False), so a task stays well inside the cluster's timeout; the retry is then
    scheduled for its time. With an explicit `now`, time advances by the waits, not the clock.
    """
    when = now or clock()
    waited = 0.0
    while True:
        delivery = claim(delivery_id, when)
        if delivery is None:
            return None
        _attempt(delivery, when)
        if delivery.status != Delivery.PENDING:
            return delivery
        wait = max((delivery.next_attempt_at - when).total_seconds(), 0)
        if not inline or waited + wait > settings.PAGER_INLINE_WAIT_MAX_S:
            send_later([delivery.pk], delivery.next_attempt_at)
            return delivery
        sleep(wait)
        waited += wait
        when = delivery.next_attempt_at if now else max(clock(), delivery.next_attempt_at)


def send_due(*, now=None, inline=False, sleep=time.sleep, clock=db_now) -> dict:
    """Send every due delivery once (retries wait for a later run unless `inline`); returns counts by status."""
    outcome: dict[str, int] = {}
    for delivery_id in due_ids(now or clock()):
        delivery = deliver(delivery_id, now=now, inline=inline, sleep=sleep, clock=clock)
        if delivery is not None:
            outcome[delivery.status] = outcome.get(delivery.status, 0) + 1
    return outcome


def _attempt(delivery: Delivery, now) -> None:
    number = delivery.attempts + 1
    if delivery.kind == Delivery.STORM:
        delivery.subject, delivery.body = storm_text(delivery)
    channel = channel_for(delivery.channel)
    if not channel.is_configured():
        # Its settings were removed after the page was recorded: nothing to retry, nothing broken.
        _record_failure(
            delivery, number, DeliveryError(f"channel is off: {channel.off_reason()}", retryable=False), now, off=True
        )
        return
    _begin_attempt(delivery, number, now)
    try:
        status = channel.send(delivery)
    except DeliveryError as exc:
        _record_failure(delivery, number, exc, now)
    except Exception as exc:  # an unexpected bug in a channel must not lose the page: retry it
        log.exception("channel %s raised unexpectedly", delivery.channel)
        _record_failure(delivery, number, DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True), now)
    else:
        _record_success(delivery, number, status, now)


# What an attempt row says until its outcome is recorded: if the sender is killed mid-send (the page
# may well have gone out), the row stays so, and the retry after the lease is the next number.
NO_OUTCOME = "no outcome recorded: the sender stopped during the send (the page may have gone out)"


def _begin_attempt(delivery: Delivery, number: int, now) -> None:
    """Record the attempt before the send: every attempt leaves a row, the one a kill interrupts too."""
    with transaction.atomic():
        DeliveryAttempt.objects.create(delivery=delivery, number=number, ok=False, error=NO_OUTCOME, at=now)
        Delivery.objects.filter(pk=delivery.pk).update(attempts=number)


def _attempt_row(delivery: Delivery, number: int, **outcome) -> None:
    DeliveryAttempt.objects.update_or_create(delivery=delivery, number=number, defaults=outcome)


def _record_success(delivery: Delivery, number: int, status: str, now) -> None:
    with transaction.atomic():
        _attempt_row(delivery, number, ok=True, status=status, error="", at=now)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.SENT,
            attempts=number,
            sent_at=now,
            last_status=status,
            last_error="",
            lease_until=None,
            subject=delivery.subject,
            body=delivery.body,
        )
        ChannelState.objects.filter(name=delivery.channel).update(last_ok_at=now)
    delivery.refresh_from_db()
    _log_page(delivery, status)


def _record_failure(delivery: Delivery, number: int, error: DeliveryError, now, off: bool = False) -> None:
    give_up = not error.retryable or number >= settings.PAGER_MAX_ATTEMPTS
    reason = without_secrets(str(error))
    fields = {"attempts": number, "last_status": error.status, "last_error": reason[:2000], "lease_until": None}
    if give_up:
        fields["status"] = Delivery.FAILED
    else:
        fields.update(status=Delivery.PENDING, next_attempt_at=now + timedelta(seconds=_retry_delay(number, error)))
    with transaction.atomic():
        _attempt_row(delivery, number, ok=False, status=error.status, error=reason[:2000], at=now)
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
        ChannelState.objects.filter(name=delivery.channel).update(last_failed_at=now, last_failure=reason[:300])
        if not error.retryable and not off:
            mark_broken(delivery.channel, reason, now=now)
    delivery.refresh_from_db()
    _log_page(delivery, error.status or "error", error=reason)


def _retry_delay(number: int, error: DeliveryError) -> float:
    return max(backoff_delay(number), error.retry_after or 0)


def _log_page(delivery: Delivery, result: str, error: str = "") -> None:
    """One line per attempt: `result` is the HTTP status or SMTP reply, `status` where the delivery stands now."""
    fields = {"error": error[:300]} if error else {}
    append_event(
        "incidents",
        "page",
        sev=delivery.severity,
        channel=delivery.channel,
        id=str(delivery.incident_id or ""),
        delivery=delivery.pk,
        kind=delivery.kind,
        attempt=delivery.attempts,
        result=result,
        status=delivery.status,
        **fields,
    )


def mark_broken(channel: str, reason: str, *, now=None) -> bool:
    """Mark `channel` broken and tell the other channels once; returns whether it was newly broken."""
    now = now or timezone.now()
    with transaction.atomic():
        ChannelState.objects.get_or_create(name=channel)
        newly = ChannelState.objects.filter(name=channel, broken_at__isnull=True).update(
            broken_at=now, broken_reason=reason[:1000]
        )
        if newly:
            _notify_broken(channel, reason, now)
    return bool(newly)


def _notify_broken(channel: str, reason: str, now) -> None:
    others = [name for name in configured_channels() if name != channel]
    text = f"Pager channel {channel} is broken and stopped sending: {reason}"
    deliveries = [
        Delivery.objects.create(
            channel=name,
            kind=Delivery.NOTICE,
            severity="CRITICAL",
            subject=f"Pager channel {channel} is broken",
            body=text,
            created_at=now,
            next_attempt_at=now,
        )
        for name in others
        if not ChannelState.objects.filter(name=name, broken_at__isnull=False).exists()
    ]
    _send_on_commit([d.pk for d in deliveries])


def repair_channel(channel: str) -> int:
    """Clear a channel's broken mark (after fixing its settings); returns rows changed."""
    return ChannelState.objects.filter(name=channel).update(broken_at=None, broken_reason="")


def channel_status() -> list[dict]:
    """Each channel: configured or off (and why), broken or ok, and how its last attempt went."""
    states = {s.name: s for s in ChannelState.objects.all()}
    rows = []
    for name, channel in configured_channels(include_off=True).items():
        state = states.get(name) or ChannelState(name=name)
        rows.append(
            {
                "channel": name,
                "configured": channel.is_configured(),
                "off_reason": channel.off_reason(),
                "broken": bool(state.broken_at),
                "broken_reason": state.broken_reason,
                "last_ok_at": state.last_ok_at.isoformat() if state.last_ok_at else None,
                "last_attempt": state.last_attempt(),
                "last_attempt_failed": state.last_attempt_failed(),
            }
        )
    return rows
