"""Every public page and form of the portal, as a customer meets them: in Chromium, submitted.

The test client sends no Origin header; a browser does (and sends `Origin: null` when the page's
Referrer-Policy is no-referrer), so only a browser shows whether Django's CSRF check lets the forms
through.
"""

import re
from email import message_from_bytes
from email.policy import default as default_policy
from urllib.parse import urlparse

import pytest
from django_q.conf import Conf

from portal.models import Customer
from tests.loopback import smtp_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox(settings, live_server, monkeypatch):
    """A real SMTP server; queued tasks run in-process; links point at the live server."""
    monkeypatch.setattr(Conf, "SYNC", True)
    settings.PORTAL_BASE_URL = live_server.url
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        settings.SMTP_HOST = "127.0.0.1"
        settings.DEFAULT_FROM_EMAIL = "receipts@echopilot.example"
        yield inbox


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    yield context.new_page()
    context.close()


def emailed_link(inbox, path: str) -> str:
    assert inbox.arrived.wait(10), "no email arrived at the SMTP server"
    message = message_from_bytes(inbox.messages[-1].content, policy=default_policy)
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(rf"http://\S+{re.escape(path)}\?token=\S+", body)
    assert match, body
    return match.group(0)


def ask_for_link(page, live_server, email="jenny.rosen@example.com"):
    page.goto(f"{live_server.url}/portal/")
    page.fill("#id_email", email)
    page.click("button[type=submit]")


def test_the_self_service_form_is_accepted_by_a_browser_and_the_link_is_emailed(page, live_server, inbox, purchases):
    ask_for_link(page, live_server)
    assert page.locator("h1").inner_text() == "Check your inbox"
    assert "/portal/receipts?token=" in emailed_link(inbox, "/portal/receipts")


def test_the_emailed_receipts_page_opens_and_its_download_gives_the_pdf(page, live_server, inbox, purchases, tmp_path):
    ask_for_link(page, live_server)
    page.goto(emailed_link(inbox, "/portal/receipts"))
    assert page.locator("h1").inner_text() == "Receipts for jenny.rosen@example.com"
    with page.expect_download() as download:
        page.locator("a", has_text="Download PDF").first.click()
    saved = tmp_path / "receipt.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")


def test_the_unsubscribe_link_from_the_email_unsubscribes_in_a_browser(page, live_server, inbox, purchases):
    ask_for_link(page, live_server)
    page.goto(emailed_link(inbox, "/portal/unsubscribe"))
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "You are unsubscribed"
    assert Customer.objects.get(email="jenny.rosen@example.com").is_unsubscribed


def test_a_dead_download_link_shows_a_plain_page_that_offers_a_fresh_link(page, live_server, inbox, purchases):
    response = page.goto(f"{live_server.url}/api/portal/download?token=not-a-real-token")
    assert response.status == 403
    assert response.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "This link no longer works"
    assert "invalid or expired" not in page.content() and "Django REST framework" not in page.content()
    page.click("text=Ask for a new link")
    ask_for_link(page, live_server)
    assert page.locator("h1").inner_text() == "Check your inbox"


def test_a_dead_receipts_page_link_offers_the_form_which_then_works(page, live_server, inbox, purchases):
    link = urlparse(f"{live_server.url}/portal/receipts?token=tampered.token")
    page.goto(link.geturl())
    assert page.locator("h1").inner_text() == "This link no longer works"
    page.click("text=Ask for a new link")
    page.fill("#id_email", "jenny.rosen@example.com")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your inbox"
