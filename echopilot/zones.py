"""Time zone settings an operator types by hand."""

import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)


def zone_problem(setting: str, name: str) -> str | None:
    """Why the zone `name` (the value of `setting`) cannot be used, or None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{setting} {name!r} is not a time zone; using UTC"
    return None


def zone_or_utc(setting: str, name: str) -> ZoneInfo:
    """The zone `name` (the value of `setting`). A misspelt one is logged and UTC used instead,
    rather than every caller failing; readiness reports it through `zone_problem`."""
    problem = zone_problem(setting, name)
    if problem:
        log.error("%s until it is fixed", problem)
        return ZoneInfo("UTC")
    return ZoneInfo(name)  # ZoneInfo keeps one instance per name: no second load
