"""The PDF library (fpdf2 and its fonts, ~19 MB) is loaded by the one view that draws a PDF, not by
every web and cluster process at start."""

import subprocess
import sys

from django.conf import settings

STARTUP = """
import sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # every view module, as a web worker loads them
import echopilot.wsgi  # noqa: F401
print("fpdf" in sys.modules, "portal.pdf" in sys.modules)
"""


def test_a_web_process_starts_without_the_pdf_library():
    env = {"DJANGO_SETTINGS_MODULE": "echopilot.settings", "PATH": "/usr/bin:/bin"}
    env.update(SECRET_KEY="tests-only-django-key-never-used-by-a-server", DATABASE_URL="sqlite:///:memory:")
    env.update(PORTAL_SIGNING_SECRET="tests-only-portal-signing-key-never-used-by-a-server", REDIS_URL="")
    out = subprocess.run(
        [sys.executable, "-c", STARTUP], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
