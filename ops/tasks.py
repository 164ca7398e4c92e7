"""What django-q2 runs for the ops app; the manage.py commands call the same functions."""

from . import checks, recovery, uptime

# --- The ops check and auto-recovery ---------------------------------------------------------------


def heartbeat() -> str:
    """The ops check's round trip: queued, run by a qcluster, its result stored."""
    return "alive"


def ops_check_tick() -> str:
    report = checks.ops_check(by="schedule")
    return f"ops check {report.worst} in {report.duration_ms} ms"


def ops_recover(dry_run: bool = False, trigger: str = "manual") -> dict:
    return recovery.to_dict(recovery.recover(dry_run=dry_run, trigger=trigger))


# --- Uptime probes ------------------------------------------------------------------------------------


def uptime_probes() -> str:
    """Every minute: probe the checks that are due, at once; once a day's worth, drop old results."""
    probed = uptime.run_due()
    expired = uptime.expire_results()
    down = [p["check"] for p in probed if p["state"] == "down"]
    return f"{len(probed)} probed, {len(down)} down{': ' + ', '.join(down) if down else ''}, {expired} expired"
