"""What django-q2 runs for the ops app; the manage.py commands call the same functions."""

from . import uptime

# --- The ops check and auto-recovery ---------------------------------------------------------------


def heartbeat() -> str:
    """The ops check's round trip: queued, run by a qcluster, its result stored."""
    return "alive"


# --- Uptime probes ------------------------------------------------------------------------------------


def uptime_probes() -> str:
    """Every minute: probe the checks that are due, at once, and drop results past UPTIME_RETENTION_DAYS."""
    probed = uptime.run_due()
    expired = uptime.expire_results()
    down = [str(p["check"]) for p in probed if p["state"] == "down"]
    return f"{len(probed)} probed, {len(down)} down{': ' + ', '.join(down) if down else ''}, {expired} expired"
