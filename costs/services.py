"""Cost guardrails: spend in (`record_spend`), the decision out (`authorize`), caps, status and the
hourly check.

The guard only ever degrades AI calls: nothing here is consulted by the console's own endpoints.
Stripe fees are recorded and reported (status, forecast) but count against no cap: they grow with
sales, and a good sales day must not switch the product's AI off. The global daily cap is the cap
on all AI spend.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from echopilot.events import append_event, write_snapshot
from echopilot.validators import require_usd
from incidents import raise_incident

from . import ledger, reservations, rules, sealing, spend_cache
from .forecast import forecast
from .models import CapAlert, CapOverride, CostCap, DailyCounter, SpendEntry, micros_to_usd, money, usd_to_micros

log = logging.getLogger(__name__)

ALLOW, WARN, DOWNGRADE, THROTTLE = "allow", "warn", "downgrade", "throttle"
OK_STATE, WARN_STATE, THROTTLE_STATE = "ok", "warn", "throttle"
MAX_CHAIN = 10
FAIL_RETRY = timedelta(seconds=30)  # COST_FAIL_MODE=closed: when to ask again


# --- the decision ----------------------------------------------------------------------------------


class Decision(NamedTuple):
    """What `authorize` answers. A NamedTuple: made on every decision, and cheap to make."""

    decision: str  # allow | warn | downgrade | throttle
    model: str  # the model to call (the fallback on downgrade)
    reason: str
    requested_model: str = ""
    retry_after: datetime | None = None  # on throttle: when the cap resets
    utilization_pct: float = 0.0  # of the cap that decided
    override_until: datetime | None = None
    reserved_micros: int = 0  # near a cap: the estimate held until the call's usage report settles it
    checked: bool = True  # False: the database could not be reached, and COST_FAIL_MODE answered

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "model": self.model,
            "requested_model": self.requested_model,
            "reason": self.reason,
            "retry_after": self.retry_after.isoformat() if self.retry_after else None,
            "utilization_pct": round(self.utilization_pct, 2),
            "override_until": self.override_until.isoformat() if self.override_until else None,
            "reserved_usd": micros_to_usd(self.reserved_micros) if self.reserved_micros else None,
            "checked": self.checked,
        }


class CapCheck(NamedTuple):
    level: int  # 0, 90 or 100: the threshold the projected spend has reached
    utilization_pct: float
    cap_micros: int | None
    override_until: datetime | None


NO_CAP = CapCheck(0, 0.0, None, None)


def check_cap(config, spent: dict, scope_key: tuple, est_micros: int, now) -> CapCheck:
    """Where one cap stands if `est_micros` more were spent; an overridden cap never blocks."""
    cap = config.caps.get(scope_key)
    if cap is None:
        return NO_CAP
    projected = spent.get(scope_key, 0) + est_micros
    pct = projected * 100 / cap if cap else (0.0 if projected == 0 else 100.0)
    until = config.overrides.get(scope_key)
    if until is not None and now < until:
        return CapCheck(0, pct, cap, until)
    level = 100 if projected >= cap else 90 if projected * 100 >= cap * 90 else 0
    return CapCheck(level, pct, cap, None)


def fallback_chain(fallbacks: dict, model: str) -> list[str]:
    """The models `model` falls back to, nearest first; a loop in the admin's links ends the chain."""
    chain: list[str] = []
    seen = {model}
    nxt = fallbacks.get(model)
    while nxt and nxt not in seen and len(chain) < MAX_CHAIN:
        chain.append(nxt)
        seen.add(nxt)
        nxt = fallbacks.get(nxt)
    return chain


def decide(config, totals, model: str, est_micros: int, now) -> Decision:
    """The rules: the global cap reached throttles everything; a model at its cap downgrades to the
    first fallback under its own cap, else throttles; 90% of any cap that applies warns."""
    spent = totals.spent
    overall = check_cap(config, spent, spend_cache.DAILY_KEY, est_micros, now)
    if overall.level == 100:
        assert overall.cap_micros is not None, "only a cap is reached"
        return Decision(
            THROTTLE,
            model,
            f"the global daily cap of {money(overall.cap_micros or 0)} is reached ({overall.utilization_pct:.2f}%)",
            model,
            totals.end,
            overall.utilization_pct,
        )
    own = check_cap(config, spent, (CostCap.MODEL, model), est_micros, now)
    if own.level == 100:
        return _past_model_cap(config, totals, model, own, est_micros, now)
    worst = own if (own.level, own.utilization_pct) > (overall.level, overall.utilization_pct) else overall
    override = own.override_until or overall.override_until
    if worst.level == 90:
        which = "the global daily cap" if worst is overall else f"the {model} daily cap"
        return Decision(
            WARN,
            model,
            f"{worst.utilization_pct:.2f}% of {which} is spent",
            model,
            utilization_pct=worst.utilization_pct,
            override_until=override,
        )
    reason = "under every cap" if override is None else "a cap is overridden by an operator"
    return Decision(ALLOW, model, reason, model, utilization_pct=worst.utilization_pct, override_until=override)


def _past_model_cap(config, totals, model, own: CapCheck, est_micros, now) -> Decision:
    assert own.cap_micros is not None, "only a cap is reached"
    cap_text = f"{model} is at {own.utilization_pct:.2f}% of its {money(own.cap_micros)} daily cap"
    skipped = []
    for fallback in fallback_chain(config.fallbacks, model):
        check = check_cap(config, totals.spent, (CostCap.MODEL, fallback), est_micros, now)
        if check.level < 100:
            return Decision(
                DOWNGRADE, fallback, f"{cap_text}; use {fallback}", model, utilization_pct=own.utilization_pct
            )
        skipped.append(fallback)
    tail = f"; fallbacks at their caps too: {', '.join(skipped)}" if skipped else "; no fallback configured"
    return Decision(THROTTLE, model, cap_text + tail, model, totals.end, own.utilization_pct)


def authorize(model: str, est_usd=None, *, now=None) -> Decision:
    """May the product call `model` now (optionally: a call estimated at `est_usd`)? Answered from
    the in-process copy of caps and today's counters, without a query on most calls. Near a cap the
    decision is taken on the shared counters and an allowed call holds its estimate until its usage
    report (costs.reservations). With the database out of reach, COST_FAIL_MODE answers."""
    # datetime.now(utc) rather than timezone.now(): the same value with USE_TZ, a settings lookup less.
    now = now or datetime.now(dt_timezone.utc)
    est_micros = usd_to_micros(est_usd) if est_usd else 0
    try:
        config, totals = spend_cache.current(now)
        if est_usd is None and model not in config.prices:
            raise unpriced(model)
        decision = decide(config, totals, model, est_micros, now)
        if decision.decision == THROTTLE or not reservations.near_cap(config, totals, decision.model, est_micros, now):
            return decision  # spend only grows: a throttle on the cached spend stands
        return reservations.reserve(model, est_micros, now, decide)
    except DatabaseError:
        log.warning("authorize could not reach the database; COST_FAIL_MODE=%s answers", settings.COST_FAIL_MODE)
        return _unchecked(model, now)


def standing_decision(model: str, now) -> Decision:
    """The decision for `model` as the spend stands, holding nothing: what a usage report answers."""
    config, totals = spend_cache.current(now)
    return decide(config, totals, model, 0, now)


def _unchecked(model: str, now) -> Decision:
    """The answer of COST_FAIL_MODE while the database is out of reach: open allows, closed throttles
    (try again in a minute); either way it says the caps were not checked."""
    if settings.COST_FAIL_MODE == "closed":
        reason = "the database cannot be reached and COST_FAIL_MODE is closed: caps not checked, call refused"
        return Decision(THROTTLE, model, reason, model, now + FAIL_RETRY, checked=False)
    reason = "the database cannot be reached and COST_FAIL_MODE is open: caps not checked, call allowed"
    return Decision(ALLOW, model, reason, model, checked=False)


def unpriced(model: str) -> ValidationError:
    """A model the price table does not know, asked about without an amount: allowing it would let
    its spend go uncounted (its usage report, without usd, is refused for having no price)."""
    return ValidationError(
        {
            "model": f"no price for model {model!r} in the price table: send est_usd here and usd in its "
            "usage report, or add its price (admin: Cost guardrails > Model prices)"
        }
    )


# --- spend in ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendResult:
    request_id: str
    kind: str
    model: str
    usd: Decimal
    day: date
    duplicate: bool  # True when the request_id was already counted; nothing was added
    decision: Decision | None  # the model's decision after this spend; None for a Stripe fee

    def to_dict(self) -> dict:
        return {
            "request_id": self.request_id,
            "kind": self.kind,
            "model": self.model,
            "usd": self.usd,
            "day": self.day.isoformat(),
            "duplicate": self.duplicate,
            "decision": self.decision.to_dict() if self.decision else None,
        }


def record_spend(
    *, model="", usd=None, input_tokens=0, output_tokens=0, kind=SpendEntry.AI, request_id=None, ts=None, now=None
) -> SpendResult:
    """Count one spend exactly once (by `request_id`) in the ledger and the day's counters, all or
    nothing, and answer the model's decision after it. `usd` absent: priced from the price table.
    Bad input raises a ValidationError naming the field, before anything is written. A repeated
    report adds nothing and answers the model's decision as it stands. Returns once the spend is
    committed (see costs.ledger)."""
    report = {
        "model": model,
        "usd": usd,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "kind": kind,
        "request_id": request_id,
        "ts": ts,
    }
    return record_report(report, now=now)


def record_report(report, *, now=None) -> SpendResult:
    """`record_spend` of a usage report as a script sends it (a JSON object; costs.rules says what it
    may hold)."""
    now = now or timezone.now()
    entry = rules.usage_entry(report, now)
    sealing.note_writer(entry)
    try:
        counted = ledger.count(entry)
    except ledger.DayTotalOverflow:
        raise ValidationError(
            {
                "usd": f"would take {entry['day']}'s total past what the ledger can "
                f"count; check the amounts reported for that day"
            }
        ) from None
    if not counted:
        return _previous_result(entry, now)
    sealing.counted(entry)
    if entry["kind"] != SpendEntry.AI:
        return SpendResult(
            entry["request_id"], entry["kind"], "", micros_to_usd(entry["usd_micros"]), entry["day"], False, None
        )
    _settle_reservation(entry["day"], entry["model"], now)
    decision = standing_decision(entry["model"], now)
    alert_if_due(entry["day"], _spent_on(entry["day"], now), now=now)
    return SpendResult(
        entry["request_id"],
        entry["kind"],
        entry["model"],
        micros_to_usd(entry["usd_micros"]),
        entry["day"],
        False,
        decision,
    )


def _settle_reservation(day, model: str, now) -> None:
    """Release the hold of the call just reported, once its spend is committed. Only near a cap,
    where holds are made: far from every cap a report costs no query more. Near one, the day's
    counters are read again too, so the decision the report answers counts every worker's spend."""
    config, totals = spend_cache.current(now)
    if totals.day == day and reservations.near_cap(config, totals, model, 0, now):
        reservations.settle(day, model, now)
        spend_cache.refresh(now)


def _spent_on(day, now) -> dict:
    """(scope, key) -> micro-dollars of `day`: the cached copy for today, a read for another day."""
    _, totals = spend_cache.current(now)
    return dict(totals.spent) if totals.day == day else spend_cache.load_totals(day).spent


def _previous_result(entry: dict, now) -> SpendResult:
    """What the first report of `entry`'s request_id got, when `entry` repeats it; a ValidationError
    when it reports something else under the same id (as Stripe refuses an idempotency key reused
    with other parameters): answering "duplicate" would acknowledge spend that was never counted."""
    row = SpendEntry.objects.get(request_id=entry["request_id"])
    if _what_was_reported(entry) != _what_was_reported(row.__dict__):
        raise ValidationError(
            {
                "request_id": (
                    f"was already used for another report "
                    f"({' '.join(filter(None, [row.kind, row.model]))} {money(row.usd_micros)}, "
                    f"{row.input_tokens:,} + {row.output_tokens:,} tokens); a repeat must send the same report"
                )
            }
        )
    decision = standing_decision(row.model, now) if row.kind == SpendEntry.AI else None
    return SpendResult(row.request_id, row.kind, row.model, row.usd, row.day, True, decision)


def _what_was_reported(report: dict) -> tuple:
    """What makes two reports the same, ts aside (a retry may stamp its own): the amount only when it
    was sent, as a priced amount follows the price table, which may change between retries."""
    amount = None if report["priced"] else report["usd_micros"]
    return report["kind"], report["model"], report["input_tokens"], report["output_tokens"], report["priced"], amount


# --- alerts at 90% and 100% ------------------------------------------------------------------------------


def alert_if_due(day, spent: dict, *, now=None) -> list[CapAlert]:
    """Record and raise the 90% / 100% crossings of `day`'s caps that have not been raised yet."""
    config, _ = spend_cache.current(now or timezone.now())
    raised = []
    for scope_key, spent_micros in spent.items():
        cap = config.caps.get(scope_key)
        if cap is None:
            continue
        for level in (CapAlert.WARN, CapAlert.CRITICAL):
            if spent_micros * 100 >= cap * level and not spend_cache.already_alerted(day, scope_key, level):
                alert = _record_alert(day, scope_key, level, spent_micros, cap, now)
                if alert is not None:
                    raised.append(alert)
    return raised


def _record_alert(day, scope_key, level, spent_micros, cap_micros, now) -> CapAlert | None:
    """The unique (day, scope, key, level) row decides who alerts: only the insert that creates it."""
    scope, key = scope_key
    try:
        with transaction.atomic():
            alert = CapAlert.objects.create(
                day=day,
                scope=scope,
                key=key,
                level=level,
                spent_micros=spent_micros,
                cap_micros=cap_micros,
                created=now or timezone.now(),
            )
    except IntegrityError:
        spend_cache.mark_alerted(day, scope_key, level)
        return None
    spend_cache.mark_alerted(day, scope_key, level)
    append_event(
        "costs",
        "cap_warn" if level == CapAlert.WARN else "cap_reached",
        sev="WARN" if level == CapAlert.WARN else "CRITICAL",
        scope=scope,
        key=key,
        day=day,
        spent_usd=micros_to_usd(spent_micros),
        cap_usd=micros_to_usd(cap_micros),
        level_pct=level,
    )
    if level == CapAlert.WARN and spent_micros >= cap_micros:
        # One step past 90% and 100% at once: the 100% alert speaks for both. A WARNING saying
        # "calls now warn" about a cap already exceeded would contradict it.
        CapAlert.objects.filter(pk=alert.pk).update(raised=now or timezone.now())
    else:
        raise_alert_incident(alert, now=now)
    return alert


def raise_alert_incident(alert: CapAlert, *, now=None) -> bool:
    """Raise the alert's incident (WARNING at 90%, CRITICAL at 100%); False if the inbox failed, in
    which case the hourly check tries again (the fingerprint keeps it one incident)."""
    severity = "WARNING" if alert.level == CapAlert.WARN else "CRITICAL"
    what = "all AI spend" if alert.scope == CostCap.DAILY else alert.key
    action = "calls now warn" if alert.level == CapAlert.WARN else "calls are throttled or downgraded"
    msg = (
        f"Cost cap {alert.level}%: {what} spent {money(alert.spent_micros)} of "
        f"{money(alert.cap_micros)} on {alert.day}; {action}"
    )
    meta = {
        "scope": alert.scope,
        "key": alert.key,
        "day": alert.day.isoformat(),
        "level_pct": alert.level,
        "spent_usd": str(micros_to_usd(alert.spent_micros)),
        "cap_usd": str(micros_to_usd(alert.cap_micros)),
    }
    try:
        result = raise_incident(severity, msg, "costs", meta, fingerprint=alert.fingerprint, now=now)
    except Exception:  # the spend is recorded either way; the hourly check retries the incident
        log.exception("could not raise the incident for %s", alert)
        return False
    CapAlert.objects.filter(pk=alert.pk).update(
        incident_id=str(getattr(result.incident, "pk", "")), raised=now or timezone.now()
    )
    return True


# --- caps ----------------------------------------------------------------------------------------------


def set_cap(scope: str, usd_cap, key: str = "", *, by: str = "", now=None) -> CostCap:
    """Create or change a cap (it wins over env from then on); a ValidationError names a bad field."""
    if scope not in (CostCap.DAILY, CostCap.MODEL):
        raise ValidationError({"scope": "must be 'daily' or 'model'"})
    key = (key or "").strip()
    if scope == CostCap.MODEL and not key:
        raise ValidationError({"key": "a model cap needs the model name in key"})
    if scope == CostCap.DAILY and key:
        # Most likely a model cap sent with the wrong scope: changing the global cap instead is the
        # one outcome the operator did not ask for.
        raise ValidationError(
            {"key": "the daily cap covers all AI spend and takes no key; use scope 'model' for a model's cap"}
        )
    amount = require_usd(usd_cap, "usd_cap")
    if amount > CostCap.MAX_USD:
        raise ValidationError({"usd_cap": f"must be at most {CostCap.MAX_USD:,} per day"})
    spend_cache.current_version()  # seed env caps first, so they cannot overwrite this edit later
    cap, _ = CostCap.objects.update_or_create(scope=scope, key=key, defaults={"usd_cap": amount, "updated_by": by})
    cap_saved(cap, by=by, now=now)
    return cap


def cap_warnings(cap: CostCap, now=None) -> list[str]:
    """What may surprise about a model cap just set: a model the price table does not know (its
    reports must carry usd), or one no spend was ever reported for (a misspelt name caps nothing)."""
    if cap.scope != CostCap.MODEL:
        return []
    config, _ = spend_cache.current(now or timezone.now())
    warnings = []
    if cap.key not in config.prices:
        warnings.append(f"no price for {cap.key} in the price table: its usage reports must send usd")
    if not SpendEntry.objects.filter(model=cap.key).exists():
        warnings.append(f"no spend was ever reported for {cap.key}: check the model's name")
    return warnings


def cap_saved(cap: CostCap, *, by: str = "", now=None) -> None:
    """After a cap is created or changed (the API, the card, the admin): log it, and raise at once
    the 90% / 100% crossings a lower cap makes, rather than at the next report or hourly check."""
    append_event("costs", "cap_set", scope=cap.scope, key=cap.key, usd_cap=cap.usd_cap, by=by)
    now = now or timezone.now()
    _, totals = spend_cache.current(now)
    alert_if_due(totals.day, dict(totals.spent), now=now)


# --- overrides -----------------------------------------------------------------------------------------


def override_cap(request, *, by: str = "", now=None) -> CapOverride:
    """Let spend past one cap for a while: a CapOverride of the request's cap (a JSON object: scope,
    key, minutes 1..1440, default 60, reason; costs.rules says what it may hold) until now + minutes,
    created by `by`. Bad input raises a ValidationError naming the field, before anything is written.
    The row is saved (not bulk-created), so its post_save signal bumps CostConfig.version and every
    worker reloads its caps; logged as the admin logs an override."""
    now = now or timezone.now()
    fields = rules.override_request(request)
    created_by = by[: CapOverride._meta.get_field("created_by").max_length]
    with transaction.atomic():  # the row and the version bump that announces it, or neither
        override = CapOverride.objects.create(
            scope=fields["scope"],
            key=fields["key"],
            until=now + timedelta(minutes=fields["minutes"]),
            reason=fields["reason"],
            created=now,
            created_by=created_by,
        )
    # The signal forgot this process's copy before the commit: forgotten again, so no decision taken
    # in between keeps the copy without the override.
    spend_cache.invalidate()
    log_override(override, by=created_by)
    return override


def log_override(override: CapOverride, *, by: str) -> None:
    """The event log's line for an override granted or changed (by the API or the admin form) by
    `by`, with its reason."""
    append_event(
        "costs",
        "cap_override",
        scope=override.scope,
        key=override.key,
        until=override.until,
        by=by,
        reason=override.reason,
    )


def override_answer(override: CapOverride, now=None) -> dict:
    """The API's answer to an override just granted: the override, its cap as it stands now (see
    `status`), and `warnings`: what the override will not do that its maker may expect."""
    current = status(now)
    cap = next((c for c in current["caps"] if (c["scope"], c["key"]) == (override.scope, override.key)), None)
    warnings = []
    if cap is not None and cap.get("override_blocked_by_daily_cap"):
        warnings.append(
            f"the global daily cap is reached: {override.key}'s calls stay throttled until it resets "
            f"({current['resets_at']}) or it is overridden too"
        )
    return {
        "scope": override.scope,
        "key": override.key,
        "until": override.until.isoformat(),
        "reason": override.reason,
        "created_by": override.created_by,
        "cap": cap,
        "warnings": warnings,
    }


# --- status --------------------------------------------------------------------------------------------


def status(now=None) -> dict:
    """Every cap with today's spend, utilization and state, the fallback in force, Stripe fees today
    and the active overrides; read fresh from the database."""
    now = now or timezone.now()
    config, totals = spend_cache.refresh(now)
    spent = totals.spent
    caps = [_cap_status(config, totals, scope_key, cap, now) for scope_key, cap in sorted(config.caps.items())]
    models = sorted(((k, m) for (s, k), m in spent.items() if s == CostCap.MODEL), key=lambda x: -x[1])
    return {
        "day": totals.day.isoformat(),
        "timezone": totals.zone,
        "as_of": now.isoformat(),
        "resets_at": totals.end.isoformat(),
        "spend_today_usd": micros_to_usd(spent.get(spend_cache.DAILY_KEY, 0)),
        "stripe_fees_today_usd": micros_to_usd(spent.get((DailyCounter.KIND, SpendEntry.STRIPE_FEE), 0)),
        "caps": caps,
        "models": [{"model": k, "spent_usd": micros_to_usd(m)} for k, m in models],
        "overrides": [
            {"scope": s, "key": k, "until": until.isoformat()}
            for (s, k), until in sorted(config.overrides.items())
            if now < until
        ],
    }


def _cap_status(config, totals, scope_key, cap, now) -> dict:
    scope, key = scope_key
    spent = totals.spent.get(scope_key, 0)
    pct = round(spent * 100 / cap, 2) if cap else (0.0 if spent == 0 else 100.0)
    cap_state = THROTTLE_STATE if spent >= cap else WARN_STATE if spent * 100 >= cap * 90 else OK_STATE
    until = config.overrides.get(scope_key)
    row = {
        "scope": scope,
        "key": key,
        "usd_cap": micros_to_usd(cap),
        "spent_usd": micros_to_usd(spent),
        "utilization_pct": pct,
        "state": cap_state,
        "override_until": until.isoformat() if until and now < until else None,
    }
    if scope == CostCap.MODEL:
        decision = decide(config, totals, key, 0, now)
        row["fallback_chain"] = fallback_chain(config.fallbacks, key)
        row["decision"] = decision.decision
        row["fallback_in_force"] = decision.model if decision.decision == DOWNGRADE else None
        # decide() looks at the global cap before the model's own: while the global cap is reached
        # (and not overridden itself), a model's override lets none of its calls through.
        row["override_blocked_by_daily_cap"] = bool(row["override_until"]) and daily_cap_blocks(config, totals, now)
    return row


def daily_cap_blocks(config, totals, now) -> bool:
    """The global daily cap is reached and not overridden: every AI call is throttled, whatever the
    model caps and their overrides say."""
    return check_cap(config, totals.spent, spend_cache.DAILY_KEY, 0, now).level == 100


# --- the hourly check --------------------------------------------------------------------------------------


def guardrails_tick(now=None) -> dict:
    """Recompute the status, raise what is due (crossings not yet alerted, incidents that failed to
    raise), append a `cost_tick` event and rewrite costs.json. Safe to run from several clusters:
    the alert rows are unique, the incidents deduplicated by fingerprint."""

    now = now or timezone.now()
    current = status(now)
    _, totals = spend_cache.current(now)
    new_alerts = alert_if_due(totals.day, dict(totals.spent), now=now)
    reservations.expire(now)
    retried = [
        a for a in CapAlert.objects.filter(day=totals.day, raised__isnull=True) if raise_alert_incident(a, now=now)
    ]
    outlook = forecast(now=now)
    append_event(
        "costs",
        "cost_tick",
        day=current["day"],
        spend_today_usd=current["spend_today_usd"],
        stripe_fees_today_usd=current["stripe_fees_today_usd"],
        caps=[{k: c[k] for k in ("scope", "key", "utilization_pct", "state")} for c in current["caps"]],
        forecast_30d_usd=outlook["total"]["next_30_days_usd"],
        alerts=len(new_alerts),
        retried=len(retried),
    )
    snapshot = {**current, "forecast": {"total": outlook["total"], "budget": outlook["budget"]}}
    write_snapshot("costs.json", snapshot)
    return {"day": current["day"], "alerts": len(new_alerts), "retried": len(retried), "caps": len(current["caps"])}
