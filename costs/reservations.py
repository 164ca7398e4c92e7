"""Caps that hold under concurrency: reservations near a cap.

Far from every cap, `authorize` decides from the worker's cached spend (costs.spend_cache) without a query.
That copy lags the shared counters by up to COST_STATE_TTL_S, so near a cap each worker would spend
the remaining headroom on its own. Near a cap, the decision is therefore taken again in a
transaction that locks the caps involved (their CostCap rows, in one order), reads the day's
counters and the open reservations fresh, and, if the call is allowed, holds its estimate (est_usd,
or the model's typical call today) as a CapReservation. Every other near-cap decision counts the
hold as spent until the call's usage report settles it (deletes it, after the spend is committed,
so the call is never counted as neither) or it expires.

A hold made through the API's fast path is owed an entry in the audit chain, appended in bulk
within a minute (costs.sealing). Settling such a hold marks it `settled` rather than deleting it,
so the chain still gets its entry; `expire` deletes it once it has.
"""

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum

from . import sealing, spend_cache
from .models import CapReservation, CostCap

if TYPE_CHECKING:  # costs.services imports this module: a cycle at run time
    from .services import Decision

MAX_REMEMBERED = 10_000  # verdicts kept per cached day (per model and estimate): bounded memory


def near_cap(config, totals, model: str, est_micros: int, now) -> bool:
    """Whether a call of `model` is close enough to a cap that applies to it (the global one or its
    own, neither overridden) that spend this worker has not seen yet could take it past. Remembered
    until the cached spend moves: asked on every decision, it must cost next to nothing."""
    key = (model, est_micros)
    known = totals.near.get(key)
    if known is not None and known[0] == totals.epoch:
        return known[1]
    verdict = _near_cap(config, totals, model, est_micros, now)
    if len(totals.near) < MAX_REMEMBERED:
        totals.near[key] = (totals.epoch, verdict)
    return verdict


def _near_cap(config, totals, model: str, est_micros: int, now) -> bool:
    calls = config.reserve_calls * (est_micros or totals.typical.get(model) or config.default_call)
    caps, near_from, spent = config.caps, config.near_from, totals.spent
    for scope_key in (spend_cache.DAILY_KEY, (CostCap.MODEL, model)):
        cap = caps.get(scope_key)
        if cap is None:
            continue
        projected = spent.get(scope_key, 0) + est_micros
        if (projected + calls >= cap or projected >= near_from[scope_key]) and not _overridden(config, scope_key, now):
            return True
    return False


def _overridden(config, scope_key, now) -> bool:
    until = config.overrides.get(scope_key)
    return until is not None and now < until


def _typical(config, totals, model: str) -> int:
    return totals.typical.get(model) or config.default_call


def reserve(model: str, est_micros: int, now, decide) -> "Decision":
    """The decision for `model` taken on the shared counters plus every open reservation, under the
    lock of the caps involved; an allowed call (allow, warn or downgrade) holds its estimate against
    the model it is to use. `decide(config, totals, model, est_micros, now)` is the rule itself."""
    from .services import THROTTLE  # costs.services imports this module at its top: a cycle

    config, cached = spend_cache.current(now)
    with transaction.atomic():
        _lock_caps(config, model)
        totals, typical = _live_totals(cached.day, now)
        decision = decide(config, totals, model, est_micros, now)
        if decision.decision == THROTTLE:
            return decision
        held = est_micros or typical.get(decision.model) or _typical(config, cached, decision.model)
        CapReservation.objects.create(
            day=cached.day,
            model=decision.model,
            usd_micros=held,
            created=now,
            expires=now + timedelta(seconds=settings.COST_RESERVATION_TTL_S),
            **sealing.hold_writer(),
        )
    return decision._replace(reserved_micros=held)


def _lock_caps(config, model: str) -> None:
    """Lock the cap rows a decision for `model` reads (the global cap, the model's and its fallbacks'),
    always in (scope, key) order, so two reservations never wait on each other in a cycle."""
    from .services import fallback_chain  # costs.services imports this module at its top: a cycle

    models = [model, *fallback_chain(config.fallbacks, model)]
    wanted = Q(scope=CostCap.DAILY) | Q(scope=CostCap.MODEL, key__in=models)
    list(CostCap.objects.select_for_update().filter(wanted).order_by("scope", "key").values_list("pk"))


def _live_totals(day, now) -> tuple:
    """The day's spend read fresh, with every open reservation added as if spent; and each model's
    typical call today (micro-dollars per report)."""
    totals = spend_cache.load_totals(day)
    typical = {key: totals.spent.get((scope, key), 0) // n for (scope, key), n in totals.reports.items() if n}
    open_holds = (
        CapReservation.objects.filter(day=day, expires__gt=now, settled__isnull=True)
        .values("model")
        .annotate(micros=Sum("usd_micros"))
    )
    for hold in open_holds:
        spend_cache.add_spent(totals.spent, CostCap.MODEL, hold["model"], hold["micros"])
    return totals, typical


def settle(day, model: str, now) -> bool:
    """Release the oldest open reservation of `model` on `day` (its call has reported and its spend
    is committed). True when there was one. Racing reports each take a different row (the holds of
    one model and day are alike: any of them released releases the same amount)."""
    oldest = (
        CapReservation.objects.select_for_update(skip_locked=True)
        .filter(day=day, model=model, settled__isnull=True)
        .order_by("expires")
        .values_list("pk", "audit_pending")[:1]
    )
    with transaction.atomic():
        found = list(oldest)
        if not found:
            return False
        pk, pending = found[0]
        held = CapReservation.objects.filter(pk=pk)
        if pending:  # deleted now, the chain would never have its entry: kept, marked, until it has
            return held.update(settled=now) > 0
        return held.delete()[0] > 0


def expire(now) -> int:
    """Delete the reservations whose calls never reported (they stopped counting when they expired)
    and those settled, once the audit chain has their entries."""
    done = Q(expires__lte=now) | Q(settled__isnull=False)
    return CapReservation.objects.filter(done, audit_pending=False).delete()[0]
