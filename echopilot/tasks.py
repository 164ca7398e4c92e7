"""What django-q2 runs for the kernel; the same functions back its manage.py commands."""

from . import housekeeping


def prune_tick() -> dict[str, int]:
    """Daily: delete what has outlived its retention setting, in every app (see housekeeping.py),
    and keep the run as the console_prune job run."""
    return housekeeping.run_prune()
