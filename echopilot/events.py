"""The operator's `tail -f`: one NDJSON event file per feature and one JSON status snapshot each.

An event line goes out in a single `write()` on a file opened with O_APPEND, so lines from several
processes never interleave. The write holds a shared lock on the file and first checks that the
path still names the file it opened: log rotation renames a file under an exclusive lock, so a line
is never written into a file already rotated away (it goes to the new one).

A snapshot is written to a temporary file and renamed into place, so a reader never sees half of one.

The database is the source of truth and these files are written after its commit: a write that
fails (the disk is full, LOG_DIR unwritable) is logged and counted in
`echopilot_log_write_failures_total`, and never changes what the caller answers. Readiness reports
such a LOG_DIR (the `log_dir` health check).
"""

import fcntl
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone
from prometheus_client import Counter

log = logging.getLogger(__name__)
WRITE_FAILURES = Counter(
    "echopilot_log_write_failures_total",
    "Event lines and snapshots that could not be written under LOG_DIR (the database holds the data)",
    ["file"],
)
PROBE = ".write-probe"

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS
ROTATION_RETRIES = 20


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: done once, at import, before any thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def log_dir() -> Path:
    path = Path(settings.LOG_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _default(value) -> str:
    # Decimals, dates and model enums show up in event payloads; give them a readable form.
    return str(value)


def dumps(data) -> bytes:
    return orjson.dumps(data, default=_default, option=_JSON_OPTIONS)


def append_event(feature: str, event: str, **fields) -> dict:
    """Append one event line to `<LOG_DIR>/<feature>.ndjson` and return the record. A write that
    fails is logged and counted, not raised: the caller's work is committed already."""
    record = {"ts": timezone.now().isoformat(), "event": event, **fields}
    name = f"{feature}.ndjson"
    try:
        append_line(log_dir() / name, dumps(record) + b"\n")
    except OSError as exc:
        _write_failed(name, exc)
    return record


def append_line(path: Path, line: bytes) -> None:
    """Append `line` to `path` in one write, into the file the path names at that moment."""
    for _ in range(ROTATION_RETRIES):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _still_named(path, fd):
                if os.write(fd, line) != len(line):  # a full disk may take part of a line
                    raise OSError(28, "short write (the disk is full)")
                return
        finally:
            os.close(fd)  # and with it the lock
    raise OSError(f"{path} was rotated away {ROTATION_RETRIES} times while writing one line")


def _still_named(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _write_failed(name: str, exc: OSError) -> None:
    WRITE_FAILURES.labels(name).inc()
    log.error("could not write %s under LOG_DIR (%s); the database holds the data", name, exc.strerror or exc)


def write_snapshot(name: str, data) -> Path | None:
    """Atomically replace `<LOG_DIR>/<name>` with `data` as indented JSON; its path, or None when the
    disk refused it (logged and counted; the previous snapshot stays)."""
    try:
        return _write_snapshot(name, data)
    except OSError as exc:
        _write_failed(name, exc)
        return None


def _write_snapshot(name: str, data) -> Path:
    target = log_dir() / name
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a snapshot is as readable as the event files beside it.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(data, default=_default, option=_JSON_OPTIONS | orjson.OPT_INDENT_2))
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def read_snapshot(name: str) -> Any:
    """The last snapshot written under `name`, or None."""
    try:
        return orjson.loads((log_dir() / name).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def log_dir_problem() -> str | None:
    """Why LOG_DIR cannot take a write now (full, read-only, missing and not creatable), or None. A
    real write of a few bytes: free space alone says nothing of permissions or a read-only mount."""
    try:
        path = log_dir()
        fd = os.open(path / PROBE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if os.write(fd, b"ok\n") != 3:
                raise OSError(28, "short write (the disk is full)")
        finally:
            os.close(fd)
    except OSError as exc:
        return f"LOG_DIR {settings.LOG_DIR} is not writable: {exc.strerror or exc}"
    return None
