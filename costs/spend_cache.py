"""What `authorize` answers from: an in-process copy of the caps, fallbacks, overrides and prices,
and of the day's counters.

The copy of the configuration is reloaded when CostConfig.version moves (every edit bumps it);
the counters are re-read at most every COST_STATE_TTL_S seconds, and this process's own reports
update them as they commit. So a decision costs no query, and spend reported through another web
worker is seen within the TTL.
"""

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from echopilot import zones
from echopilot.validators import storable_name

from .models import CapOverride, CostCap, CostConfig, DailyCounter, ModelFallback, ModelPrice, usd_to_micros

log = logging.getLogger(__name__)
DAILY_KEY = (CostCap.DAILY, "")


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    # Misspelt: UTC days rather than every decision a 500; readiness fails through the costs check.
    return zones.zone_or_utc("COST_TIMEZONE", name)


def zone_problem() -> str | None:
    """Why COST_TIMEZONE cannot be used, or None."""
    return zones.zone_problem("COST_TIMEZONE", settings.COST_TIMEZONE)


def cost_day(ts: datetime) -> date:
    """The cost day `ts` falls on: the calendar day in COST_TIMEZONE (UTC unless set)."""
    return ts.astimezone(_zone(settings.COST_TIMEZONE)).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of `day` and of the next day in COST_TIMEZONE, as aware datetimes."""
    zone = _zone(settings.COST_TIMEZONE)
    start = datetime.combine(day, dtime.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), dtime.min, tzinfo=zone)
    return start, end


@dataclass(frozen=True)
class Config:
    version: int
    caps: dict  # (scope, key) -> cap in micro-dollars
    fallbacks: dict  # model -> next cheaper model
    overrides: dict  # (scope, key) -> the latest `until` among its overrides
    prices: dict  # model -> (input, output) Decimal USD per 1M tokens
    # The reservation margins (costs.reservations), read with the rest: a settings lookup per
    # decision costs more than the check itself.
    reserve_calls: int = 0
    default_call: int = 0  # micro-dollars
    near_from: dict = field(default_factory=dict)  # (scope, key) -> the spend from which a cap is near


@dataclass
class DayTotals:
    day: date
    start: datetime
    end: datetime
    zone: str
    stale_at: float  # time.monotonic() after which the counters are read again
    spent: dict = field(default_factory=dict)  # (scope, key) -> micro-dollars, summed over shards
    shards: dict = field(default_factory=dict)  # (scope, key, shard) -> micro-dollars
    reports: dict = field(default_factory=dict)  # (scope, key) -> reports counted, as of the last read
    typical: dict = field(default_factory=dict)  # model -> its mean call today in micro-dollars, likewise
    epoch: int = 0  # moves whenever `spent` does, so a verdict worked out from it can be remembered
    near: dict = field(default_factory=dict)  # (model, est) -> (epoch, near a cap?): costs.reservations


_lock = threading.Lock()
_config: Config | None = None
_totals: DayTotals | None = None


def invalidate() -> None:
    """Forget the cached copy; the next decision reloads it."""
    global _config, _totals
    with _lock:
        _config = None
        _totals = None


def current(now: datetime) -> tuple[Config, DayTotals]:
    """The configuration and the counters of `now`'s cost day, reloaded only when stale."""
    config, totals = _config, _totals
    # Settings are read at load time, not here: a LazySettings lookup per decision adds up.
    # A change of COST_TIMEZONE or the TTL (tests do it) resets the copy through setting_changed.
    if config is None or totals is None or not (totals.start <= now < totals.end) or time.monotonic() > totals.stale_at:
        return refresh(now)
    return config, totals


def refresh(now: datetime) -> tuple[Config, DayTotals]:
    """Re-read the version (and the configuration if it moved) and the day's counters."""
    global _config, _totals
    day = cost_day(now)
    version, counters = _version_and_counters(day)
    config = _config
    if config is None or config.version != version:
        config = load_config(version)
    totals = _day_totals(day, counters)
    with _lock:
        _config, _totals = config, totals
    return config, totals


@functools.lru_cache(maxsize=4)
def _refresh_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    config, counter = CostConfig._meta.db_table, DailyCounter._meta.db_table
    return (
        f"SELECT c.{q('version')}, d.{q('scope')}, d.{q('key')}, d.{q('shard')}, d.{q('usd_micros')}, d.{q('reports')} "
        f"FROM {q(config)} c LEFT JOIN {q(counter)} d ON d.{q('day')} = %s "
        f"WHERE c.{q(CostConfig._meta.pk.attname)} = 1 AND c.{q('env_caps_seeded')} IS NOT NULL"
    )


def _version_and_counters(day: date) -> tuple[int, list]:
    """The configuration's version and `day`'s counter rows (scope, key, shard, micros, reports), in one
    query: every web worker asks every COST_STATE_TTL_S, and through the ORM, as two queries, it
    cost a busy worker milliseconds each time."""
    rows = _read_version_and_counters(day)
    if not rows:  # no configuration row yet, or the env caps not seeded: once in a database's life
        current_version()
        rows = _read_version_and_counters(day)
    return rows[0][0], [row[1:] for row in rows if row[1] is not None]


def _read_version_and_counters(day: date) -> list:
    with connection.cursor() as cursor:
        cursor.execute(_refresh_sql(connection.vendor), [connection.ops.adapt_datefield_value(day)])
        return cursor.fetchall()


def note_totals(day: date, rows) -> None:
    """Fold shard totals just committed by this process, (scope, key, shard, micros), into the
    cached copy. A shard only grows within a day, so the larger value is the newer one whatever
    order threads commit in."""
    totals = _totals
    if totals is None or totals.day != day:
        return
    with _lock:
        for scope, key, shard, micros in rows:
            before = totals.shards.get((scope, key, shard), 0)
            if micros > before:
                totals.shards[(scope, key, shard)] = micros
                add_spent(totals.spent, scope, key, micros - before)
                totals.epoch += 1


def add_spent(spent: dict, scope: str, key: str, micros: int) -> None:
    """Add a counter row's micros to its (scope, key) total in `spent`. A model's spend is also all AI
    spend (DAILY_KEY), which has no counter rows of its own. The one rule for the cached day and
    the forecast's history alike."""
    if scope == CostCap.DAILY:  # written by a worker not yet restarted after migration 0007
        return  # the model rows hold the same spend
    spent[(scope, key)] = spent.get((scope, key), 0) + micros
    if scope == CostCap.MODEL:
        spent[DAILY_KEY] = spent.get(DAILY_KEY, 0) + micros


def counter_shard() -> int:
    """This process's shard: one web worker's reports never wait on another worker's row lock."""
    return os.getpid() % max(1, settings.COST_COUNTER_SHARDS)


def current_version() -> int:
    config = CostConfig.objects.filter(pk=1).values_list("version", "env_caps_seeded").first()
    if config is None or config[1] is None:
        seed_env_caps()
        config = CostConfig.objects.filter(pk=1).values_list("version", "env_caps_seeded").first()
    assert config is not None, "seed_env_caps creates the config row"
    return config[0]


def bump_version() -> None:
    """Tell every process that caps, prices, fallbacks or overrides changed."""
    if not CostConfig.objects.filter(pk=1).update(version=F("version") + 1):
        CostConfig.objects.get_or_create(pk=1)
    invalidate()


def seed_env_caps(now=None) -> bool:
    """Create the caps of COST_CAP_DAILY_USD and MODEL_CAPS_JSON the first time caps are needed.
    Only once: from then on the admin's edits (deleting a cap included) win over env."""
    with transaction.atomic():
        config, _ = CostConfig.objects.get_or_create(pk=1)
        config = CostConfig.objects.select_for_update().get(pk=1)
        if config.env_caps_seeded is not None:
            return False
        for scope, key, usd in env_caps():
            CostCap.objects.get_or_create(scope=scope, key=key, defaults={"usd_cap": usd, "updated_by": "env"})
        CostConfig.objects.filter(pk=1).update(env_caps_seeded=now or timezone.now(), version=F("version") + 1)
    invalidate()
    return True


def env_caps() -> list[tuple[str, str, Decimal]]:
    """The caps env asks for; an unusable value is logged and left out rather than stopping the app."""
    caps = []
    candidates = [(CostCap.DAILY, "", settings.COST_CAP_DAILY_USD)]
    model_caps = settings.MODEL_CAPS_JSON if isinstance(settings.MODEL_CAPS_JSON, dict) else {}
    candidates += [(CostCap.MODEL, str(model), usd) for model, usd in model_caps.items()]
    for scope, key, usd in candidates:
        # A cap the database refused would fail the seeding, and with it every decision, on every call.
        if scope == CostCap.MODEL and not storable_name(key, CostCap.KEY_LENGTH):
            log.warning("ignoring the env cap for %r: not a model name of 1-%d characters", key, CostCap.KEY_LENGTH)
            continue
        try:
            amount = Decimal(repr(usd) if isinstance(usd, float) else str(usd))
            if isinstance(usd, bool) or not amount.is_finite() or not 0 <= amount <= CostCap.MAX_USD:
                raise ValueError(usd)
        except (ArithmeticError, ValueError):
            log.warning(
                "ignoring the env cap %s:%s: %r is not an amount in USD from 0 to %s",
                scope,
                key or "all",
                usd,
                f"{CostCap.MAX_USD:,}",
            )
            continue
        caps.append((scope, key, amount))
    return caps


def load_config(version: int) -> Config:
    caps = {(c.scope, c.key): usd_to_micros(c.usd_cap) for c in CostCap.objects.all()}
    fallbacks = dict(ModelFallback.objects.values_list("model", "fallback"))
    overrides: dict[tuple[str, str], datetime] = {}
    for scope, key, until in CapOverride.objects.values_list("scope", "key", "until"):
        overrides[(scope, key)] = max(until, overrides.get((scope, key), until))
    prices = {m: (i, o) for m, i, o in ModelPrice.objects.values_list("model", "input_per_mtok", "output_per_mtok")}
    return Config(
        version=version,
        caps=caps,
        fallbacks=fallbacks,
        overrides=overrides,
        prices=prices,
        reserve_calls=settings.COST_RESERVE_CALLS,
        default_call=usd_to_micros(settings.COST_RESERVE_DEFAULT_USD),
        near_from={k: cap - cap * settings.COST_RESERVE_HEADROOM_PCT / 100 for k, cap in caps.items()},
    )


def load_totals(day: date) -> DayTotals:
    rows = DailyCounter.objects.filter(day=day).values_list("scope", "key", "shard", "usd_micros", "reports")
    return _day_totals(day, rows)


def _day_totals(day: date, counters) -> DayTotals:
    start, end = day_bounds(day)
    shards: dict[tuple[str, str, int], int] = {}
    spent: dict[tuple[str, str], int] = {}
    reports: dict[tuple[str, str], int] = {}
    for scope, key, shard, micros, count in counters:
        shards[(scope, key, shard)] = micros
        add_spent(spent, scope, key, micros)
        reports[(scope, key)] = reports.get((scope, key), 0) + count
    return DayTotals(
        day=day,
        start=start,
        end=end,
        zone=settings.COST_TIMEZONE,
        stale_at=time.monotonic() + settings.COST_STATE_TTL_S,
        spent=spent,
        shards=shards,
        reports=reports,
        typical={key: spent[(scope, key)] // n for (scope, key), n in reports.items() if n and scope == CostCap.MODEL},
    )


# Crossings this process knows are already recorded, so a report past 90% does not try to insert
# the alert row again on every call. Only a shortcut: the unique row is what decides.
_alerted: set = set()


def already_alerted(day: date, scope_key: tuple, level: int) -> bool:
    return (day, scope_key, level) in _alerted


def mark_alerted(day: date, scope_key: tuple, level: int) -> None:
    if len(_alerted) > 10_000:
        _alerted.clear()
    _alerted.add((day, scope_key, level))


def on_setting_changed(setting, **kwargs) -> None:
    if setting.startswith(("COST_", "MODEL_CAPS")):
        reset()


def reset() -> None:
    """Forget everything cached (tests call it between cases)."""
    invalidate()
    _alerted.clear()
