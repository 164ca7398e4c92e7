"""What django-q2 runs for the kernel; the same functions back its manage.py commands."""

from . import retention


def prune_tick() -> dict[str, int]:
    """Daily: delete what has outlived its retention setting, in every app (see retention.py)."""
    return retention.prune_all()
