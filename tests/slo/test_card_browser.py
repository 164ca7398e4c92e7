"""The SLO card in a real browser: an admin opens the lift form from the gate's line (slow stage)."""

import pytest
from django.utils import timezone

from slo.models import GateShut

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shut(slo):
    return GateShut.objects.create(slo=slo, shut_at=timezone.now(), reason="SLO api: burn 3.1x", burn=3.1)


def _open_the_lift_form(page, live_server):
    page.goto(f"{live_server.url}/admin/")
    shut_line = page.locator("#slo-gate")
    assert "Deploy gate: SHUT" in shut_line.inner_text()
    with page.expect_navigation():
        shut_line.locator("#slo-lift-gate").click()  # the link sits on the gate's own line
    assert page.url.endswith("/admin/slo/gateshut/lift/")


def test_a_blank_note_is_refused_on_the_lift_form(signed_in_page, live_server, shut):
    page = signed_in_page
    _open_the_lift_form(page, live_server)
    page.evaluate("document.getElementById('id_note').removeAttribute('required')")
    page.fill("#id_note", "   ")
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "A note is required" in page.content()
    shut.refresh_from_db()
    assert shut.lifted_at is None


def test_an_admin_lifts_the_gate_from_the_card(signed_in_page, live_server, shut):
    page = signed_in_page
    _open_the_lift_form(page, live_server)
    page.fill("#id_note", "rolled back v42")
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "Deploy gate: open" in page.locator("#card-slo").inner_text()
    shut.refresh_from_db()
    assert shut.lift_note == "rolled back v42"
