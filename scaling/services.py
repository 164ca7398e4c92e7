"""Worker scaling: read the signals, decide with scaling.policy, apply through the actuator, keep it all.

Which signals are read: while another system pushes them (`POST /api/scale/signals`), its newest
sample, judged stale past SCALE_SIGNAL_MAX_AGE_MIN; when nothing has been pushed within the history,
the console's own django-q2 queue, read now. The arrivals history and the idle time come from the
stored samples of the same source (the schedule stores one measured sample a tick).
"""

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from costs import services as cost_services
from echopilot.events import append_event, write_snapshot
from incidents.services import raise_incident
from slo import gate

from . import actuators
from . import forecast as fc
from . import signals as measured
from .models import Decision, ScaleState, SignalSample
from .policy import Context, Limits, Signals, Verdict, decide

log = logging.getLogger(__name__)

SNAPSHOT = "autoscale.json"
EVENTS = "autoscale"
SIGNAL_FIELDS = (
    "queue_depth",
    "queue_time_s",
    "arrivals_per_min",
    "p95_ms",
    "error_rate",
    "workers_actual",
    "jobs_per_worker_min",
)


def limits() -> Limits:
    """The policy's limits from settings."""
    return Limits(
        minimum=settings.SCALE_MIN,
        maximum=settings.SCALE_MAX,
        cooldown_min=settings.SCALE_COOLDOWN_MIN,
        tolerance=settings.SCALE_TOLERANCE,
        down_window_min=settings.SCALE_DOWN_WINDOW_MIN,
        queue_time_target_s=settings.SCALE_QUEUE_TIME_TARGET_S,
        up_p95_ms=settings.SCALE_UP_P95_MS,
        down_p95_ms=settings.SCALE_DOWN_P95_MS,
        up_depth=settings.SCALE_UP_DEPTH,
        idle_before_down_min=settings.SCALE_IDLE_BEFORE_DOWN_MIN,
        forecast_min=settings.SCALE_FORECAST_MIN,
        startup_min=settings.SCALE_STARTUP_MIN,
        tick_min=settings.SCALE_TICK_MIN,
        max_signal_age_min=settings.SCALE_SIGNAL_MAX_AGE_MIN,
    )


# --- signals in ------------------------------------------------------------------------------------------


def record_signals(data: dict, *, now=None) -> SignalSample:
    """Store one pushed reading. `data` has `queue_depth` and optionally the other SIGNAL_FIELDS, already
    typed; a ValidationError names the field when a value cannot be a reading."""
    now = now or timezone.now()
    if data.get("queue_depth") is None:
        raise ValidationError({"queue_depth": "this field is required"})
    if data.get("error_rate") is not None and data["error_rate"] > 1:
        raise ValidationError({"error_rate": "must be a fraction from 0 to 1"})
    return SignalSample.objects.create(
        at=now, source=SignalSample.Source.PUSHED, **{k: data.get(k) for k in SIGNAL_FIELDS}
    )


def _history_start(now) -> datetime:
    return now - timedelta(days=settings.SCALE_HISTORY_DAYS)


def _source(now) -> str:
    pushed = SignalSample.objects.filter(source=SignalSample.Source.PUSHED, at__gte=_history_start(now))
    return SignalSample.Source.PUSHED if pushed.exists() else SignalSample.Source.MEASURED


def current_sample(now) -> SignalSample | None:
    """The newest pushed sample while signals are pushed, else a reading of the queue now (None when
    the broker cannot be read)."""
    source = _source(now)
    if source == SignalSample.Source.PUSHED:
        return SignalSample.objects.filter(source=source, at__lte=now).order_by("-at").first()
    try:
        return measured.measure(now)
    except Exception:  # a broker that is down is a missing signal, not a failed decision
        log.exception("could not read the queue")
        return None


def arrivals_history(source: str, now, latest: SignalSample | None) -> list[float]:
    """Arrivals per minute in forecast buckets, oldest first: each stored rate holds until the next one."""
    rows: list[tuple] = list(
        SignalSample.objects.filter(
            source=source, at__gte=_history_start(now), at__lte=now, arrivals_per_min__isnull=False
        )
        .order_by("at")
        .values_list("at", "arrivals_per_min")
    )
    if latest is not None and latest.pk is None and latest.arrivals_per_min is not None:
        rows.append((latest.at, latest.arrivals_per_min))
    if not rows:
        return []
    per_minute: list[float] = []
    for (at, rate), nxt in zip(rows, [*rows[1:], (now, None)], strict=True):
        per_minute.extend([rate] * max(0, math.floor((nxt[0] - at).total_seconds() / 60)))
    return fc.bucket_means(per_minute)


def idle_minutes(source: str, now, latest: SignalSample | None) -> float:
    """Minutes the queue has been empty, as far as the stored samples tell (0 while it is not)."""
    if latest is None or latest.queue_depth > 0:
        return 0.0
    samples = SignalSample.objects.filter(source=source, at__gte=_history_start(now), at__lte=now)
    busy = samples.filter(queue_depth__gt=0).order_by("-at").first()
    since = busy.at if busy else (samples.order_by("at").values_list("at", flat=True).first() or now)
    return max(0.0, (now - since).total_seconds() / 60)


def read_signals(now) -> tuple[Signals, dict]:
    """What the policy reads now, and the same as a dict to keep with the decision."""
    latest = current_sample(now)
    if latest is None:
        return Signals(queue_depth=None, age_min=None), {"source": None}
    source = latest.source
    per_worker = latest.jobs_per_worker_min or settings.SCALE_WORKER_JOBS_PER_MIN or None
    if per_worker is None and source == SignalSample.Source.PUSHED:
        per_worker = measured.jobs_per_worker_min(now)
    p95, error_rate = latest.p95_ms, latest.error_rate
    if p95 is None and source == SignalSample.Source.PUSHED:
        p95, error_rate = measured.latency(now)
    history = arrivals_history(source, now, latest)
    sig = Signals(
        queue_depth=latest.queue_depth,
        queue_time_s=latest.queue_time_s,
        arrivals_per_min=latest.arrivals_per_min,
        p95_ms=p95,
        error_rate=error_rate,
        jobs_per_worker_min=per_worker,
        idle_min=idle_minutes(source, now, latest),
        age_min=max(0.0, (now - latest.at).total_seconds() / 60),
        arrivals_history=history,
    )
    kept = {
        **latest.to_dict(),
        "p95_ms": p95,
        "error_rate": error_rate,
        "jobs_per_worker_min": per_worker,
        "idle_min": round(sig.idle_min, 1),
        "age_min": round(sig.age_min or 0, 2),
        "history_buckets": len(history),
    }
    return sig, kept


# --- context --------------------------------------------------------------------------------------------


def actual_workers(actuator, latest_pushed: int | None = None) -> tuple[int, str | None]:
    """(workers running, why the actuator could not say or None): the actuator's answer, else what
    was last applied, else what a pushed signal said, else SCALE_MIN."""
    problem = None
    try:
        answer = actuator.actual()
    except actuators.ActuatorError as exc:
        answer, problem = None, str(exc)
    if answer is not None:
        return int(answer), None
    state = ScaleState.objects.filter(pk=ScaleState.ROW).first()
    for fallback in (state.applied_workers if state else None, latest_pushed):
        if fallback is not None:
            return int(fallback), problem
    return settings.SCALE_MIN, problem


def gate_state(now) -> tuple[bool, str]:

    state = gate.current(now)
    return state.shut, state.reason


def spend_state(now) -> tuple[bool, float | None]:
    """(frozen, % of the daily cap spent): frozen at or above SCALE_SPEND_FREEZE_PCT."""

    daily = [c for c in cost_services.status(now)["caps"] if c["scope"] == "daily"]
    if not daily:
        return False, None
    pct = float(daily[0]["utilization_pct"])
    return pct >= settings.SCALE_SPEND_FREEZE_PCT, pct


def context(now, actual: int, dry_run: bool) -> Context:
    state = ScaleState.objects.filter(pk=ScaleState.ROW).first()
    since = None
    if state and state.last_change_at:
        since = (now - state.last_change_at).total_seconds() / 60
    window_start = now - timedelta(minutes=settings.SCALE_DOWN_WINDOW_MIN)
    recent = Decision.objects.filter(at__gte=window_start, at__lte=now).values_list("recommended", flat=True)
    gate_shut, gate_reason = gate_state(now)
    frozen, pct = spend_state(now)
    return Context(
        actual=actual,
        minutes_since_change=since,
        recent_recommendations=list(recent),
        gate_shut=gate_shut,
        gate_reason=gate_reason,
        spend_frozen=frozen,
        spend_pct=pct,
        dry_run=dry_run,
    )


# --- deciding -------------------------------------------------------------------------------------------


def evaluate(now=None, *, dry_run: bool | None = None) -> tuple[Verdict, dict]:
    """The decision for now and every input it read; nothing is written or applied."""
    now = now or timezone.now()
    dry_run = settings.SCALE_DRY_RUN if dry_run is None else dry_run
    actuator = actuators.current()
    sig, kept = read_signals(now)
    actual, actuator_problem = actual_workers(actuator, kept.get("workers_actual"))
    ctx = context(now, actual, dry_run)
    verdict = decide(sig, ctx, limits())
    inputs = {
        "signals": kept,
        "context": {
            "actual": actual,
            "actuator_problem": actuator_problem,
            "minutes_since_change": ctx.minutes_since_change,
            "recent_recommendations": list(ctx.recent_recommendations),
            "gate_shut": ctx.gate_shut,
            "gate_reason": ctx.gate_reason,
            "spend_frozen": ctx.spend_frozen,
            "spend_pct": ctx.spend_pct,
            "dry_run": dry_run,
        },
        "limits": limits().__dict__,
        "formula": verdict.clamps,
        "forecast": verdict.forecast,
    }
    return verdict, inputs


def _status_body(verdict: Verdict, inputs: dict, now, state: ScaleState | None) -> dict:
    cooldown_until = None
    if state and state.last_change_at and settings.SCALE_COOLDOWN_MIN:
        until = state.last_change_at + timedelta(minutes=settings.SCALE_COOLDOWN_MIN)
        cooldown_until = until.isoformat() if until > now else None
    ctx = inputs["context"]
    return {
        "desired": verdict.desired,
        "actual": verdict.actual,
        "reason": verdict.reason,
        "dry_run": ctx["dry_run"],
        "would_apply": verdict.change,
        "constraints": verdict.constraints,
        "recommended": verdict.recommended,
        "raw": verdict.raw,
        "signals": inputs["signals"],
        "forecast": verdict.forecast,
        "cooldown_until": cooldown_until,
        "gate_shut": ctx["gate_shut"],
        "spend_frozen": ctx["spend_frozen"],
        "actuator": settings.SCALE_ACTUATOR,
        "bounds": {"min": settings.SCALE_MIN, "max": settings.SCALE_MAX},
        "as_of": now.isoformat(),
    }


def status(now=None) -> dict:
    """The decision the console would take now, without applying or storing it."""
    now = now or timezone.now()
    verdict, inputs = evaluate(now)
    return _status_body(verdict, inputs, now, ScaleState.objects.filter(pk=ScaleState.ROW).first())


def apply(*, dry_run: bool | None = None, by: str = "", now=None) -> dict:
    """Decide now and apply unless dry (SCALE_DRY_RUN when `dry_run` is None) or held by a constraint.

    The state row is locked for the whole decision, so two clusters deciding at once apply once.
    The decision is stored whatever its outcome, an event appended and autoscale.json rewritten;
    a third actuator failure in a row raises an incident."""
    now = now or timezone.now()
    actuator = actuators.current()
    _ensure_state_row()
    with transaction.atomic():
        state = ScaleState.objects.select_for_update().get(pk=ScaleState.ROW)
        verdict, inputs = evaluate(now, dry_run=dry_run)
        outcome, error = _actuate(verdict, inputs, state, actuator, now)
        decision = Decision.objects.create(
            at=now,
            outcome=outcome,
            desired=verdict.desired,
            actual=verdict.actual,
            recommended=verdict.recommended,
            raw=verdict.raw,
            reason=verdict.reason,
            constraints=verdict.constraints,
            inputs=inputs,
            actuator=actuator.name,
            error=error,
            by=by[:100],
        )
        failures = state.failures_in_row
    body = {**_status_body(verdict, inputs, now, state), "outcome": outcome, "decision_id": decision.pk}
    if error:
        body["error"] = error
    _log(decision, body)
    if outcome == Decision.Outcome.FAILED and failures >= settings.SCALE_FAILURES_BEFORE_INCIDENT:
        _raise_failure_incident(failures, error, verdict)
    return body


def _ensure_state_row() -> None:
    try:
        with transaction.atomic():
            ScaleState.objects.get_or_create(pk=ScaleState.ROW)
    except IntegrityError:  # another process made it first
        pass


def _actuate(verdict: Verdict, inputs: dict, state: ScaleState, actuator, now) -> tuple[str, str]:
    if not verdict.change:
        dry = "dry_run" in verdict.constraints
        return (Decision.Outcome.DRY if dry else Decision.Outcome.HELD), ""
    try:
        actuator.apply(verdict.desired)
    except actuators.ActuatorError as exc:
        state.failures_in_row += 1
        state.last_error = str(exc)
        state.save(update_fields=["failures_in_row", "last_error"])
        verdict.reasons.append(f"The {actuator.name} actuator failed ({state.failures_in_row} in a row): {exc}.")
        return Decision.Outcome.FAILED, str(exc)
    state.applied_workers = verdict.desired
    state.last_change_at = now
    state.failures_in_row = 0
    state.last_error = ""
    state.save()
    verdict.reasons.append(f"Applied through {actuator.name}.")
    return Decision.Outcome.APPLIED, ""


def _raise_failure_incident(failures: int, error: str, verdict: Verdict) -> None:

    try:
        raise_incident(
            "CRITICAL",
            f"autoscaler could not resize the worker pool {failures} times in a row: {error}"[:1000],
            "scaling",
            {"desired": verdict.desired, "actual": verdict.actual, "actuator": settings.SCALE_ACTUATOR},
            fingerprint="scaling:actuator-failing",
        )
    except Exception:  # the decision is stored; a pager problem must not undo it
        log.exception("could not raise the actuator incident")


def _log(decision: Decision, body: dict) -> None:
    try:
        append_event(
            EVENTS,
            "decision",
            **{
                k: body[k]
                for k in (
                    "outcome",
                    "desired",
                    "actual",
                    "reason",
                    "constraints",
                    "dry_run",
                    "actuator",
                    "signals",
                    "forecast",
                    "cooldown_until",
                    "gate_shut",
                    "spend_frozen",
                    "decision_id",
                )
            },
        )
        write_snapshot(SNAPSHOT, body)
    except OSError:
        log.exception("could not write the autoscale log")


def autoscale_tick(*, dry_run: bool | None = None, by: str = "schedule", now=None) -> dict:
    """Every SCALE_TICK_MIN: store a reading of the queue (the history the forecast and the idle time
    read), then decide and apply as `apply` does."""
    now = now or timezone.now()
    try:
        measured.measure(now).save()
    except Exception:
        log.exception("could not read the queue")
    prune(now)
    return apply(dry_run=dry_run, by=by, now=now)


def prune(now=None) -> int:
    """Drop samples and decisions older than SCALE_HISTORY_DAYS (kept: what the forecast reads)."""
    start = _history_start(now or timezone.now())
    samples, _ = SignalSample.objects.filter(at__lt=start).delete()
    decisions, _ = Decision.objects.filter(at__lt=start).delete()
    return samples + decisions
