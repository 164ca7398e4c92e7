"""Browser fixtures for every app's card tests: Chromium, driven by Playwright, against the live console.

Registered once from the root conftest so the whole session shares one browser (two sync Playwright
instances cannot be open in one thread)."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Chromium asks for nothing from the internet with these (this machine has none).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser stage needs Chromium at /usr/bin/chromium (dev.py test installs it)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "correct-horse")


def sign_in(browser, live_server, **context_options):
    """A new browser context (`context_options`: its viewport, say) and a page in it, signed in to the
    admin as the operator through its real login form."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return context, page


@pytest.fixture
def signed_in_page(browser, live_server, operator):
    """A browser page signed in to the admin through its real login form."""
    context, page = sign_in(browser, live_server)
    yield page
    context.close()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """Where screenshots go: $ECHOPILOT_ARTIFACTS/cards when set (kept after the run), else tmp_path."""
    folder = Path(os.environ.get("ECHOPILOT_ARTIFACTS") or tmp_path) / "cards"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
