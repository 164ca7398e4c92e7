#!/usr/bin/env python3
"""Set up and run the EchoPilot Ops Console, or its test suite, on a machine with nothing but Python.

    python3 dev.py start [--port 8000]   venv, requirements, migrate, schedules, admin key, demo data,
                                         then the web server (one gunicorn worker, 4 threads) and
                                         the task runner (manage.py qcluster_pool) until Ctrl-C
                         [--rotate-key]  revoke the admin key an earlier start made and print a new one
    python3 dev.py test                  venv, requirements, then the whole suite: SQLite, the slow
                                         stage, and PostgreSQL again when one is reachable

Uses only the standard library until the virtualenv exists, then re-runs itself inside it.
"""

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ROOT / "requirements.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/echopilot"
CHROMIUM = "/usr/bin/chromium"
ENV_FILE = ROOT / ".env"
ADMIN_KEY_NAME = "dev.py start"
CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"


def say(message: str) -> None:
    print(f"[echopilot] {message}", flush=True)


# --- the virtualenv ----------------------------------------------------------------------------------


def ensure_venv(requirements: Path) -> None:
    """Create .venv and install `requirements` when it (or requirements.txt) changed since the last install."""
    if not VENV_PYTHON.exists():
        say("creating the virtualenv in .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256(requirements.read_bytes() + REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / f".{requirements.stem}.sha256"
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    say(f"installing {requirements.name}")
    pip = [str(VENV_PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["install", "-r", str(requirements)], check=True)
    stamp.write_text(wanted)


def inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(requirements: Path) -> None:
    ensure_venv(requirements)
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


def manage(*args: str, env=None, capture=False) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout if capture else ""


# --- start ---------------------------------------------------------------------------------------------


# --- the .env it manages ----------------------------------------------------------------------------

# What dev.py start writes into .env sits between these lines and is rewritten on every start; a
# value set anywhere else in .env, or in the environment, is the operator's and wins.
ENV_BLOCK_BEGIN = "# >>> written by python3 dev.py start on every start; set a value above this block to override"
ENV_BLOCK_END = "# <<< end of dev.py start's block"


def env_file_lines(path: Path) -> tuple[list[str], list[str]]:
    """The operator's lines of `path`, and those of dev.py's block."""
    if not path.exists():
        return [], []
    own, block, inside = [], [], False
    for line in path.read_text().splitlines():
        if line == ENV_BLOCK_BEGIN:
            inside = True
        elif line == ENV_BLOCK_END:
            inside = False
        else:
            (block if inside else own).append(line)
    return own, block


def operator_value(key: str, environ: dict, own_lines: list[str]) -> str:
    """The value the operator gave `key` (environment first, then their lines of .env), or ""."""
    if environ.get(key):
        return environ[key]
    for line in own_lines:
        name, _, value = line.removeprefix("export ").partition("=")
        if name.strip() == key and value.strip().strip("'\""):
            return value.strip().strip("'\"")
    return ""


def first_run_settings(url: str, environ: dict, own_lines: list[str]) -> dict[str, str]:
    """What every process of this console must agree on, where the operator left it unset: the
    address links point at, and (without SMTP) emails shown in the log instead of lost."""
    wanted = {}
    if not operator_value("PORTAL_BASE_URL", environ, own_lines):
        wanted["PORTAL_BASE_URL"] = url.rstrip("/")
    if not operator_value("SMTP_HOST", environ, own_lines) and not operator_value("EMAIL_BACKEND", environ, own_lines):
        wanted["EMAIL_BACKEND"] = CONSOLE_EMAIL
    return wanted


def write_env_block(path: Path, values: dict[str, str]) -> None:
    """Rewrite dev.py's block of `path` with `values`, leaving the operator's lines as they are."""
    own, _ = env_file_lines(path)
    while own and not own[-1].strip():
        own.pop()
    lines = own + ([""] if own else [])
    if values:
        lines += [ENV_BLOCK_BEGIN, *(f"{key}={value}" for key, value in values.items()), ENV_BLOCK_END]
    path.write_text("\n".join(lines) + "\n" if lines else "")


def manage_env_file(url: str) -> dict[str, str]:
    """Write what manual `manage.py` runs must see into .env; returns what was written."""
    own, _ = env_file_lines(ENV_FILE)
    wanted = first_run_settings(url, dict(os.environ), own)
    write_env_block(ENV_FILE, wanted)
    return wanted


# --- start ---------------------------------------------------------------------------------------------


def admin_key(rotate: bool) -> str:
    """The admin key of dev.py start: made on the first start, kept after (only its hash is stored,
    so it is printed once), replaced when asked. Returns the new key, or "" when the old one stays."""
    again = "--replace" if rotate else "--if-missing"
    return manage(
        "dashkey", "create", "--name", ADMIN_KEY_NAME, "--role", "admin", "--quiet", again, capture=True
    ).strip()


def gunicorn_command(host: str, port: int, workers: int, threads: int = 4) -> list[str]:
    """The web server: the app preloaded once in gunicorn's master, shared by its workers, each
    serving `threads` requests at once (gthread), so one worker keeps a slow request from holding up
    the console without a second copy of the app in memory."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "echopilot.wsgi",
        "--preload",
        "--config",
        "python:echopilot.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
    ]


def start(port: int, host: str, workers: int, threads: int, rotate_key: bool = False) -> int:
    url = f"http://{'localhost' if host in ('0.0.0.0', '127.0.0.1') else host}:{port}/"
    written = manage_env_file(url)
    env = dict(os.environ)
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="echopilot-prom-"))
    env.update(written)  # children read .env too; this also covers a process that changes directory
    os.environ.update(env)
    say("migrating the database")
    manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")
    say("registering the periodic jobs")
    manage("setup_schedules")
    key = admin_key(rotate_key)
    say("loading demo data")
    manage("demo")
    web = subprocess.Popen(
        gunicorn_command(host, port, workers, threads),
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    # One process running the schedules and tasks (TASK_RUNNER=single, the default on SQLite without
    # Redis); with TASK_RUNNER=cluster, django-q2 clusters: one, or as many as the autoscaler applies.
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster_pool"], cwd=ROOT, env=env, start_new_session=True
    )
    print()
    print(f"  EchoPilot Ops Console:  {url}")
    print_key(key, url)
    links_base = operator_value("PORTAL_BASE_URL", env, env_file_lines(ENV_FILE)[0])
    print(f"  Receipt links point at:  {links_base}")
    if env.get("EMAIL_BACKEND") == CONSOLE_EMAIL:
        print("  Email: no SMTP_HOST, so emails (portal links) are printed in this log, not sent.")
    if written:
        print(f"  Written to .env for manage.py runs by hand:  {', '.join(written)}")
    print("  Sign in to the admin with a user from:  .venv/bin/python manage.py createsuperuser")
    print("  Ctrl-C stops the web server and the task queue.")
    print(flush=True)
    return supervise([web, cluster])


def print_key(key: str, url: str) -> None:
    if key:
        print(f"  Admin API key '{ADMIN_KEY_NAME}' (shown once, stored hashed):  {key}")
        print(f"  Try:  curl -H 'X-Dash-Key: {key}' {url}api/queue/status")
    else:
        print(f"  Admin API key: the one named '{ADMIN_KEY_NAME}' printed by your first start (kept).")
        print("         Lost it?  python3 dev.py start --rotate-key  revokes it and prints a new one.")


def supervise(processes: list[subprocess.Popen]) -> int:
    """Wait until Ctrl-C or until one process dies, then stop them all."""
    stop = {"now": False}

    def on_signal(signum, frame) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop["now"] and all(p.poll() is None for p in processes):
        time.sleep(0.3)
    say("stopping")
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return 0 if stop["now"] else 1


# --- test ------------------------------------------------------------------------------------------------


def postgres_url() -> str | None:
    """DATABASE_URL if it points at PostgreSQL, else the local one when its port answers."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return DEFAULT_PG_URL
    except OSError:
        return None


def redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1):
            return url
    except OSError:
        return None


# What the slow stage drives for real: Debian's Chromium, and the Prometheus, promtool and
# Alertmanager binaries the console's metrics and receivers are tested against.
SLOW_STAGE_PACKAGES = {
    "chromium": CHROMIUM,
    "prometheus": "/usr/bin/promtool",
    "prometheus-alertmanager": "/usr/bin/prometheus-alertmanager",
}


def ensure_slow_stage_tools() -> None:
    """Install the slow stage's Debian packages that are missing, when we may (root, apt)."""
    missing = [name for name, path in SLOW_STAGE_PACKAGES.items() if not Path(path).exists()]
    if not missing or os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        return
    say(f"installing {', '.join(missing)} for the slow stage (apt-get)")
    quiet: dict = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run(["apt-get", "update", "-qq"], **quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], **quiet)


def pytest(label: str, args: list[str], env: dict) -> bool:
    say(f"test stage: {label}")
    code = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env).returncode
    if code == 5:
        say(f"{label}: pytest collected no tests; that is a failure here")
        return False
    if code != 0:
        say(f"{label}: FAILED (pytest exit {code})")
        return False
    return True


def lint() -> bool:
    """ruff (lint and format) and mypy, the first stage: a style or type error fails the run."""
    say("lint stage: ruff check, ruff format --check, mypy")
    tools = [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]]
    failed = [" ".join(t) for t in tools if subprocess.run([sys.executable, "-m", *t], cwd=ROOT).returncode]
    if failed:
        say("lint stage: FAILED (" + "; ".join(failed) + ")")
    return not failed


def test(extra: list[str]) -> int:
    if not lint():
        return 1
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DASHBOARD_KEY")}
    base["ECHOPILOT_TEST_REDIS_URL"] = redis_url() or ""
    # The fast stages on both cores (pytest-xdist: each worker its own test database); the slow and
    # fault stages one test at a time, since they start servers and browsers of their own.
    fast = ["-m", "not slow", "-n", "2", *extra]
    stages = [("SQLite", fast, base)]
    pg = postgres_url()
    if pg:
        pg_env = {**base, "DATABASE_URL": pg}
        stages.append(("PostgreSQL", fast, pg_env))
        stages.append(("slow stage (browser, load) on PostgreSQL", ["-m", "slow and not faults", *extra], pg_env))
    else:
        say("PostgreSQL is not reachable: its stage is left out, the slow stage runs on SQLite")
        stages.append(("slow stage (browser, load) on SQLite", ["-m", "slow and not faults", *extra], base))
    if any(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        # Its own PostgreSQL cluster (initdb), gunicorn, qcluster and redis-server: never the shared ones.
        label = "fault stage (scratch PostgreSQL: crash, freeze; Redis, qcluster kills; full disk)"
        stages.append((label, ["-m", "faults"], base))
    else:
        say("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): the fault stage is left out")
    ensure_slow_stage_tools()
    failed = [label for label, args, env in stages if not pytest(label, args, env)]
    if failed:
        say("failed stages: " + ", ".join(failed))
        return 1
    say("all test stages passed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    start_cmd = sub.add_parser("start", help="set up and run the console with demo data")
    start_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    start_cmd.add_argument("--host", default="127.0.0.1")
    start_cmd.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    start_cmd.add_argument("--threads", type=int, default=4, help="requests each worker serves at once (default 4)")
    start_cmd.add_argument(
        "--rotate-key", action="store_true", help="revoke the admin key an earlier start made and print a new one"
    )
    test_cmd = sub.add_parser("test", help="set up and run the whole test suite")
    test_cmd.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")
    args = parser.parse_args()
    if not inside_venv():
        reexec_in_venv(REQUIREMENTS if args.command == "start" else DEV_REQUIREMENTS)
    if args.command == "start":
        return start(args.port, args.host, args.workers, args.threads, args.rotate_key)
    return test(args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
