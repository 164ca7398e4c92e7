"""The dashboard card in a real browser: the admin's "raise test incident" button goes through the API."""

import pytest

from incidents.models import Delivery, Incident


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_raise_test_incident_button_opens_an_incident_and_records_a_page(signed_in_page, telegram):
    page = signed_in_page
    page.click("#incidents-raise-test")
    page.wait_for_function("document.getElementById('incidents-raise-result').textContent.includes('Incident #')")
    assert "1 page(s) queued" in page.inner_text("#incidents-raise-result")
    incident = Incident.objects.get()
    assert (incident.severity, incident.source) == ("CRITICAL", "dashboard")
    assert Delivery.objects.get().channel == "telegram"
    page.click("#incidents-raise-test")
    page.wait_for_function("document.getElementById('incidents-raise-result').textContent.includes('repeat')")
    assert Incident.objects.get().count == 2 and Delivery.objects.count() == 1
    page.reload()
    assert "CRITICAL 1" in page.inner_text("#incidents-open")
