"""`manage.py slo_ingest`: NDJSON access logs into the rollups, each line counted exactly once.

The offset into each file is stored in the same transaction as the metrics read up to it, so a
crash or a rerun never counts a line twice. A file whose inode changed (rotated), whose first line
changed (replaced) or that got shorter than the offset (truncated) is read again from the start.
"""

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from . import ingest
from .models import IngestCursor

CHUNK_BYTES = 16 * 1024 * 1024
HEAD_BYTES = 4096


@dataclass
class FileRun:
    path: str
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    restarted: str = ""
    offset: int = 0
    size: int = 0
    problems: dict = field(default_factory=dict)
    seen: tuple = (0, 0)  # the cursor's (offset, inode) in the database when we last wrote or read it


def head_hash(handle) -> str:
    """Hash of the first line (or first 4 KiB): tells a replaced file from a grown one."""
    handle.seek(0)
    head = handle.readline(HEAD_BYTES)
    if not head.endswith(b"\n") and len(head) < HEAD_BYTES:
        return ""  # the first line is still being written
    return hashlib.sha256(head).hexdigest()


def _start_offset(cursor: IngestCursor, handle, stat) -> tuple[int, str, str]:
    head = head_hash(handle)
    if cursor.offset == 0:
        return 0, head, ""
    if cursor.inode != stat.st_ino:
        return 0, head, "rotated (new inode)"
    if stat.st_size < cursor.offset:
        return 0, head, "truncated"
    if cursor.head and head != cursor.head:
        return 0, head, "replaced (first line changed)"
    return cursor.offset, head, ""


def ingest_file(path, *, service: str | None = None, now=None, progress=None, handle=None) -> FileRun:
    """Read `path` from its stored offset to the last complete line; returns what was read.

    `progress(run)` is called after each chunk. Pass an open `handle` to finish a file that has
    been rotated away under the same cursor (follow mode).
    """
    path = str(Path(path).resolve())
    cursor, _ = IngestCursor.objects.get_or_create(path=path)
    seen = (cursor.offset, cursor.inode)
    own = handle is None
    handle = handle or open(path, "rb")
    try:
        stat = os.fstat(handle.fileno())
        offset, head, restarted = _start_offset(cursor, handle, stat) if own else (cursor.offset, cursor.head, "")
        if restarted or (own and cursor.inode != stat.st_ino):
            cursor.inode, cursor.head, cursor.offset, cursor.lines = stat.st_ino, head, 0, 0
        elif not cursor.head:
            cursor.head = head
        run = FileRun(path=path, restarted=restarted, offset=offset, size=stat.st_size, seen=seen)
        handle.seek(offset)
        while _read_chunk(handle, cursor, run, service, now):
            if progress:
                progress(run)
        return run
    finally:
        if own:
            handle.close()


def forget(path) -> int:
    """Forget how far `path` was read, so the next run reads it from its first line again (its
    samples are counted again: for a database that lost them, or after a rebaseline). Returns the
    number of lines that had been counted."""
    cursor = committed(path)
    if cursor is None:
        return 0
    IngestCursor.objects.filter(pk=cursor.pk).update(offset=0, lines=0, head="")
    return cursor.lines


def committed(path) -> IngestCursor | None:
    """The stored cursor of `path`: how many of its lines are counted, where a rerun resumes."""
    return IngestCursor.objects.filter(path=str(Path(path).resolve())).first()


def _read_chunk(handle, cursor: IngestCursor, run: FileRun, service, now) -> bool:
    data = handle.read(CHUNK_BYTES)
    cut = data.rfind(b"\n") + 1
    if cut == 0 and len(data) == CHUNK_BYTES:
        return _skip_huge_line(handle, cursor, run)
    if cut == 0:
        return False  # nothing complete yet; an unfinished last line waits for its newline
    handle.seek(run.offset + cut)
    body = data[:cut]
    first_line = cursor.lines + 1
    samples, problems = ingest.parse_lenient(body, service=service, now=now, first_line=first_line)
    counted = body.count(b"\n")
    with transaction.atomic():
        if not _still_ours(cursor, run):
            return False
        if samples is not None:
            ingest.ingest(samples)
        run.offset += cut
        cursor.offset, cursor.lines = run.offset, cursor.lines + counted
        cursor.rejected += len(problems)
        cursor.save()
        run.seen = (cursor.offset, cursor.inode)
    run.lines += counted
    run.accepted += len(samples) if samples is not None else 0
    run.rejected += len(problems)
    for label, problem in list(problems.items())[: 20 - len(run.problems)]:
        run.problems[label] = problem
    return True


def _still_ours(cursor: IngestCursor, run: FileRun) -> bool:
    """Lock the cursor; False when another reader moved it since we looked (it counted those lines)."""
    current = IngestCursor.objects.select_for_update().values_list("offset", "inode").get(pk=cursor.pk)
    return tuple(current) == run.seen


def _skip_huge_line(handle, cursor: IngestCursor, run: FileRun) -> bool:
    """A "line" longer than a chunk is not an access log line: step over it and count it rejected."""
    skipped = CHUNK_BYTES
    while True:
        data = handle.read(CHUNK_BYTES)
        end = data.find(b"\n")
        if end >= 0:
            skipped += end + 1
            break
        if len(data) < CHUNK_BYTES:
            return False  # no newline yet: wait for the rest
        skipped += len(data)
    with transaction.atomic():
        if not _still_ours(cursor, run):
            return False
        run.offset += skipped
        handle.seek(run.offset)
        cursor.offset, cursor.lines, cursor.rejected = run.offset, cursor.lines + 1, cursor.rejected + 1
        cursor.save()
        run.seen = (cursor.offset, cursor.inode)
    run.lines += 1
    run.rejected += 1
    run.problems.setdefault(f"line {cursor.lines}", f"longer than {CHUNK_BYTES} bytes, skipped")
    return True


def follow(path, *, service=None, interval=1.0, progress=None, stop=lambda: False) -> None:
    """Keep reading `path` as it grows; on rotation, finish the old file, then read the new one."""
    path = str(Path(path).resolve())
    handle = None  # the file as we last saw it, kept open so a rotated-away tail is still readable
    try:
        while not stop():
            if handle is not None and _rotated(path, handle):
                ingest_file(path, service=service, progress=progress, handle=handle)
                handle.close()
                handle = None
            if os.path.exists(path):
                ingest_file(path, service=service, progress=progress)
                handle = handle or open(path, "rb")
            time.sleep(interval)
    finally:
        if handle is not None:
            handle.close()


def _rotated(path: str, handle) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return True
