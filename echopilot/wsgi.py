"""The WSGI application the servers run (gunicorn echopilot.wsgi).

It is Django's, wrapped in `echopilot.fastpath.FastPaths`: a plain JSON POST from an admin key to
costs/authorize or costs/usage is answered in front of Django's middleware and DRF, because every AI
call the product makes asks those two and the cycle cost more than the work (the measurements are in
bench/README.md). A middleware added to settings.MIDDLEWARE therefore does not run for those two
requests; what one needs to hear of them is registered with `fastpath.on_answered` (the slo app's
console samples are). Every other request goes through Django unchanged.

Under gunicorn it also sets up Prometheus multi-process metrics when the master did not
(`echopilot.multiproc`), so every worker's counters are summed at scrape time.
"""

import os

from echopilot import multiproc

# Before Django loads the metrics: prometheus_client chooses per-process files at import.
multiproc.prepare_for_worker()

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")
django_application = get_wsgi_application()

from echopilot.fastpath import FastPaths  # noqa: E402  (after Django is set up)

application = FastPaths(django_application)
