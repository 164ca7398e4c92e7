"""Retention analytics: the product's users' activity in, DAU / WAU / MAU per day out.

Activity arrives in batches of `{user_id, ts}` and is folded to one row per user and UTC day. The
daily job (00:05 UTC) counts yesterday, any day without counts yet, and every day marked stale
because late events arrived for a day inside its 30-day window.
"""

from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from echopilot.events import append_event

from .models import ActiveDay, RetentionDay

WINDOWS = {"dau": 1, "wau": 7, "mau": 30}
MAX_BACKFILL_DAYS = 400
FUTURE_SLACK = timedelta(minutes=5)
USER_ID_MAX = 200


# --- activity in ------------------------------------------------------------------------------------------


def record_activity(events, now=None) -> dict:
    """Store a batch of `{user_id, ts}`; all or nothing: one bad event refuses the whole batch with a
    ValidationError naming it (`events[12].ts`). Returns what was stored."""
    now = now or timezone.now()
    pairs = _checked_batch(events, now)
    today = now.astimezone(dt_timezone.utc).date()
    with transaction.atomic():
        ActiveDay.objects.bulk_create(
            [ActiveDay(user_id=user, day=day) for user, day in sorted(pairs)], ignore_conflicts=True, batch_size=2000
        )
        late = sorted({day for _, day in pairs if day < today})
        marked = _mark_stale(late)
    append_event("analytics", "activity", events=len(events), user_days=len(pairs), late_days=len(late))
    return {
        "accepted": len(events),
        "user_days": len(pairs),
        "late_days": [d.isoformat() for d in late],
        "stale": marked,
    }


def _checked_batch(events, now) -> set[tuple[str, date]]:
    if not isinstance(events, list) or not events:
        raise ValidationError({"events": "a non-empty list of {user_id, ts}"})
    if len(events) > settings.ANALYTICS_BATCH_MAX:
        raise ValidationError(
            {"events": f"at most {settings.ANALYTICS_BATCH_MAX:,} events a request, got {len(events):,}"}
        )
    pairs = set()
    for index, event in enumerate(events):
        pairs.add((_user_id(event, index), _day(event, index, now)))
    return pairs


def _user_id(event, index: int) -> str:
    if not isinstance(event, dict):
        raise ValidationError({f"events[{index}]": "must be an object {user_id, ts}"})
    user = event.get("user_id")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or not str(user).strip():
        raise ValidationError({f"events[{index}].user_id": "required: a non-empty string or integer"})
    user = str(user).strip()
    if len(user) > USER_ID_MAX or not user.isprintable():
        raise ValidationError({f"events[{index}].user_id": f"at most {USER_ID_MAX} printable characters"})
    return user


def _day(event: dict, index: int, now) -> date:
    raw = event.get("ts")
    when = parse_datetime(raw) if isinstance(raw, str) else None
    if when is None:
        raise ValidationError({f"events[{index}].ts": "required: an ISO 8601 date-time, e.g. 2026-12-06T09:30:00Z"})
    if timezone.is_naive(when):
        when = when.replace(tzinfo=dt_timezone.utc)  # documented: a time without an offset is UTC
    if when > now + FUTURE_SLACK:
        raise ValidationError({f"events[{index}].ts": "is in the future"})
    return when.astimezone(dt_timezone.utc).date()


def _mark_stale(late_days: list[date]) -> int:
    """Mark counted days whose window holds one of `late_days` for a recount."""
    if not late_days:
        return 0
    last = late_days[-1] + timedelta(days=WINDOWS["mau"] - 1)
    return RetentionDay.objects.filter(day__gte=late_days[0], day__lte=last, stale=False).update(stale=True)


# --- the daily counts -----------------------------------------------------------------------------------------


def aggregate(now=None) -> dict:
    """Count DAU / WAU / MAU for yesterday, for days never counted, and for stale days; the job result."""
    now = now or timezone.now()
    days = days_to_count(now)
    for day in days:
        count_day(day, now)
    summary = f"counted {len(days)} day(s)"
    if days:
        latest = RetentionDay.objects.get(day=days[-1])
        summary += f"; {latest.day}: DAU {latest.dau}, WAU {latest.wau}, MAU {latest.mau}"
    return {"ok": True, "summary": summary, "days": [d.isoformat() for d in days]}


def days_to_count(now) -> list[date]:
    yesterday = now.astimezone(dt_timezone.utc).date() - timedelta(days=1)
    first = ActiveDay.objects.order_by("day").values_list("day", flat=True).first()
    if first is None:
        return []
    start = max(first, yesterday - timedelta(days=MAX_BACKFILL_DAYS))
    counted = set(RetentionDay.objects.filter(day__gte=start, stale=False).values_list("day", flat=True))
    span = (yesterday - start).days + 1
    return [start + timedelta(days=n) for n in range(span) if start + timedelta(days=n) not in counted]


def count_day(day: date, now) -> RetentionDay:
    """Count one day. The stale mark is cleared before counting: events arriving meanwhile set it again,
    and the next run recounts."""
    RetentionDay.objects.filter(day=day, stale=True).update(stale=False)
    counts = {name: active_users(day, width) for name, width in WINDOWS.items()}
    row, _ = RetentionDay.objects.update_or_create(day=day, defaults={**counts, "computed_at": now})
    return row


def active_users(day: date, width: int) -> int:
    """Distinct users active in the `width` days ending on `day`."""
    window = ActiveDay.objects.filter(day__gt=day - timedelta(days=width), day__lte=day)
    return window.values("user_id").distinct().count()


# --- out ------------------------------------------------------------------------------------------------------


def series(days: int = 30, now=None) -> list[dict]:
    """The last `days` counted days, oldest first, as GET /api/analytics/retention answers."""
    now = now or timezone.now()
    since = now.astimezone(dt_timezone.utc).date() - timedelta(days=days)
    rows = RetentionDay.objects.filter(day__gte=since).order_by("day")
    return [{"day": r.day.isoformat(), "dau": r.dau, "wau": r.wau, "mau": r.mau, "stale": r.stale} for r in rows]


def chart(days: int = 30, width: int = 320, height: int = 110, now=None) -> dict:
    """Polylines for an inline SVG of DAU / WAU / MAU (drawn on the server: no script, no CDN)."""
    points = series(days, now)
    peak = max((p["mau"] for p in points), default=0) or 1
    step = width / max(len(points) - 1, 1)

    def line(name: str) -> str:
        return " ".join(f"{i * step:.1f},{height - p[name] * height / peak:.1f}" for i, p in enumerate(points))

    latest = points[-1] if points else None
    return {
        "width": width,
        "height": height,
        "peak": peak,
        "latest": latest,
        "days": len(points),
        **{n: line(n) for n in WINDOWS},
    }


def utc_date(value: datetime) -> date:
    return value.astimezone(dt_timezone.utc).date()
