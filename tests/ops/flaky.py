"""Task functions the qcluster of the recovery tests runs (importable from the repository root)."""

from pathlib import Path


def fails_the_first_time(marker: str) -> str:
    """Raises on its first run (the marker file does not exist yet), succeeds on any later one."""
    path = Path(marker)
    if not path.exists():
        path.write_text("ran once")
        raise RuntimeError("first run fails on purpose")
    return "succeeded on a later run"
