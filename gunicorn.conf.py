"""gunicorn's configuration, read from the working directory whatever the command line says
(`gunicorn echopilot.wsgi --workers 4`): the console's hooks (echopilot/gunicorn_conf.py), so the
workers share the preloaded app and Prometheus sums their metrics."""

import sys
from pathlib import Path

# Also when named with -c from elsewhere: the console's packages sit beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from echopilot.gunicorn_conf import (  # noqa: E402, F401  (gunicorn reads these names from here)
    child_exit,
    on_exit,
    pre_fork,
    preload_app,
    when_ready,
)
