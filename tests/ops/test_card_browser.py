"""The Console upkeep card in a real browser: an admin runs the ops check from it (slow stage)."""

import pytest

from ops.models import OpsCheckRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_runs_the_ops_check_from_the_card(signed_in_page, live_server, settings):
    settings.OPS_HEARTBEAT_TIMEOUT_S = 0.5  # no qcluster here: the round trip fails, fast
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    assert "No ops check has run yet" in page.locator("#card-ops").inner_text()
    with page.expect_navigation(timeout=15_000):
        page.locator("#ep-ops-check-run").click()
    card = page.locator("#card-ops").inner_text()
    assert OpsCheckRun.objects.count() == 1
    assert "qcluster" in card and "fail" in card
