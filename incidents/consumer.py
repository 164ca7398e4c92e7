"""The pager reads the NDJSON event files other processes write (LOG_DIR/*.ndjson).

A line whose `sev`, `severity` or `level` is CRITICAL becomes an incident. Each file's offset is
persisted per host (LOG_READER_HOST: hosts may each keep their own LOG_DIR at one path) with the
file's inode and a hash of its first line, so nothing is read twice, and a
rotated (new inode, new first line) or truncated (shorter than the offset) file is read from its
start. When a file was rotated by renaming, the rest of the old file (`<name>.1`) is read first.
"""

import hashlib
import logging
from pathlib import Path

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from echopilot.events import log_dir

from .models import FileOffset
from .services import json_without_nul, raise_incident

log = logging.getLogger(__name__)

# The console's own event files (DESIGN.md, "Files it writes"): what they record was reported to the
# inbox directly, so reading them back would raise every CRITICAL twice (and our page events, which
# say sev=CRITICAL, would page forever). Named here rather than recognised by their lines, because
# other processes may write lines of the same shape; a new feature file is added to this list.
OWN_FILES = {"incidents.ndjson", "slo_budget.ndjson", "portal_access.ndjson", "costs.ndjson", "autoscale.ndjson"}
# The upkeep jobs' files (backups, drills, rotation, audit and key checks, retention): a failed run
# pages directly, its line is the operator's record.
OWN_FILES |= {
    "backup.ndjson",
    "backup_verify.ndjson",
    "dr_drill.ndjson",
    "log_rotation.ndjson",
    "audit_verify.ndjson",
    "dashkey_check.ndjson",
    "analytics.ndjson",
}
MAX_BYTES_PER_RUN = 8 * 1024 * 1024
SEVERITY_KEYS = ("sev", "severity", "level")


def consume_logs(directory=None, now=None) -> dict:
    """Read every NDJSON file in LOG_DIR from its saved offset; returns {file name: incidents raised}."""
    directory = Path(directory or log_dir())
    raised = {}
    for path in sorted(directory.glob("*.ndjson")):
        if path.name in OWN_FILES:
            continue
        try:
            raised[path.name] = consume_file(path, now=now)
        except OSError as exc:  # one unreadable file must not stop the others (or the rest of the tick)
            log.warning("could not read %s: %s", path, exc)
    return raised


def consume_file(path: Path, now=None) -> int:
    """Raise incidents for the CRITICAL lines of `path` not read before; returns how many lines raised."""
    now = now or timezone.now()
    host = settings.LOG_READER_HOST
    with transaction.atomic():
        _adopt_offset_of_no_host(host, str(path))
        FileOffset.objects.get_or_create(host=host, path=str(path))
        # Locked, so two pagers running at once never both read the same bytes.
        state = FileOffset.objects.select_for_update().get(host=host, path=str(path))
        raised = 0
        if _rotated(path, state):
            raised += _finish_rotated(path, state, now)
            state.offset, state.inode, state.head = 0, 0, ""
        try:
            stat = path.stat()
        except FileNotFoundError:
            state.save()
            return raised
        head = _head_hash(path)
        if stat.st_ino != state.inode or head != state.head or stat.st_size < state.offset:
            state.offset = 0
        offset, lines = _read_lines(path, state.offset)
        if not head and offset:
            # The first line was still being written when its hash was taken and is complete now (we
            # read past it): keep its hash, or the next run would take the file for a new one and
            # read it again from the start.
            head = _head_of_same_file(path, stat.st_ino)
        raised += sum(_raise_line(line, path.stem, now) for line in lines)
        state.offset, state.inode, state.head, state.updated_at = offset, stat.st_ino, head, now
        state.save()
    return raised


def _adopt_offset_of_no_host(host: str, path: str) -> None:
    # Offsets kept before hosts were told apart have no host: the first host to read the path goes
    # on from there rather than reading (and paging) the whole file again.
    if not FileOffset.objects.filter(host=host, path=path).exists():
        FileOffset.objects.filter(host="", path=path).update(host=host)


def _rotated(path: Path, state: FileOffset) -> bool:
    if not state.inode:
        return False
    try:
        stat = path.stat()
    except FileNotFoundError:
        return True
    return stat.st_ino != state.inode


def _finish_rotated(path: Path, state: FileOffset, now) -> int:
    """Read what was appended to the old file after our last run, if it was renamed to `<name>.1`."""
    old = path.with_name(path.name + ".1")
    try:
        if old.stat().st_ino != state.inode or _head_hash(old) != state.head:
            return 0
    except FileNotFoundError:
        return 0
    _, lines = _read_lines(old, state.offset)
    return sum(_raise_line(line, path.stem, now) for line in lines)


def _head_of_same_file(path: Path, inode: int) -> str:
    """The head hash of `path` while it is still the file `inode` (a rotation may rename it meanwhile)."""
    try:
        return _head_hash(path) if path.stat().st_ino == inode else ""
    except FileNotFoundError:
        return ""


def _head_hash(path: Path) -> str:
    with open(path, "rb") as handle:
        first = handle.readline(4096)
    return hashlib.sha256(first).hexdigest() if first.endswith(b"\n") else ""


def _read_lines(path: Path, offset: int) -> tuple[int, list[bytes]]:
    """Complete lines from `offset` (a half-written last line waits for the next run) and the new offset.

    A line longer than a run's read is skipped with a warning: waiting for its end would hold the
    file's offset, and every CRITICAL line after it, forever.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(MAX_BYTES_PER_RUN)
        while len(chunk) == MAX_BYTES_PER_RUN and b"\n" not in chunk:
            rest = _bytes_to_line_end(handle)
            if rest is None:
                return offset, []
            log.warning("%s: skipped a line of more than %d bytes at offset %d", path.name, MAX_BYTES_PER_RUN, offset)
            offset += len(chunk) + rest
            handle.seek(offset)
            chunk = handle.read(MAX_BYTES_PER_RUN)
    end = chunk.rfind(b"\n")
    if end < 0:
        return offset, []
    return offset + end + 1, chunk[: end + 1].splitlines()


def _bytes_to_line_end(handle) -> int | None:
    """How many bytes from the handle's position to just past the next newline; None if none yet."""
    counted = 0
    while True:
        data = handle.read(MAX_BYTES_PER_RUN)
        end = data.find(b"\n")
        if end >= 0:
            return counted + end + 1
        if len(data) < MAX_BYTES_PER_RUN:
            return None
        counted += len(data)


def _raise_line(line: bytes, stem: str, now) -> int:
    try:
        # PostgreSQL stores no NUL; the line still pages, with U+FFFD in its place.
        record = orjson.loads(json_without_nul(line))
    except orjson.JSONDecodeError:
        return 0
    if not isinstance(record, dict) or not _is_critical(record):
        return 0
    msg = record.get("msg") or record.get("message") or record.get("summary") or record.get("event") or "critical event"
    source = str(record.get("source") or record.get("service") or stem)
    fingerprint = record.get("fingerprint") or record.get("dedup_key")
    fingerprint = str(fingerprint) if fingerprint else None
    try:
        raise_incident("CRITICAL", str(msg), source, record, fingerprint=fingerprint, now=now)
    except ValidationError as exc:
        # A line orjson reads but cannot write back (nested past 254 levels) still pages, with the
        # line's start as its meta: skipping it would drop a page, failing would stop the pager.
        why = " ".join(exc.messages)
        log.warning("%s: a CRITICAL line's fields cannot be stored (%s); paging with its text", stem, why)
        meta = {"line": line[:2000].decode(errors="replace"), "unstored": why}
        raise_incident("CRITICAL", str(msg), source, meta, fingerprint=fingerprint, now=now)
    return 1


def _is_critical(record: dict) -> bool:
    return any(str(record.get(key, "")).strip().upper() == "CRITICAL" for key in SEVERITY_KEYS)
