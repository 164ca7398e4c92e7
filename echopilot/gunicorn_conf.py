"""gunicorn's hooks for the console: `gunicorn echopilot.wsgi --preload -c python:echopilot.gunicorn_conf`
(what `dev.py start` runs, and the README's server recipe).

With --preload the master loads the app once and the workers share its memory instead of each
loading its own copy (~80 MB each).
"""

import os

from django.db import connections
from prometheus_client import multiprocess

preload_app = True


def pre_fork(server, worker):
    # Nothing opens a database connection while the app loads today; should something do so, the
    # workers must not all inherit one socket to the database.
    connections.close_all()


def child_exit(server, worker):
    # The live gauges of a worker that exited must not be summed into /metrics any more.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
