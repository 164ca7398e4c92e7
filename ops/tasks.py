"""What django-q2 runs for the ops app; each task calls one service function."""

from . import security_scan as security_scan_module

# --- security scan ------------------------------------------------------------------------------------


def security_scan() -> str:
    """The weekly security scan (the schedule and `manage.py security_scan` alike)."""
    return security_scan_module.summary(security_scan_module.run_scan())
