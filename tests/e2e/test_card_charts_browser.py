"""The cards' charts in Chromium with the demo data, at a desktop's 1280 px and a phone's 390 px.

Screenshots of each card go to $ECHOPILOT_ARTIFACTS/cards/ when that is set (CI keeps the folder),
else to the test's tmp_path; look at them when a chart changes.
"""

import pytest

from echopilot.registry import load_demo
from tests.browser import sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CARDS = ["slo", "costs", "incidents"]
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture
def demo(db):
    load_demo()


def _overflow(page, app) -> dict:
    """How far the card and anything in it reach past the card's own box or the window."""
    return page.evaluate(
        """(app) => {
          const card = document.getElementById("card-" + app);
          const box = card.getBoundingClientRect();
          let widest = box.right;
          card.querySelectorAll("*").forEach(e => {
            const r = e.getBoundingClientRect();
            if (r.width) widest = Math.max(widest, r.right);
          });
          return {scroll: card.scrollWidth - card.clientWidth, past_card: widest - box.right,
                  past_window: box.right - window.innerWidth};
        }""",
        app,
    )


@pytest.mark.parametrize("size", list(WIDTHS))
def test_the_cards_charts_fit_the_screen_and_name_every_value_on_hover(
    browser, live_server, operator, demo, artifacts, size
):
    context, page = sign_in(
        browser, live_server, viewport={"width": WIDTHS[size], "height": 900}, device_scale_factor=1
    )
    page.evaluate("document.querySelectorAll('#card-slo details').forEach(d => d.open = true)")
    for app in CARDS:
        card = page.locator(f"#card-{app}")
        charts = card.locator("svg.ep-chart")
        assert charts.count() >= 1, app
        overflow = _overflow(page, app)
        assert overflow["scroll"] <= 0 and overflow["past_card"] <= 1 and overflow["past_window"] <= 0, (app, overflow)
        assert all(charts.nth(i).bounding_box()["width"] > 200 for i in range(charts.count())), app
        card.screenshot(path=str(artifacts / f"{app}-{size}.png"))
    slo_points = page.locator("#card-slo svg.ep-chart circle.ep-point title")
    assert slo_points.count() > 24 and " UTC: " in slo_points.first.text_content()
    bars = page.locator("#card-incidents rect.ep-bar-segment title")
    assert bars.count() >= 3 and " UTC: " in bars.first.text_content()
    spend = page.locator("#card-costs svg.ep-chart circle.ep-point title")
    assert spend.count() >= 2 and "$" in spend.first.text_content()
    context.close()
    assert all((artifacts / f"{app}-{size}.png").stat().st_size > 5_000 for app in CARDS)
