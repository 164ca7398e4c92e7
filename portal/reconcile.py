"""Purchases the webhooks missed: ask Stripe's API for the events the portal applies, and apply each
through the webhook's own code path.

Stripe retries a webhook for three days and then gives up; events also arrive out of order or not at
all. Every night the console lists the events of the reconciled types created since the last run
(Stripe keeps them 30 days), those whose delivery failed first, and hands each to
`stripe_events.process`. That records the event id before anything else, so an event the webhook
already delivered, or delivers late, changes nothing the second time.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.utils import timezone
from stripe.params import EventListParams

from echopilot.events import append_event

from . import stripe_events
from .models import ReconcileRun
from .services import report_incident

log = logging.getLogger(__name__)

RECONCILED_TYPES = sorted(stripe_events.HANDLERS)
# Stripe's events list reaches back 30 days, no further.
STRIPE_RETENTION_DAYS = 30
# A run begins a little before the last one began, so an event created while it ran is not missed.
OVERLAP = timedelta(hours=1)
PAGE_SIZE = 100
UNAPPLIED_IN_INCIDENT = 20


class ReconcileOff(Exception):
    """STRIPE_API_KEY is not set, so there is no one to ask."""


def is_enabled() -> bool:
    """Whether reconciliation can run: it needs a Stripe API key."""
    return bool(settings.STRIPE_API_KEY)


def reconcile(since_days: int | None = None, *, now: datetime | None = None) -> ReconcileRun:
    """Ask Stripe for the events since the last run (or the last `since_days` days; at most 30) and
    apply those the portal has not seen. Returns the finished run; raises ReconcileOff without a key.
    A run that could not reach Stripe ends FAILED, one with events it could not apply INCOMPLETE,
    and both raise an incident."""
    if not is_enabled():
        raise ReconcileOff("STRIPE_API_KEY is not set: Stripe reconciliation is off")
    now = now or timezone.now()
    run = ReconcileRun.objects.create(
        started=now, since=window_start(since_days, now), window_given=since_days is not None
    )
    try:
        events = fetch_events(run.since)
    except stripe.StripeError as exc:
        return _fail(run, exc)
    _apply_all(run, events)
    return _finish(run)


def window_start(since_days: int | None, now: datetime) -> datetime:
    """Where the events to ask for begin: `since_days` ago when given, else where the last run that
    reached Stripe left off (an incomplete one is asked again from its own start; one given its own
    window may have skipped older events, so it does not count); never further back than Stripe
    keeps events."""
    oldest = now - timedelta(days=STRIPE_RETENTION_DAYS)
    if since_days is not None:
        return max(now - timedelta(days=since_days), oldest)
    last = (
        ReconcileRun.objects.filter(
            status__in=[ReconcileRun.Status.OK, ReconcileRun.Status.INCOMPLETE], window_given=False
        )
        .order_by("-started", "-id")
        .first()
    )
    if last is None:
        return oldest
    start = last.started - OVERLAP if last.status == ReconcileRun.Status.OK else last.since
    return max(start, oldest)


def stripe_client() -> stripe.StripeClient:
    """The official client, with the restricted key, at STRIPE_API_BASE."""
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_API_TIMEOUT_S),
        max_network_retries=2,
    )


def fetch_events(since: datetime) -> list[dict]:
    """The reconciled events created from `since` on, as plain dicts: those whose delivery failed
    first, then the others, each group oldest first, each event once."""
    client = stripe_client()
    failed = _list_events(client, since, delivery_success=False)
    seen = {event["id"] for event in failed}
    rest = [event for event in _list_events(client, since) if event["id"] not in seen]
    return failed + rest


def _list_events(client: stripe.StripeClient, since: datetime, delivery_success: bool | None = None) -> list[dict]:
    params: EventListParams = {
        "types": RECONCILED_TYPES,
        "created": {"gte": int(since.timestamp())},
        "limit": PAGE_SIZE,
    }
    if delivery_success is not None:
        params["delivery_success"] = delivery_success
    # auto_paging_iter follows has_more with starting_after until the list ends.
    events = [event.to_dict(for_json=True) for event in client.v1.events.list(params=params).auto_paging_iter()]
    # Stripe lists newest first; apply in the order things happened.
    events.reverse()
    events.sort(key=lambda event: event.get("created") or 0)
    return events


def _apply_all(run: ReconcileRun, events: list[dict]) -> None:
    recovered: Counter = Counter()
    for event in events:
        outcome = _apply(event)
        if outcome.rejected:
            run.unapplied.append({"id": outcome.event_id, "type": outcome.type, "reason": outcome.detail})
        elif outcome.duplicate:
            run.already_applied += 1
        else:
            recovered[outcome.type] += 1
            if outcome.created_purchase:
                run.purchases_created.append(outcome.purchase_id)
    run.events_seen = len(events)
    run.recovered_by_type = dict(sorted(recovered.items()))


def _apply(event: dict) -> stripe_events.Outcome:
    """The webhook's code path; an error in one event is reported and never stops the others."""
    try:
        return stripe_events.process(event)
    except Exception as exc:
        log.exception("reconciliation could not apply Stripe event %s", event.get("id"))
        return stripe_events.reject(event, f"{type(exc).__name__} while applying it")


def _finish(run: ReconcileRun) -> ReconcileRun:
    run.status = ReconcileRun.Status.INCOMPLETE if run.unapplied else ReconcileRun.Status.OK
    run.finished = timezone.now()
    run.save()
    append_event(
        "portal_access",
        "stripe_reconcile",
        run=run.pk,
        status=run.status,
        since=run.since,
        events_seen=run.events_seen,
        recovered_by_type=run.recovered_by_type,
        already_applied=run.already_applied,
        purchases_created=run.purchases_created,
        unapplied=[event["id"] for event in run.unapplied],
    )
    log.info("%s", summary(run))
    if run.unapplied:
        report_incident(
            "ERROR",
            f"Stripe reconciliation could not apply {len(run.unapplied)} event(s)",
            {"run": run.pk, "events": run.unapplied[:UNAPPLIED_IN_INCIDENT]},
            fingerprint="portal:stripe-reconcile-unapplied",
        )
    return run


def _fail(run: ReconcileRun, exc: stripe.StripeError) -> ReconcileRun:
    run.status = ReconcileRun.Status.FAILED
    run.finished = timezone.now()
    run.error = _without_key(f"{type(exc).__name__}: {exc.user_message or exc}")[:500]
    run.save()
    append_event("portal_access", "stripe_reconcile_failed", run=run.pk, error=run.error)
    log.warning("Stripe reconciliation could not ask Stripe: %s", run.error)
    report_incident(
        "ERROR",
        "Stripe reconciliation could not ask Stripe for events",
        {"run": run.pk, "error": run.error},
        fingerprint="portal:stripe-reconcile-failed",
    )
    return run


def _without_key(text: str) -> str:
    key = settings.STRIPE_API_KEY
    return text.replace(key, "[redacted]") if key else text


def summary(run: ReconcileRun) -> str:
    """One line for the operator: what the run asked, recovered and could not apply."""
    if run.status == ReconcileRun.Status.FAILED:
        return f"Stripe reconciliation failed: {run.error}"
    by_type = ", ".join(f"{kind} {count}" for kind, count in run.recovered_by_type.items()) or "nothing new"
    return (
        f"Stripe reconciliation since {run.since:%Y-%m-%d %H:%M} UTC: {run.events_seen} event(s) seen, "
        f"recovered {by_type}; {len(run.purchases_created)} purchase(s) created; "
        f"{run.already_applied} already applied; {len(run.unapplied)} could not be applied"
    )


def last_run() -> ReconcileRun | None:
    """The latest run, for the card."""
    return ReconcileRun.objects.order_by("-started", "-id").first()
