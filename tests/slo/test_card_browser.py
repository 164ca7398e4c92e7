"""The SLO card in a real browser: an admin lifts the deploy gate from it (slow stage)."""

import pytest
from django.utils import timezone

from slo.models import GateShut

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shut(slo):
    return GateShut.objects.create(slo=slo, shut_at=timezone.now(), reason="SLO api: burn 3.1x", burn=3.1)


def _lift_from_the_card(page, note):
    page.once("dialog", lambda dialog: dialog.accept(note))
    page.locator("#slo-lift-gate").click()


@pytest.mark.parametrize(
    "note, message",
    [
        ("   ", "note: This field may not be blank."),
        ("x" * 2001, "note: Ensure this field has no more than 2000 characters."),
    ],
)
def test_a_note_the_api_refuses_shows_why_on_the_card(signed_in_page, live_server, shut, note, message):
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    _lift_from_the_card(page, note)
    page.wait_for_function("document.getElementById('slo-message').textContent.includes('note:')")
    assert page.locator("#slo-message").inner_text() == message
    shut.refresh_from_db()
    assert shut.lifted_at is None


def test_an_admin_lifts_the_gate_from_the_card(signed_in_page, live_server, shut):
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    with page.expect_navigation():
        _lift_from_the_card(page, "rolled back v42")
    assert "Deploy gate: open" in page.locator("#card-slo").inner_text()
    shut.refresh_from_db()
    assert shut.lift_note == "rolled back v42"
