"""The Cost card in a real browser: an admin sets a cap from it (slow stage)."""

from decimal import Decimal

import pytest

from costs import record_spend
from costs.models import CostCap

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_sets_a_cap_from_the_card(signed_in_page, caps, prices, live_server):
    record_spend(model="gpt-4o", usd=Decimal("6"))
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    form = page.locator("#ep-cost-set-cap")
    form.locator("select[name=scope]").select_option("model")
    form.locator("input[name=key]").fill("gpt-4o")
    form.locator("input[name=usd_cap]").fill("-3")
    form.locator("button").click()
    page.wait_for_function("document.getElementById('ep-cost-set-cap-result').textContent.includes('usd_cap')")
    assert CostCap.objects.get(scope="model", key="gpt-4o").usd_cap == Decimal(10)

    form.locator("input[name=usd_cap]").fill("6")
    with page.expect_navigation():
        form.locator("button").click()
    assert CostCap.objects.get(scope="model", key="gpt-4o").usd_cap == Decimal(6)
    assert page.locator("#card-costs .ep-bar.ep-state-throttle").count() == 1
    assert "→ gpt-4o-mini" in page.locator("#card-costs").inner_text()  # the fallback in force


def test_a_cap_for_a_model_never_seen_is_saved_with_its_warning_on_the_card(signed_in_page, caps, prices, live_server):
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    form = page.locator("#ep-cost-set-cap")
    form.locator("select[name=scope]").select_option("model")
    form.locator("input[name=key]").fill("gpt-4o-minii")
    form.locator("input[name=usd_cap]").fill("4")
    form.locator("button").click()
    page.wait_for_function("document.getElementById('ep-cost-set-cap-result').textContent.includes('saved, but')")
    result = page.locator("#ep-cost-set-cap-result").inner_text()
    assert "no spend was ever reported for gpt-4o-minii: check the model's name" in result
    assert CostCap.objects.get(scope="model", key="gpt-4o-minii").usd_cap == Decimal(4)
