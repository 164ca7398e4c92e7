"""The operator's `tail -f`: one NDJSON event file per feature and one JSON status snapshot each.

An event line goes out in a single `write()` on a file opened with O_APPEND, so lines from several
processes never interleave. A snapshot is written to a temporary file and renamed into place, so a
reader never sees half of one.
"""

import os
import tempfile
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


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
    line = dumps(record) + b"\n"
    fd = os.open(log_dir() / f"{feature}.ndjson", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return record


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
