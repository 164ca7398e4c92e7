"""The operator's `tail -f`: one NDJSON event file per feature and one JSON status snapshot each.

An event line goes out in a single `write()` on a file opened with O_APPEND, so lines from several
processes never interleave. The write holds a shared lock on the file and first checks that the
path still names the file it opened: log rotation renames a file under an exclusive lock, so a line
is never written into a file already rotated away (it goes to the new one).

A snapshot is written to a temporary file and renamed into place, so a reader never sees half of one.
"""

import fcntl
import os
import tempfile
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

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


def _default(value):
    # Decimals, dates and model enums show up in event payloads; give them a readable form.
    return str(value)


def dumps(data) -> bytes:
    return orjson.dumps(data, default=_default, option=_JSON_OPTIONS)


def append_event(feature: str, event: str, **fields) -> dict:
    """Append one event line to `<LOG_DIR>/<feature>.ndjson` and return what was written."""
    record = {"ts": timezone.now().isoformat(), "event": event, **fields}
    append_line(log_dir() / f"{feature}.ndjson", dumps(record) + b"\n")
    return record


def append_line(path: Path, line: bytes) -> None:
    """Append `line` to `path` in one write, into the file the path names at that moment."""
    for _ in range(ROTATION_RETRIES):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _still_named(path, fd):
                os.write(fd, line)
                return
        finally:
            os.close(fd)  # and with it the lock
    raise OSError(f"{path} was rotated away {ROTATION_RETRIES} times while writing one line")


def _still_named(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def write_snapshot(name: str, data) -> Path:
    """Atomically replace `<LOG_DIR>/<name>` with `data` as indented JSON."""
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


def read_snapshot(name: str):
    """The last snapshot written under `name`, or None."""
    try:
        return orjson.loads((log_dir() / name).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
