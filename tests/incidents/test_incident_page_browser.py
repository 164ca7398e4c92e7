"""An incident handled from its own admin page, and the card that leads there, in real Chromium."""

import re

import pytest

from incidents import raise_incident
from incidents.models import Delivery, Incident, Silence

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def open_incident(page, live_server, incident):
    page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")


def test_acknowledge_then_resolve_with_the_note_typed_on_the_page(signed_in_page, live_server):
    incident = raise_incident("CRITICAL", "checkout 502s", "web", {"runbook_url": "https://runbooks.test/checkout"})
    incident = incident.incident
    page = signed_in_page
    open_incident(page, live_server, incident)
    runbook = page.get_by_role("link", name="Runbook")
    assert runbook.get_attribute("href") == "https://runbooks.test/checkout"

    page.click("#incident-acknowledge")
    page.get_by_text(f"Acknowledged incident #{incident.pk}.").wait_for()
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Incident.ACKNOWLEDGED, "operator")
    assert page.locator("#incident-acknowledge").count() == 0  # nothing left to acknowledge

    page.fill("#id_resolve_note", "rolled back release 412")
    page.click("#incident-resolve")
    page.get_by_text(f"Resolved incident #{incident.pk}.").wait_for()
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == (Incident.RESOLVED, "operator")
    assert incident.resolve_note == "rolled back release 412"


def test_page_again_asks_first_and_names_the_channels(signed_in_page, live_server, telegram):
    incident = raise_incident("WARNING", "disk 91%", "db").incident  # WARNING pages nobody by default
    page = signed_in_page
    open_incident(page, live_server, incident)
    page.click("#incident-page-again")
    assert "This pages on-call again now on: telegram." in page.inner_text("#page-again-channels")
    assert not Delivery.objects.exists()  # the click only asked
    page.click("#page-again-confirm")
    page.get_by_text("Paged again: 1 page(s) recorded.").wait_for()
    assert list(Delivery.objects.values_list("kind", "channel")) == [(Delivery.REPAGE, "telegram")]


def test_silence_like_this_opens_a_filled_in_silence_form(signed_in_page, live_server):
    incident = raise_incident("WARNING", "noisy cron", "cron").incident
    page = signed_in_page
    open_incident(page, live_server, incident)
    page.click("#incident-silence")
    assert page.input_value("#id_fingerprint") == incident.fingerprint
    assert page.input_value("#id_source") == "cron"
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/incidents/silence/$"))
    silence = Silence.objects.get()
    assert (silence.fingerprint, silence.created_by) == (incident.fingerprint, "operator")


def test_card_counts_lead_to_a_list_with_as_many_incidents(signed_in_page, live_server):
    raise_incident("CRITICAL", "db down", "db")
    acknowledged = raise_incident("CRITICAL", "queue stuck", "worker").incident
    Incident.objects.filter(pk=acknowledged.pk).update(status=Incident.ACKNOWLEDGED)
    raise_incident("WARNING", "disk", "db")
    resolved = raise_incident("CRITICAL", "old", "db").incident
    Incident.objects.filter(pk=resolved.pk).update(status=Incident.RESOLVED)
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    assert page.inner_text("#incidents-open-total").startswith("3 unresolved")
    page.click("#incidents-open [data-severity=CRITICAL]")
    page.wait_for_url(re.compile(r"severity__exact=CRITICAL"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2  # the card said CRITICAL 2: acknowledged ones are counted in both places
    page.goto(f"{live_server.url}/admin/")
    page.click("#incidents-open-total")
    page.wait_for_url(re.compile(r"\?state=unresolved$"))
    assert page.locator("#result_list tbody tr").count() == 3


def test_raise_test_incident_says_who_gets_paged_and_asks_before_paging(signed_in_page, telegram):
    page = signed_in_page
    page.reload()  # the card reads the channels the fixture just turned on
    page.click("#incidents-raise-test")
    assert "pages on-call now on: telegram" in page.inner_text("#incidents-raise-who")
    page.click("#incidents-raise-cancel")
    assert not Incident.objects.exists()
    page.click("#incidents-raise-test")
    page.click("#incidents-raise-confirm-yes")
    page.wait_for_function("document.getElementById('incidents-raise-result').textContent.includes('Incident #')")
    assert "1 page(s) queued" in page.inner_text("#incidents-raise-result")
    assert Delivery.objects.get().channel == "telegram"


def test_an_email_page_acknowledge_link_asks_then_acknowledges_once(browser, live_server, smtp, settings):
    from email import message_from_bytes, policy

    from incidents import pager

    settings.CONSOLE_BASE_URL = live_server.url
    incident = raise_incident("CRITICAL", "checkout 502s", "web").incident
    pager.send_due()
    text = message_from_bytes(smtp.messages[-1].content, policy=policy.default).get_body().get_content()
    link = re.search(r"Acknowledge \(asks to confirm\): (\S+)", text).group(1)
    page = browser.new_context().new_page()  # not signed in: the signed link is the key
    page.goto(link)
    assert page.inner_text("h1") == f"Acknowledge incident #{incident.pk}?"
    incident.refresh_from_db()
    assert incident.status == Incident.OPEN  # opening the link only asks
    page.click("#ack-confirm")
    page.locator("#ack-done").wait_for()
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Incident.ACKNOWLEDGED, "email link")
    assert (
        page.get_attribute("#ack-console", "href")
        == f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/"
    )
    page.goto(link)
    assert "no longer works" in page.inner_text("#ack-refused")
    page.context.close()
