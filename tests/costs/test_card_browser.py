"""The Cost card in a real browser: an admin sets a cap from it, and overrides a throttled cap for an
hour (slow stage: the real CSRF cookie and header, which the Django test client does not check)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs import authorize, record_spend
from costs.models import CapOverride, CostCap
from costs.services import set_cap

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


def test_an_admin_overrides_a_throttled_cap_for_an_hour_from_the_card(signed_in_page, caps, prices, live_server):
    set_cap("model", "0", "gpt-4.1-nano")  # the only fallback shut: gpt-4o-mini's calls throttle
    record_spend(model="gpt-4o-mini", usd=Decimal("5"))
    assert authorize("gpt-4o-mini").decision == "throttle"
    page = signed_in_page
    page.goto(f"{live_server.url}/admin/")
    row = page.locator('#card-costs tbody[data-key="gpt-4o-mini"]')
    questions, posts = [], []
    page.on("request", lambda request: posts.append(request.url) if "/api/costs/override" in request.url else None)

    # Dismissed first: the question names the cap, and nothing is sent.
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Override for 1 h").click()
    assert questions and "gpt-4o-mini daily cap ($5.00)" in questions[0]
    assert posts == [] and not CapOverride.objects.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.get_by_role("button", name="Override for 1 h").click()
    override = CapOverride.objects.get()
    assert (override.scope, override.key, override.created_by) == ("model", "gpt-4o-mini", "operator")
    assert abs(override.until - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)
    text = page.locator('#card-costs tbody[data-key="gpt-4o-mini"]').inner_text()
    assert f"override until {override.until:%Y-%m-%d %H:%M} UTC" in text
    assert page.locator('#card-costs tbody[data-key="gpt-4o-mini"] button').count() == 0
    assert authorize("gpt-4o-mini").decision == "allow"
