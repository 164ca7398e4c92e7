"""Demo data: two weeks of plausible AI spend and Stripe fees, with one model near its cap today.

Every report has a fixed request_id, so loading twice counts nothing twice.
"""

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError

from . import spend_cache
from .models import CostCap, money
from .services import record_spend

DAYS = 14
# model -> typical USD per day; a gentle upward trend makes the forecast interesting.
DAILY_USD = {"gpt-4o": 5.0, "gpt-4o-mini": 7.0, "embeddings": 0.6}
REPORTS_PER_DAY = 3
NEAR_CAP = Decimal("0.92")


def load(now) -> str:
    config, _ = spend_cache.current(now)
    today = spend_cache.cost_day(now)
    hot = _model_near_cap(config)
    reports = 0
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        rng = random.Random(day.toordinal())
        growth = 1 + (DAYS - back) * 0.02
        for model, usd in DAILY_USD.items():
            target = Decimal(str(round(usd * growth * rng.uniform(0.8, 1.2), 4)))
            if back == 0 and model == hot:
                target = (Decimal(config.caps[(CostCap.MODEL, hot)]) / 1_000_000 * NEAR_CAP).quantize(Decimal("0.0001"))
            reports += _report_day(model, day, target, now)
        fee = Decimal(str(round(rng.uniform(1.0, 3.0), 2)))
        reports += _record(
            kind="stripe_fee", usd=fee, request_id=f"demo:{day}:stripe_fee", ts=_at(day, 20, now), now=now
        )
    # Counted as recorded, not as sent: a second load adds nothing and says so.
    return f"{reports} new spend reports over {DAYS} days; {_standing(hot, now)}"


def _standing(model: str | None, now) -> str:
    """Where the near-cap model stands now, as read back: other spend today (or a cap changed since
    an earlier load) moves it away from the share the demo aimed at."""
    if model is None:
        return "no model cap to bring near"
    config, totals = spend_cache.refresh(now)
    cap = config.caps.get((CostCap.MODEL, model))
    if not cap:
        return f"{model} has no cap"
    spent = totals.spent.get((CostCap.MODEL, model), 0)
    return f"{model} at {spent / cap:.0%} of its {money(cap)} cap today"


def _model_near_cap(config) -> str | None:
    capped = [key for (scope, key) in config.caps if scope == CostCap.MODEL and key in DAILY_USD]
    return "gpt-4o-mini" if "gpt-4o-mini" in capped else (capped[0] if capped else None)


def _report_day(model, day, total: Decimal, now) -> int:
    """Report `total` of `model`'s spend on `day` in REPORTS_PER_DAY parts; how many were new."""
    share = (total / REPORTS_PER_DAY).quantize(Decimal("0.000001"))
    parts = [share] * (REPORTS_PER_DAY - 1) + [total - share * (REPORTS_PER_DAY - 1)]
    new = 0
    for i, usd in enumerate(parts):
        tokens = int(usd * 400_000)
        new += _record(
            model=model,
            usd=usd,
            input_tokens=tokens,
            output_tokens=tokens // 4,
            request_id=f"demo:{day}:{model}:{i}",
            ts=_at(day, 6 + i * 5, now),
            now=now,
        )
    return new


def _record(**report) -> int:
    """1 when the report was new, 0 when an earlier load sent it: with other amounts too, as today's
    near-cap amount follows the cap, which an operator may have changed since."""
    try:
        return int(not record_spend(**report).duplicate)
    except ValidationError as exc:
        if "request_id" in exc.message_dict:
            return 0
        raise


def _at(day, hour, now) -> datetime:
    start, _ = spend_cache.day_bounds(day)
    return min(start + timedelta(hours=hour), now)
