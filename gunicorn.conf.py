"""gunicorn's configuration, read from the working directory whatever the command line says
(`gunicorn echopilot.wsgi --workers 4`): Prometheus multi-process metrics across the workers."""

from echopilot import multiproc

multiproc.prepare_for_master()


def child_exit(server, worker):
    multiproc.worker_exited(worker.pid)
