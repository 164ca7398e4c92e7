"""Daily log rotation: each NDJSON file under LOG_DIR that holds a line from before today (UTC) is
moved aside and compressed to `<name>-<date of its first line>.ndjson.gz`; rotated files older
than LOG_KEEP_DAYS are deleted.

No line is lost or written twice while writers append: the file is renamed under an exclusive lock,
and `echopilot.events` writes under a shared lock into the file the path names (a writer that
opened the old file before the rename finds it renamed and writes to the new one). The pager's
saved offsets stay right: it reads the file up to the rename, then the rest of the renamed copy
(incidents.consumer's `<name>.1` convention) before that copy is compressed, so it neither replays
nor skips a line.
"""

import fcntl
import gzip
import os
import re
import shutil
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

from echopilot.events import log_dir
from incidents import consumer
from incidents.models import FileOffset

ROTATED = re.compile(r"^(?P<stem>.+)-(?P<day>\d{4}-\d{2}-\d{2})(?:-\d+)?\.ndjson\.gz$")


def rotate_logs(now=None) -> dict:
    """Rotate every NDJSON file due, delete rotated files past LOG_KEEP_DAYS; the job result."""
    now = now or timezone.now()
    today = now.astimezone(dt_timezone.utc).date()
    rotated = []
    for path in sorted(log_dir().glob("*.ndjson")):
        first_day = first_line_day(path)
        if first_day is not None and first_day < today:
            rotated.append(rotate_file(path, first_day).name)
    leftovers = [finish_rotation(p, _day_of(p)).name for p in sorted(log_dir().glob("*.ndjson.1"))]
    deleted = prune_rotated(today)
    summary = (
        f"rotated {len(rotated + leftovers)} file(s), deleted {len(deleted)} older than {settings.LOG_KEEP_DAYS} days"
    )
    return {"ok": True, "summary": summary, "rotated": rotated + leftovers, "deleted": deleted}


def first_line_day(path: Path) -> date | None:
    """The UTC day of the file's first line (its `ts`), or of its last change when the first line has
    none; None for an empty file."""
    with open(path, "rb") as handle:
        first = handle.readline(64 * 1024)
    if not first.strip():
        return None
    try:
        ts = orjson.loads(first).get("ts")
        return datetime.fromisoformat(ts).astimezone(dt_timezone.utc).date()
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return datetime.fromtimestamp(path.stat().st_mtime, dt_timezone.utc).date()


def rotate_file(path: Path, day: date) -> Path:
    """Move `path` aside, let the pager finish reading it, compress it; returns the .gz."""
    _drain_pager(path)  # so the pager has an offset to carry across the rename
    aside = path.with_name(path.name + ".1")
    fd = os.open(path, os.O_RDONLY)
    try:
        # Writers hold a shared lock while they write: once this is granted nobody is mid-line, and
        # any writer still holding the old file finds it renamed when it gets its lock.
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(path, aside)
    finally:
        os.close(fd)
    return finish_rotation(aside, day)


def finish_rotation(aside: Path, day: date) -> Path:
    """Compress a moved-aside `<name>.ndjson.1` (also one a crash left behind) and delete it."""
    live = aside.with_name(aside.name.removesuffix(".1"))
    _drain_pager(live)
    target = _gzip_path(live, day)
    partial = target.with_name(target.name + ".partial")
    with open(aside, "rb") as source, gzip.open(partial, "wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    os.replace(partial, target)
    aside.unlink()
    return target


def _drain_pager(live: Path) -> None:
    """Let the pager read `live` up to its end (it reads at most 8 MB a run, so several runs may be
    needed); the console's own event files it does not read at all (consumer.OWN_FILES)."""
    if live.name in consumer.OWN_FILES:
        return
    before = None
    while True:
        consumer.consume_file(live)
        offset = FileOffset.objects.filter(path=str(live)).values_list("offset", flat=True).first()
        if offset is None or offset == before or not live.exists() or offset >= live.stat().st_size:
            return
        before = offset


def _gzip_path(live: Path, day: date) -> Path:
    stem = live.name.removesuffix(".ndjson")
    target, n = live.with_name(f"{stem}-{day.isoformat()}.ndjson.gz"), 1
    while target.exists():
        n += 1
        target = live.with_name(f"{stem}-{day.isoformat()}-{n}.ndjson.gz")
    return target


def _day_of(aside: Path) -> date:
    return first_line_day(aside) or timezone.now().date()


def prune_rotated(today: date) -> list[str]:
    """Delete rotated files whose day is more than LOG_KEEP_DAYS before today."""
    cutoff = today - timedelta(days=settings.LOG_KEEP_DAYS)
    deleted = []
    for path in sorted(log_dir().glob("*.ndjson.gz")):
        match = ROTATED.match(path.name)
        if match and date.fromisoformat(match.group("day")) < cutoff:
            path.unlink()
            deleted.append(path.name)
    return deleted


def read_rotated(path: Path) -> bytes:
    """A rotated file's lines (for tests and for an operator's script)."""
    return gzip.decompress(path.read_bytes())
