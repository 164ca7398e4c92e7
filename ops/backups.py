"""Backups: one tar.gz under BACKUP_DIR holding a consistent snapshot of the database and LOG_DIR,
with a manifest (SHA-256 of every member, the migration state, row counts per table) and a
`<archive>.sha256` file beside it in `sha256sum -c` form.

The snapshot is consistent while the console serves: SQLite through its online backup API, which
copies one read transaction's view; PostgreSQL through `pg_dump --snapshot` of an exported
REPEATABLE READ snapshot, the same one the row counts are taken in.
"""

import hashlib
import io
import re
import shlex
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import orjson
import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from . import pgtools
from .models import Backup

MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/db.sqlite3"
PG_MEMBER = "database/db.dump"
NAME_PATTERN = re.compile(r"^echopilot-(\d{8}-\d{6})Z(?:-(\d+))?\.tar\.gz$")
CHUNK = 1024 * 1024


@dataclass
class Snapshot:
    """What a backup holds besides the files: taken in the same view of the database as the dump."""

    engine: str
    member: str
    path: Path
    migrations: list[list[str]] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)


def backup_dir() -> Path:
    path = Path(settings.BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def archive_path(now) -> Path:
    """A new archive's path: its UTC time, and -2, -3... for a second backup within the same second."""
    stem = f"echopilot-{now.astimezone(dt_timezone.utc):%Y%m%d-%H%M%S}Z"
    target, n = backup_dir() / f"{stem}.tar.gz", 1
    while target.exists() or Path(f"{target}.partial").exists():
        n += 1
        target = backup_dir() / f"{stem}-{n}.tar.gz"
    return target


def _order(path: Path) -> tuple:
    match = NAME_PATTERN.match(path.name)
    return (match.group(1), int(match.group(2) or 1)) if match else ("", 0)


def taken_at(name: str) -> datetime | None:
    """The time in an archive's name, or None for a file that is not one of ours."""
    match = NAME_PATTERN.match(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=dt_timezone.utc)


def kept_archives() -> list[Path]:
    """Our archives under BACKUP_DIR, oldest first."""
    return sorted((p for p in backup_dir().iterdir() if taken_at(p.name)), key=_order)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- taking a backup ---------------------------------------------------------------------------------


def take_backup(now=None) -> dict:
    """Write one archive of the database and LOG_DIR; prune archives past BACKUP_KEEP_DAYS; run
    BACKUP_UPLOAD_COMMAND. Returns the job result (`ok` is false when the upload failed)."""
    now = now or timezone.now()
    target = archive_path(now)
    with tempfile.TemporaryDirectory(prefix="echopilot-backup-") as scratch:
        snapshot = snapshot_database(Path(scratch))
        manifest = write_archive(target, snapshot, now)
    digest = sha256_of(target)
    _write_checksum_file(target, digest)
    row = Backup.objects.create(
        name=target.name,
        created=now,
        engine=snapshot.engine,
        size_bytes=target.stat().st_size,
        sha256=digest,
        tables=len(snapshot.row_counts),
        rows=sum(snapshot.row_counts.values()),
    )
    pruned = prune_backups(now)
    upload = upload_backup(target)
    if upload is not None:
        Backup.objects.filter(pk=row.pk).update(uploaded=upload["ok"])
    result = {
        "ok": upload is None or upload["ok"],
        "summary": f"{target.name}: {row.size_bytes:,} bytes, {row.tables} tables, {row.rows:,} rows",
        "archive": str(target),
        "sha256": digest,
        "files": len(manifest["files"]),
        "pruned": pruned,
        "upload": upload,
    }
    if upload is not None and not upload["ok"]:
        result["summary"] = f"{target.name} written, but the upload failed: {upload['error']}"
    return result


def snapshot_database(scratch: Path) -> Snapshot:
    """A consistent copy of the live database in `scratch`, with its migrations and row counts."""
    if settings.USING_POSTGRES:
        return _snapshot_postgres(scratch)
    return _snapshot_sqlite(scratch)


def _snapshot_sqlite(scratch: Path) -> Snapshot:
    path = scratch / "db.sqlite3"
    connection.ensure_connection()
    copy_sqlite(connection.connection, path)
    snapshot = Snapshot("sqlite", SQLITE_MEMBER, path)
    with closing_sqlite(path) as copy:
        snapshot.migrations = [list(row) for row in copy.execute("SELECT app, name FROM django_migrations ORDER BY id")]
        snapshot.row_counts = sqlite_row_counts(copy)
    return snapshot


def copy_sqlite(source: sqlite3.Connection, path: Path) -> None:
    """Copy `source` into a new file with the online backup API, in one step: one read transaction,
    so writers that commit meanwhile are either wholly in the copy or wholly out of it."""
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()


@contextmanager
def closing_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
    finally:
        db.close()


def sqlite_row_counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


def _snapshot_postgres(scratch: Path) -> Snapshot:
    path = scratch / "db.dump"
    snapshot = Snapshot("postgresql", PG_MEMBER, path)
    with psycopg.connect(**pgtools.connect_kwargs(), autocommit=False) as db:
        db.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        db.read_only = True
        exported = pgtools.scalar(db, "SELECT pg_export_snapshot()")
        snapshot.migrations = [list(r) for r in db.execute("SELECT app, name FROM django_migrations ORDER BY id")]
        snapshot.row_counts = pgtools.row_counts(db)
        # The exported snapshot lives while this transaction is open: pg_dump sees exactly it.
        pgtools.run("pg_dump", "--format=custom", f"--snapshot={exported}", "--no-owner", f"--file={path}")
    return snapshot


def write_archive(target: Path, snapshot: Snapshot, now) -> dict:
    """The tar.gz: the database copy, LOG_DIR's files, and the manifest written last."""
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:gz") as archive:
        _add_file(archive, snapshot.path, snapshot.member, files, sizes)
        for path in _log_files():
            _add_file(archive, path, f"logs/{path.relative_to(settings.LOG_DIR)}", files, sizes)
        manifest = {
            "format": 1,
            "created": now.isoformat(),
            "engine": snapshot.engine,
            "database": snapshot.member,
            "files": files,
            "sizes": sizes,
            "migrations": snapshot.migrations,
            "row_counts": snapshot.row_counts,
        }
        data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(data), int(now.timestamp())
        archive.addfile(info, io.BytesIO(data))
    # Renamed only when complete: a crash mid-write leaves a .partial, never a short archive.
    partial.rename(target)
    return manifest


def _log_files() -> list[Path]:
    root = Path(settings.LOG_DIR)
    if not root.is_dir():
        return []
    skip = Path(settings.BACKUP_DIR).resolve()
    return sorted(p for p in root.rglob("*") if p.is_file() and skip not in p.resolve().parents)


def _add_file(archive: tarfile.TarFile, path: Path, member: str, files: dict, sizes: dict) -> None:
    # Read once into memory-sized chunks through a hashing reader: the checksum is of exactly the
    # bytes archived, even when a log file grows while it is read.
    with open(path, "rb") as handle:
        size = path.stat().st_size
        digest = hashlib.sha256()
        info = tarfile.TarInfo(member)
        info.size, info.mtime = size, int(path.stat().st_mtime)
        archive.addfile(info, _HashingReader(handle, digest, size))
    files[member], sizes[member] = digest.hexdigest(), size


class _HashingReader:
    def __init__(self, handle, digest, limit: int) -> None:
        self.handle, self.digest, self.left = handle, digest, limit

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        self.digest.update(data)
        return data


def _write_checksum_file(target: Path, digest: str) -> None:
    Path(f"{target}.sha256").write_text(f"{digest}  {target.name}\n")


def prune_backups(now) -> list[str]:
    """Delete archives (and their .sha256) older than BACKUP_KEEP_DAYS; returns their names."""
    cutoff = now - timedelta(days=settings.BACKUP_KEEP_DAYS)
    pruned = []
    for path in kept_archives():
        when = taken_at(path.name)
        if when is not None and when < cutoff:
            path.unlink(missing_ok=True)
            Path(f"{path}.sha256").unlink(missing_ok=True)
            pruned.append(path.name)
    if pruned:
        Backup.objects.filter(name__in=pruned).update(deleted=now)
    return pruned


def upload_backup(path: Path) -> dict | None:
    """Run BACKUP_UPLOAD_COMMAND for `path`; None when none is set. The command line itself is never
    logged (it may carry a credential); its exit status and the first line of its stderr are."""
    template = settings.BACKUP_UPLOAD_COMMAND.strip()
    if not template:
        return None
    argv = [part.format(path=str(path), name=path.name) for part in shlex.split(template)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=settings.BACKUP_UPLOAD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ok": False, "error": type(exc).__name__ if isinstance(exc, subprocess.TimeoutExpired) else str(exc)}
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or [""])[0][:300]
        return {"ok": False, "error": f"exit status {done.returncode}: {first}".rstrip(": ")}
    return {"ok": True, "error": ""}


# --- verifying ---------------------------------------------------------------------------------------


def verify_archive(path: Path) -> list[str]:
    """Every problem with one archive, each naming what is wrong: the archive against its .sha256,
    then each member against the manifest. An empty list means every checksum holds."""
    problems = []
    checksum_file = Path(f"{path}.sha256")
    if not checksum_file.exists():
        problems.append(f"{path.name}: no {checksum_file.name} beside it")
    else:
        expected = checksum_file.read_text().split()[0] if checksum_file.read_text().strip() else ""
        actual = sha256_of(path)
        if actual != expected:
            problems.append(f"{path.name}: SHA-256 {actual} does not match {checksum_file.name} ({expected})")
    problems += _member_problems(path)
    return problems


def _member_problems(path: Path) -> list[str]:
    problems = []
    member = MANIFEST
    try:
        with tarfile.open(path, "r:gz") as archive:
            manifest = read_manifest(archive)
            seen = set()
            for info in archive:
                member = info.name
                if member == MANIFEST:
                    continue
                seen.add(member)
                expected = manifest["files"].get(member)
                if expected is None:
                    problems.append(f"{path.name}: {member} is not in the manifest")
                    continue
                actual = _member_sha256(archive, info)
                if actual != expected:
                    problems.append(f"{path.name}: {member} SHA-256 {actual} does not match the manifest ({expected})")
            problems += [
                f"{path.name}: {m} is in the manifest but missing" for m in sorted(set(manifest["files"]) - seen)
            ]
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError, zlib.error) as exc:
        problems.append(f"{path.name}: unreadable at {member}: {type(exc).__name__}: {exc}")
    return problems


def read_manifest(archive: tarfile.TarFile) -> dict:
    handle = archive.extractfile(MANIFEST)
    if handle is None:
        raise KeyError(MANIFEST)
    return orjson.loads(handle.read())


def _member_sha256(archive: tarfile.TarFile, info: tarfile.TarInfo) -> str:
    digest = hashlib.sha256()
    handle = archive.extractfile(info)
    if handle is not None:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_backups(now=None) -> dict:
    """Check every checksum of every kept archive; the job result names each problem found."""
    now = now or timezone.now()
    results = {path.name: verify_archive(path) for path in kept_archives()}
    for name, problems in results.items():
        Backup.objects.filter(name=name).update(
            last_verified=now, verified_ok=not problems, verify_problem="\n".join(problems)
        )
    bad = {name: problems for name, problems in results.items() if problems}
    if not results:
        return {"ok": False, "summary": f"no backups under {backup_dir()}", "checked": 0, "problems": {}}
    summary = f"{len(results)} backup(s), every checksum holds"
    if bad:
        summary = "; ".join(problems[0] for problems in bad.values())
    return {"ok": not bad, "summary": summary, "checked": len(results), "problems": bad}


# --- extracting and checking before a restore -------------------------------------------------------


def open_verified(path: Path, scratch: Path) -> tuple[dict, Path]:
    """The manifest and the extracted database file of a sound archive; a ValidationError naming
    each problem otherwise (a restore never starts from a damaged backup)."""
    if not path.exists():
        raise ValidationError({"backup": f"{path} does not exist"})
    problems = verify_archive(path)
    if problems:
        raise ValidationError({"backup": problems})
    with tarfile.open(path, "r:gz") as archive:
        manifest = read_manifest(archive)
        database = archive.extractfile(manifest["database"])
        if database is None:
            raise ValidationError({"backup": f"{path.name}: no database in the archive"})
        target = scratch / Path(manifest["database"]).name
        with open(target, "wb") as out:
            shutil.copyfileobj(database, out, CHUNK)
    return manifest, target


def newer_migrations(manifest: dict) -> list[str]:
    """Migrations the backup's database had applied that this code does not have."""
    on_disk = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return [f"{app}.{name}" for app, name in manifest["migrations"] if (app, name) not in on_disk]


def latest_archive() -> Path | None:
    archives = kept_archives()
    return archives[-1] if archives else None
