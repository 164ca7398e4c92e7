"""The SLO watchdog: three breaches in a row within 10 minutes ask for recovery.

A breach is an evaluation whose last 5 minutes burn above 1x (enough requests to judge). On the
third in a row, within 10 minutes, the recovery hook (settings.SLO_RECOVERY_HOOK, a dotted path) is
called, at most once per 30 minutes, and the finding joins the SLO's one burn incident (the burn
alerts' own): a note on it, escalating it to CRITICAL (one page) when it is less severe, opening it
when none is open. The first look without a breach ends the finding; the incident then follows the
burn alerts still firing (lowered without a page, or resolved when none fires).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from echopilot.events import append_event
from incidents import raise_incident, resolve_incident
from incidents.services import add_note, unresolved_severity

from . import alerts, services
from .locks import lock_state
from .models import RecoveryRequest, Slo, SloState

WINDOW = timedelta(minutes=5)
IN_A_ROW = 3
SPAN = timedelta(minutes=10)
COOLDOWN = timedelta(minutes=30)
# The watch is due every 2 minutes; runs closer together than half that (several clusters taking the
# same due time, a manual run) are one look, whichever of them locks the state first.
SAME_LOOK = timedelta(minutes=1)


def check(slo: Slo, now=None, ahead: dict[timedelta, services.Window] | None = None) -> RecoveryRequest | None:
    """Record one evaluation; returns the recovery request if this one asked for recovery.

    A run within a minute of a recorded look is that same look and records nothing. `ahead`: the
    SLO's windows already read for `now` (services.read_ahead), else the last 5 minutes are read."""

    now = now or timezone.now()
    recent = services.window_from(ahead, slo, WINDOW, now)
    with transaction.atomic():
        state = lock_state(slo)
        request = look(slo, state, recent, now)
        state.save(update_fields=["watch_history", "last_recovery_at", "active_alerts"])
    if request is not None:
        call_hook(request, slo, now)
    return request


def look(slo: Slo, state: SloState, recent: services.Window, now) -> RecoveryRequest | None:
    """check's look at `recent` (the last WINDOW) on `state`, which the caller has locked and saves
    (watch_history, last_recovery_at, active_alerts); the caller calls call_hook on the request
    returned, after its commit."""
    breached = recent.requests >= slo.min_events and recent.burn(slo) > 1.0
    looks = [(datetime.fromisoformat(h["at"]), h) for h in state.watch_history]
    if any(abs(now - at) < SAME_LOOK for at, _h in looks):
        return None
    history = [h for at, h in looks if timedelta(0) < now - at <= SPAN]
    history.append({"at": now.isoformat(), "breach": breached, "burn": round(recent.burn(slo), 3)})
    state.watch_history = history[-IN_A_ROW * 2 :]
    run = history[-IN_A_ROW:]
    triggered = len(run) == IN_A_ROW and all(h["breach"] for h in run)
    cooled = state.last_recovery_at is None or now - state.last_recovery_at >= COOLDOWN
    if triggered and cooled:
        reason = (
            f"SLO {slo.name} breached {IN_A_ROW} times in a row within {SPAN} "
            f"(burn {', '.join(str(h['burn']) for h in run)} over {WINDOW})"
        )
        _join_burn_incident(slo, f"SLO watchdog: {reason}", now)
        state.last_recovery_at = now
        state.active_alerts = sorted({*state.active_alerts, alerts.WATCHDOG})
        return RecoveryRequest.objects.create(slo=slo, at=now, reason=reason, hook=settings.SLO_RECOVERY_HOOK)
    if not breached and alerts.WATCHDOG in state.active_alerts:
        _end_finding(slo, state, now)
    return None


def last_look(state: SloState) -> datetime | None:
    """When the watch last looked at the SLO of `state` (None: never, or not within the history kept)."""
    return max((datetime.fromisoformat(h["at"]) for h in state.watch_history), default=None)


def _join_burn_incident(slo: Slo, text: str, now) -> None:
    """The finding on the SLO's burn incident: a note, and a CRITICAL raise only where it changes the
    incident (opening it, or escalating a WARNING one, which pages once); an incident already
    CRITICAL was paged for this burn and is not paged again."""
    fingerprint = alerts.incident_fingerprint(slo)
    severity = unresolved_severity(fingerprint)
    if severity == "CRITICAL":
        add_note(fingerprint, text, now=now)
        return
    meta = {"slo": slo.name, "rule": alerts.WATCHDOG}
    raise_incident("CRITICAL", text, "slo", meta, fingerprint=fingerprint, now=now)
    add_note(fingerprint, text, now=now)


def _end_finding(slo: Slo, state, now) -> None:
    before = set(state.active_alerts)
    after = before - {alerts.WATCHDOG}
    alerts.follow_causes(slo, before, after, note="the watchdog no longer sees a breach", now=now)
    # An incident of the watchdog's own, opened before it joined the burn incident, ends with it.
    resolve_incident(f"slo:{slo.pk}:watchdog", by="slo-watchdog", note="no longer breached", now=now)
    state.active_alerts = sorted(after)


def call_hook(request: RecoveryRequest, slo: Slo, now) -> None:
    """Run the recovery hook of `request` and record its outcome (call after the commit)."""
    # The hook runs after the commit: a slow or failing recovery action must not undo the record.
    try:
        outcome = import_string(request.hook)(slo=slo, reason=request.reason, now=now)
    except Exception as exc:  # any failure of a recovery action is the outcome, not a crash
        outcome = f"hook failed: {type(exc).__name__}: {exc}"
    RecoveryRequest.objects.filter(pk=request.pk).update(outcome=str(outcome or "done")[:2000])
    request.outcome = str(outcome or "done")


def record_only(*, slo: Slo, reason: str, now=None) -> str:
    """The default recovery hook: no action yet, only the record that recovery was asked for."""
    append_event("slo_budget", "recovery_requested", slo=slo.name, reason=reason)
    return "recorded: no recovery action is configured (SLO_RECOVERY_HOOK)"
