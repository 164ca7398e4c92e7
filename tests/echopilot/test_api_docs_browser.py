"""The API docs page as a script writer meets it, in Chromium: no admin account, just a key typed
into Authorize, and "Try it out" sends it."""

import pytest

from echopilot.models import DashKey

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_key_in_authorize_lets_try_it_out_call_the_api_without_signing_in(browser, live_server):
    _, key = DashKey.issue("docs-reader", DashKey.ANALYST)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/api/docs/")
    page.click("button.btn.authorize")
    scheme = page.locator(".auth-container", has_text="dashKey")
    scheme.locator("input").fill(key)
    scheme.locator("button.authorize").click()
    page.click("button.btn-done")
    path = page.locator(".opblock-summary-path[data-path='/api/queue/status']")
    operation = page.locator(".opblock", has=path)
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    answer = operation.locator(".live-responses-table tbody .response")
    answer.wait_for()
    assert answer.locator(".response-col_status").inner_text().strip() == "200"
    assert '"queue_depth"' in answer.locator(".response-col_description").inner_text()
    context.close()
