"""PostgreSQL's own tools for backups and drills: pg_dump / pg_restore run with the console's
connection settings passed through libpq's environment (a password never appears in argv)."""

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql


class ToolFailed(RuntimeError):
    """pg_dump or pg_restore exited non-zero; the message is its stderr's first lines."""


def binary(tool: str) -> str:
    """Where `tool` lives: PG_BIN_DIR, then PATH, then the newest /usr/lib/postgresql/*/bin."""
    if settings.PG_BIN_DIR:
        return str(Path(settings.PG_BIN_DIR) / tool)
    found = shutil.which(tool)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise ToolFailed(f"{tool} not found: install the PostgreSQL client or set PG_BIN_DIR")
    return versions[-1]


def connect_kwargs(dbname: str | None = None) -> dict:
    """psycopg.connect() arguments for the console's database (or `dbname` on the same server)."""
    params = connection.settings_dict
    kwargs = {
        "dbname": dbname or params["NAME"],
        "user": params.get("USER") or None,
        "password": params.get("PASSWORD") or None,
        "host": params.get("HOST") or None,
        "port": params.get("PORT") or None,
    }
    return {key: value for key, value in kwargs.items() if value is not None}


def _libpq_env(dbname: str | None) -> dict:
    names = {"dbname": "PGDATABASE", "user": "PGUSER", "password": "PGPASSWORD", "host": "PGHOST", "port": "PGPORT"}
    env = dict(os.environ)
    env.update({names[key]: str(value) for key, value in connect_kwargs(dbname).items()})
    return env


def run(tool: str, *args: str, dbname: str | None = None) -> None:
    """Run pg_dump / pg_restore against the console's database (or `dbname`)."""
    done = subprocess.run([binary(tool), *args], env=_libpq_env(dbname), capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()[:3]
        raise ToolFailed(f"{tool} exited {done.returncode}: {' | '.join(lines)}")


def row_counts(db: psycopg.Connection) -> dict[str, int]:
    """Rows per table of the public schema, in `db`'s current transaction."""
    tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    return {table: scalar(db, sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table))) for table in tables}


def scalar(db: psycopg.Connection, query) -> Any:
    """The one value a query answers."""
    row = db.execute(query).fetchone()
    if row is None:
        raise psycopg.DataError(f"no row from {query!r}")
    return row[0]


def create_database(name: str) -> None:
    with psycopg.connect(**connect_kwargs("postgres"), autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with psycopg.connect(**connect_kwargs("postgres"), autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
