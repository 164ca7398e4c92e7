"""A manage.py command at 3 a.m. prints what the operator asked for, not Django's start-up warnings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_apps_queries_no_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SQLITE_PATH=str(tmp_path / "db.sqlite3"), LOG_DIR=str(tmp_path / "logs"))
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Accessing the database during app initialization" not in result.stderr
    assert "RuntimeWarning" not in result.stderr


def test_a_command_piped_into_a_reader_that_stops_early_ends_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SQLITE_PATH=str(tmp_path / "db.sqlite3"), LOG_DIR=str(tmp_path / "logs"))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    read_end, write_end = os.pipe()
    os.close(read_end)  # what `| head -1` has done by the time the command prints
    with os.fdopen(write_end, "w") as pipe:
        result = subprocess.run(
            [sys.executable, "manage.py", "dashkey", "list"],
            cwd=ROOT,
            env=env,
            stdout=pipe,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
