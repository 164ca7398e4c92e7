"""What django-q2 runs for the ops app; each task calls one service function, as its manage.py
command does."""

from . import security_scan as security_scan_module
from . import uptime

# --- security scan ------------------------------------------------------------------------------------


def security_scan() -> str:
    """The weekly security scan (the schedule and `manage.py security_scan` alike)."""
    return security_scan_module.summary(security_scan_module.run_scan())


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
