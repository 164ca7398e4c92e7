"""Numbers read from the environment, checked once, when the settings load.

A value out of its range would otherwise surface much later and far from its cause: a counter
shard PostgreSQL cannot store fails every usage report, a zero window divides by zero in the SLO
tick, a link lifetime of 1e300 hours overflows on the first email. Refusing it at startup, with the
variable's name, stops gunicorn, the qcluster and manage.py alike before they serve anything.
"""
import math

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()

MINUTE_S = 60
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S


def integer(name: str, default: int, low: int, high: int) -> int:
    """The integer in env `name` (or `default` when it is unset or empty), from `low` to `high`."""
    raw = _env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise _refused(name, raw, f"an integer from {low:,} to {high:,}") from None
    if not low <= value <= high:
        raise _refused(name, raw, f"an integer from {low:,} to {high:,}")
    return value


def number(name: str, default: float, low: float, high: float, *, low_allowed: bool = True) -> float:
    """The finite number in env `name` (or `default` when it is unset or empty), up to `high`, from `low` (or above it when
    `low_allowed` is False: a timeout or an objective of 0 means nothing)."""
    raw = _env.str(name, default=None)
    if raw is None:
        return default
    wanted = f"a number {'from' if low_allowed else 'above'} {low:,g} {'to' if low_allowed else 'and at most'} {high:,g}"
    try:
        value = float(raw.strip())
    except ValueError:
        raise _refused(name, raw, wanted) from None
    in_range = (low <= value if low_allowed else low < value) and value <= high
    if not math.isfinite(value) or not in_range:
        raise _refused(name, raw, wanted)
    return value


def require(ok: bool, message: str) -> None:
    """Refuse settings that are each in range but wrong together (SCALE_MAX below SCALE_MIN)."""
    if not ok:
        raise ImproperlyConfigured(message)


def _refused(name: str, raw: str, wanted: str) -> ImproperlyConfigured:
    # Only numbers are read here, so echoing the value back cannot leak a secret.
    return ImproperlyConfigured(f"{name}={raw[:40]!r} in the environment: must be {wanted}")
