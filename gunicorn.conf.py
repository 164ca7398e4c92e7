"""gunicorn's configuration, read from the working directory whatever the command line says
(`gunicorn echopilot.wsgi --workers 4`): Prometheus multi-process metrics across the workers."""

import sys
from pathlib import Path

# Also when named with -c from elsewhere: the console's packages sit beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from echopilot import multiproc  # noqa: E402

multiproc.prepare_for_master()


def child_exit(server, worker):
    multiproc.worker_exited(worker.pid)


def on_exit(server):
    multiproc.master_exited()
