"""The worker scaling card in a real browser: an admin decides now and applies from it (slow stage)."""

import pytest

from scaling import services
from scaling.models import Decision, ScaleState

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BUSY = {"queue_depth": 120, "queue_time_s": 95.0, "arrivals_per_min": 80.0, "jobs_per_worker_min": 20.0}


def test_an_admin_decides_in_dry_run_then_applies_from_the_card(signed_in_page, live_server):
    services.record_signals({**BUSY, "workers_actual": 2})
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    card = page.locator("#card-scaling")
    assert "6 wanted" in " ".join(card.inner_text().split())
    card.get_by_role("button", name="Decide now (dry run)").click()
    page.wait_for_function("document.getElementById('ep-scale-result').textContent.startsWith('dry:')")
    assert Decision.objects.get().outcome == Decision.Outcome.DRY
    assert ScaleState.objects.get().applied_workers is None

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Apply now").click()
    page.wait_for_function("document.getElementById('ep-scale-result').textContent.startsWith('applied:')")
    assert ScaleState.objects.get().applied_workers == 6
