"""gunicorn's hooks for the console: `gunicorn echopilot.wsgi --preload -c python:echopilot.gunicorn_conf`
(what `dev.py start` runs, and the README's server recipe); `gunicorn.conf.py` beside manage.py, which
gunicorn reads from the working directory by default, is this same configuration.

With --preload the master loads the app once and the workers share its memory instead of each
loading its own copy (~80 MB each). Prometheus metrics are summed across the workers through one
multi-process directory the master makes (echopilot.multiproc).
"""

import gc

from django.db import connections
from django.urls import get_resolver

from echopilot import multiproc

preload_app = True

multiproc.prepare_for_master()


def when_ready(server) -> None:
    # In the master, after the app is loaded and before any worker is forked. Django imports the
    # URLconf (every view module, DRF, the admin's pages) on the first request: import it here, once,
    # so the workers share it too; then freeze what is loaded, so a worker's garbage collector does not
    # write to (and so copy) every page of it.
    get_resolver().url_patterns  # noqa: B018  (reading it imports the views)
    gc.freeze()


def pre_fork(server, worker) -> None:
    # Nothing opens a database connection while the app loads today; should something do so, the
    # workers must not all inherit one socket to the database.
    connections.close_all()


def child_exit(server, worker) -> None:
    # The live gauges of a worker that exited must not be summed into /metrics any more.
    multiproc.worker_exited(worker.pid)


def on_exit(server) -> None:
    multiproc.master_exited()
