"""Prometheus multi-process metrics under gunicorn, set up by the console itself.

Each gunicorn worker is a process with its own counters; a scrape is answered by one of them. With
`PROMETHEUS_MULTIPROC_DIR` every worker writes its samples to files there and a scrape sums them,
so counters only go up. The console sets it up whatever starts gunicorn:

- `gunicorn.conf.py` (read by gunicorn from the working directory) gives the master a fresh
  directory before any worker forks, and marks each exited worker dead;
- the WSGI entry (`echopilot.wsgi`), for a gunicorn started with another config or directory: a
  directory per gunicorn master (keyed by the worker's parent pid), dead workers' live files
  cleaned when a worker boots.

The variable must be set before prometheus_client is imported (it picks its value class then), so
this module imports it only inside functions and reads the environment directly: Django's settings
are not loaded yet. A directory the operator sets is used as given.
"""

import glob
import os
import re
import shutil
import sys
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID_OF_FILE = re.compile(r"_(\d+)\.db$")
_made_for_master: list[str] = []  # the directory prepare_for_master made, removed when the master exits


def prepare_for_master() -> str:
    """For the gunicorn master, before it forks: a fresh directory (an earlier run's files emptied
    out of an operator's directory, as prometheus_client asks), exported to the workers."""
    directory = os.environ.get(ENV)
    if directory:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
    else:
        directory = tempfile.mkdtemp(prefix="echopilot-prometheus-")
        os.environ[ENV] = directory
        _made_for_master.append(directory)
    return directory


def master_exited() -> None:
    """The master stops: the directory it was given is removed (its counters ended with it)."""
    while _made_for_master:
        shutil.rmtree(_made_for_master.pop(), ignore_errors=True)


def worker_exited(pid: int) -> None:
    """A worker is gone: drop its live-gauge files (its counters stay, so sums never go back)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess  # only once ENV is set: see the module's docstring

        multiprocess.mark_process_dead(pid)


def prepare_for_worker() -> str | None:
    """In a gunicorn worker whose master did not set a directory: the one its siblings share, with
    the live files of workers that died cleaned. Outside gunicorn (runserver, manage.py) nothing."""
    if os.environ.get(ENV) or "gunicorn" not in sys.modules:
        return os.environ.get(ENV)
    directory = os.path.join(tempfile.gettempdir(), f"echopilot-prometheus-{os.getuid()}-{os.getppid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.environ[ENV] = directory
    clean_dead(directory)
    _remove_dirs_of_dead_masters(directory)
    return directory


def clean_dead(directory: str) -> list[int]:
    """Mark every process with files in `directory` that no longer runs as dead; returns their pids."""
    from prometheus_client import multiprocess  # only once ENV is set: see the module's docstring

    dead = sorted({pid for pid in _pids_with_files(directory) if not _running(pid)})
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    return dead


def _pids_with_files(directory: str) -> set[int]:
    names = (os.path.basename(path) for path in glob.glob(os.path.join(directory, "*.db")))
    return {int(match.group(1)) for match in map(_PID_OF_FILE.search, names) if match}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dirs_of_dead_masters(mine: str) -> None:
    """The directories earlier gunicorn masters left (they were temporary: their counters ended with them)."""
    prefix = f"echopilot-prometheus-{os.getuid()}-"
    for path in glob.glob(os.path.join(tempfile.gettempdir(), prefix + "*")):
        master = path.rsplit("-", 1)[-1]
        if path != mine and master.isdigit() and not _running(int(master)):
            shutil.rmtree(path, ignore_errors=True)
