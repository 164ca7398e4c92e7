import pytest

from echopilot.plugins import console_apps

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_operator_signs_in_and_sees_a_card_per_app(signed_in_page, tmp_path):
    page = signed_in_page
    for app in (config.label for config in console_apps()):
        card = page.locator(f"#card-{app}")
        assert card.is_visible(), app
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_dashboard_requests_nothing_from_outside(browser, live_server, operator):
    context = browser.new_context()
    page = context.new_page()
    outside = []
    page.on("request", lambda request: None if request.url.startswith(live_server.url) else outside.append(request.url))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct-horse")
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")
    context.close()
    assert [url for url in outside if not url.startswith("data:")] == []
