import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")
django_application = get_wsgi_application()

from echopilot.fastpath import FastPaths  # noqa: E402  (after Django is set up)

application = FastPaths(django_application)
