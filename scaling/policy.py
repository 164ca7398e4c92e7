"""The scaling decision as a pure function: signals and context in, a verdict with its reasons out.

The live decision (scaling.services) and the backtest (scaling.backtest) call the same `decide`, so
what the backtest proves is what runs. Nothing here reads the database, the clock or settings: time
is in minutes, passed in.

How the number is reached, in order (each step that changes or holds it is named in `constraints`):
1. A missing or stale signal holds the pool as it is.
2. The formula: workers = (arrivals to serve + backlog to drain within the queue-time target) / the
   jobs one worker finishes a minute. Arrivals to serve are the larger of the last measured rate and
   the forecast's peak until the next change could take effect (the forecast only ever adds workers).
   The backlog counts only once the running pool cannot start it within the target (depth above
   actual x per-worker rate x target): a few jobs the pool clears in seconds are no reason to grow.
3. Tolerance: within 10% of the pool as it is, no change (the Kubernetes HPA's).
4. The latency rule: one more when p95 or the queue depth is past its threshold (or the
   oldest job waits past the queue-time target); fewer only when p95 is low and the queue has been
   empty long enough.
5. Bounds: SCALE_MIN..SCALE_MAX.
6. Down-stabilisation: never below the highest recommendation of the last few minutes.
7. What holds an otherwise wanted change: the deploy gate and the spend freeze (up only), the
   cooldown, dry-run.
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from . import forecast as fc


class Constraint:
    """The names kept with a decision (and in the API's `constraints`)."""

    MISSING_SIGNAL = "missing_signal"
    STALE_SIGNAL = "stale_signal"
    THROUGHPUT_UNKNOWN = "throughput_unknown"
    TOLERANCE = "tolerance"
    LATENCY_RULE = "latency_rule"
    BOUNDS = "bounds"
    STABILIZATION = "stabilization"
    GATE = "deploy_gate"
    SPEND_FREEZE = "spend_freeze"
    COOLDOWN = "cooldown"
    DRY_RUN = "dry_run"


@dataclass(frozen=True)
class Limits:
    minimum: int = 1
    maximum: int = 6
    cooldown_min: float = 10
    tolerance: float = 0.10
    down_window_min: float = 5
    queue_time_target_s: float = 60
    up_p95_ms: float = 150
    down_p95_ms: float = 40
    up_depth: int = 10
    idle_before_down_min: float = 10
    forecast_min: int = 30
    startup_min: float = 2
    tick_min: float = 10
    max_signal_age_min: float = 15


@dataclass
class Signals:
    """What the policy reads. `arrivals_history` is arrivals per minute in forecast buckets, oldest first."""

    queue_depth: int | None
    queue_time_s: float | None = None
    arrivals_per_min: float | None = None
    p95_ms: float | None = None
    error_rate: float | None = None
    jobs_per_worker_min: float | None = None
    idle_min: float = 0.0
    age_min: float | None = 0.0
    arrivals_history: Sequence[float] = ()


@dataclass
class Context:
    actual: int
    minutes_since_change: float | None = None
    recent_recommendations: Sequence[int] = ()
    gate_shut: bool = False
    gate_reason: str = ""
    spend_frozen: bool = False
    spend_pct: float | None = None
    dry_run: bool = False


@dataclass
class Verdict:
    desired: int
    actual: int
    recommended: int
    raw: float
    change: bool  # the pool should be resized now
    constraints: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    clamps: dict = field(default_factory=dict)
    forecast: dict = field(default_factory=dict)
    cooldown_left_min: float = 0.0

    @property
    def reason(self) -> str:
        return " ".join(self.reasons)

    def to_dict(self) -> dict:
        return {**asdict(self), "reason": self.reason}


def forecast_peak(signals: Signals, limits: Limits) -> dict:
    """The forecast fitted on `signals.arrivals_history`; see `read_forecast`."""
    return read_forecast(fc.fit(signals.arrivals_history), limits)


def read_forecast(model: fc.HoltWinters | None, limits: Limits) -> dict:
    """The next `forecast_min` minutes of arrivals, and their peak until a change made now, or the next
    one, could have workers taking jobs (the later of the next tick and the cooldown, plus start-up)."""
    if model is None:
        return {"method": None, "per_min": [], "peak_per_min": None, "lead_min": None}
    steps = math.ceil(limits.forecast_min / fc.BUCKET_MIN)
    values = model.forecast(steps)
    lead = max(limits.tick_min, limits.cooldown_min) + limits.startup_min
    within = values[: max(1, min(steps, math.ceil(lead / fc.BUCKET_MIN)))]
    return {
        "method": model.method,
        "bucket_min": fc.BUCKET_MIN,
        "per_min": [round(v, 3) for v in values],
        "peak_per_min": round(max(within), 3),
        "lead_min": lead,
        "alpha": model.alpha,
        "beta": model.beta,
        "gamma": model.gamma,
        "residual_sd": round(model.residual_sd, 3),
    }


def decide(signals: Signals, context: Context, limits: Limits, *, forecast: dict | None = None) -> Verdict:
    """The decision for now; see the module's docstring for the order of the steps."""
    actual = context.actual
    held = _missing_or_stale(signals, context, limits)
    if held is not None:
        return held
    if forecast is None:
        forecast = forecast_peak(signals, limits)
    verdict = Verdict(desired=actual, actual=actual, recommended=actual, raw=float(actual), change=False)
    verdict.forecast = forecast
    recommended = _formula(signals, context, limits, verdict)
    recommended = _latency_rule(signals, actual, recommended, limits, verdict)
    recommended = _bounded(recommended, limits, verdict)
    verdict.recommended = recommended
    desired = _stabilized(recommended, actual, context, limits, verdict)
    verdict.desired = desired
    _explain_target(verdict)
    if desired != actual:
        _hold_if_constrained(verdict, context, limits)
    return verdict


def _missing_or_stale(signals: Signals, context: Context, limits: Limits) -> Verdict | None:
    actual = context.actual
    if signals.queue_depth is None or signals.age_min is None:
        name, why = Constraint.MISSING_SIGNAL, "No queue signal has been read or pushed yet"
    elif signals.age_min > limits.max_signal_age_min:
        name = Constraint.STALE_SIGNAL
        why = (
            f"The newest queue signal is {signals.age_min:.0f} min old "
            f"(older than SCALE_SIGNAL_MAX_AGE_MIN={limits.max_signal_age_min:g})"
        )
    else:
        return None
    return Verdict(
        desired=actual,
        actual=actual,
        recommended=actual,
        raw=float(actual),
        change=False,
        constraints=[name],
        reasons=[f"{why}: holding at {actual} worker{'s' * (actual != 1)} until a fresh one arrives."],
    )


def _formula(signals: Signals, context: Context, limits: Limits, verdict: Verdict) -> int:
    actual = context.actual
    per_worker = signals.jobs_per_worker_min
    if not per_worker:
        verdict.constraints.append(Constraint.THROUGHPUT_UNKNOWN)
        verdict.reasons.append(
            "Per-worker throughput is unknown (no finished jobs, no SCALE_WORKER_JOBS_PER_MIN): "
            "sizing by the latency rule only."
        )
        return actual
    now_rate = signals.arrivals_per_min or 0.0
    peak = verdict.forecast.get("peak_per_min") or 0.0
    serve = max(now_rate, peak)
    # A backlog the running pool starts within the target needs no extra worker. One it cannot (or
    # whose oldest job already waits past the target) is cleared within the target on top of the
    # arrivals: the backlog is then growing, and with the cooldown ahead the first step up has to be
    # big enough.
    target_min = limits.queue_time_target_s / 60.0
    depth = signals.queue_depth or 0
    late = (signals.queue_time_s or 0.0) > limits.queue_time_target_s
    drain = depth / target_min if late or depth > actual * per_worker * target_min else 0.0
    # A vanishing throughput would make this astronomically large (or inf); the bounds clamp it next.
    raw = min((serve + drain) / per_worker, 1e9)
    verdict.raw = round(raw, 4)
    verdict.clamps["formula"] = {
        "serve_per_min": round(serve, 3),
        "from": "forecast" if peak > now_rate else "measured",
        "drain_per_min": round(drain, 3),
        "jobs_per_worker_min": round(per_worker, 3),
        "workers": round(raw, 3),
    }
    verdict.reasons.append(
        f"{serve:.1f} jobs/min to serve ({'forecast peak' if peak > now_rate else 'now'}) and "
        f"{signals.queue_depth} waiting to clear within {limits.queue_time_target_s:g}s need {raw:.2f} workers "
        f"at {per_worker:.1f} jobs/min each."
    )
    if actual > 0 and abs(raw / actual - 1) <= limits.tolerance:
        verdict.constraints.append(Constraint.TOLERANCE)
        verdict.clamps["tolerance"] = {"ratio": round(raw / actual, 3), "kept": actual}
        verdict.reasons.append(f"Within {limits.tolerance:.0%} of the {actual} running: no change for that.")
        return actual
    return max(0, math.ceil(raw - 1e-9))


def _latency_rule(signals: Signals, actual: int, recommended: int, limits: Limits, verdict: Verdict) -> int:
    p95, depth, waited = signals.p95_ms, signals.queue_depth or 0, signals.queue_time_s or 0.0
    hot = (p95 is not None and p95 > limits.up_p95_ms) or depth > limits.up_depth
    late = waited > limits.queue_time_target_s
    if (hot or late) and recommended <= actual:
        verdict.constraints.append(Constraint.LATENCY_RULE)
        verdict.clamps["latency_rule"] = {"from": recommended, "to": actual + 1}
        verdict.reasons.append(
            f"p95 {_ms(p95)}, depth {depth}, oldest job waiting {waited:.0f}s (limits {limits.up_p95_ms:g} ms, "
            f"{limits.up_depth}, {limits.queue_time_target_s:g}s): one more worker."
        )
        return actual + 1
    if recommended < actual:
        cool = p95 is None or p95 < limits.down_p95_ms
        idle = signals.idle_min >= limits.idle_before_down_min
        if not (cool and idle):
            verdict.constraints.append(Constraint.LATENCY_RULE)
            verdict.clamps["latency_rule"] = {"from": recommended, "to": actual}
            verdict.reasons.append(
                f"Not scaling in: that needs p95 under {limits.down_p95_ms:g} ms (it is {_ms(p95)}) and an empty queue "
                f"for {limits.idle_before_down_min:g} min (empty for {signals.idle_min:.0f})."
            )
            return actual
    return recommended


def _bounded(recommended: int, limits: Limits, verdict: Verdict) -> int:
    bounded = min(limits.maximum, max(limits.minimum, recommended))
    if bounded != recommended:
        verdict.constraints.append(Constraint.BOUNDS)
        verdict.clamps["bounds"] = {"from": recommended, "to": bounded, "min": limits.minimum, "max": limits.maximum}
        side = "SCALE_MAX" if recommended > bounded else "SCALE_MIN"
        verdict.reasons.append(f"Clamped from {recommended} to {bounded} by {side}={bounded}.")
    return bounded


def _stabilized(recommended: int, actual: int, context: Context, limits: Limits, verdict: Verdict) -> int:
    if recommended >= actual or not context.recent_recommendations:
        return recommended
    highest = min(actual, max([recommended, *context.recent_recommendations]))
    if highest > recommended:
        verdict.constraints.append(Constraint.STABILIZATION)
        verdict.clamps["stabilization"] = {"from": recommended, "to": highest, "window_min": limits.down_window_min}
        verdict.reasons.append(
            f"Scaling in only to {highest}, the highest recommendation of the last {limits.down_window_min:g} min."
        )
    return highest


def _explain_target(verdict: Verdict) -> None:
    desired, actual = verdict.desired, verdict.actual
    if desired == actual:
        verdict.reasons.insert(0, f"Keep {actual} worker{'s' * (actual != 1)}.")
    else:
        verdict.reasons.insert(0, f"Want {desired} workers, {actual} running.")


def _hold_if_constrained(verdict: Verdict, context: Context, limits: Limits) -> None:
    verdict.change = True
    if verdict.desired > verdict.actual:
        if context.gate_shut:
            verdict.change = False
            verdict.constraints.append(Constraint.GATE)
            verdict.reasons.append(f"Held: the deploy gate is shut ({context.gate_reason or 'see /api/deploy/gate'}).")
        if context.spend_frozen:
            verdict.change = False
            verdict.constraints.append(Constraint.SPEND_FREEZE)
            verdict.reasons.append(f"Held: AI spend is at {context.spend_pct:.0f}% of the daily cap (freeze from 90%).")
    since = context.minutes_since_change
    if since is not None and since < limits.cooldown_min:
        verdict.change = False
        verdict.cooldown_left_min = round(limits.cooldown_min - since, 2)
        verdict.constraints.append(Constraint.COOLDOWN)
        verdict.reasons.append(
            f"Held: cooldown, the last change was {since:.0f} min ago (SCALE_COOLDOWN_MIN={limits.cooldown_min:g})."
        )
    if verdict.change and context.dry_run:
        verdict.change = False
        verdict.constraints.append(Constraint.DRY_RUN)
        verdict.reasons.append("Dry run: nothing applied.")


def _ms(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} ms"
