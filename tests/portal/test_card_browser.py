"""The Customer Portal card in a real browser: look up, copy a link."""

import pytest
import requests

from portal import demo

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_lookup_lists_receipts_and_a_copied_link_downloads_the_pdf(signed_in_page, live_server, tmp_path, settings):
    from django.utils import timezone

    settings.PORTAL_BASE_URL = live_server.url  # links handed out are built on it, never on the Host header
    demo.load(timezone.now())
    page = signed_in_page
    card = page.locator("#card-portal")
    # Raising a test incident is the Incidents card's job, where it says who gets paged.
    assert card.locator("button", has_text="Raise test incident").count() == 0
    card.locator("#portal-email").fill("Ana.Lima@example.com")
    card.locator("button", has_text="Look up").click()
    rows = card.locator("#portal-results tr")
    rows.first.wait_for()
    assert rows.count() == 2
    assert "refunded" in rows.nth(1).inner_text()
    assert "2 receipt(s), newest first" in card.locator("#portal-status").inner_text()

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    copy = rows.first.locator("button")
    assert copy.inner_text() == "Copy link"
    copy.click()
    rows.first.locator("button", has_text="Copied").wait_for()
    copied = [page.evaluate("navigator.clipboard.readText()")]
    assert copied[0] == copy.get_attribute("data-url")
    assert copied[0].startswith(f"{live_server.url}/api/portal/download?token=")
    pdf = requests.get(copied[0], timeout=10)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    page.screenshot(path=str(tmp_path / "portal-card.png"), full_page=True)


def test_an_unknown_email_says_so(signed_in_page):
    card = signed_in_page.locator("#card-portal")
    card.locator("#portal-email").fill("nobody@example.com")
    card.locator("button", has_text="Look up").click()
    status = card.locator("#portal-status")
    status.filter(has_text="No customer").wait_for()
