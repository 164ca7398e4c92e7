"""The whole dashboard in Chromium at a desktop's 1280 px and a phone's 390 px, with the demo data and
the rows an on-call night adds (pages on every channel, a throttled cap, an override, a refused
access, a security finding): nothing is wider than the screen, and no word (a time, a channel's or a
model's name) is broken across two lines.

Screenshots of the whole page go to $ECHOPILOT_ARTIFACTS/cards/dashboard-<size>.png when that is
set (where tests/e2e/test_card_charts_browser.py writes the cards'), else to the test's tmp_path.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from costs import record_spend
from costs.models import CapOverride, CostCap
from echopilot.events import write_snapshot
from echopilot.registry import load_demo
from incidents.models import Delivery
from ops import security_scan
from portal.models import AccessLog
from tests.browser import sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": 1280, "phone": 390}

# Every text node on the cards (charts aside: SVG text does not wrap) as words, and the words whose
# boxes lie on more than one line: broken mid-word ("tele" / "gram"). Long free text (an incident's
# subject) may still wrap at a hyphen or a slash, so those split words here; names and times may not
# wrap at all, which UNITS checks.
BROKEN_WORDS = """() => {
  const broken = [];
  document.querySelectorAll(".ep-card").forEach(card => {
    const walker = document.createTreeWalker(card, NodeFilter.SHOW_TEXT, {acceptNode: node =>
      node.parentElement.closest("svg, script, style") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/[^\\s\\/-]+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom)));
        if (lines.size > 1) broken.push(card.id + ": " + word[0]);
      }
    }
  });
  return broken;
}"""

# The elements the markup names as one unit (times, channel names, model names, other names such as an
# uptime check's), and how many lines each takes: one, or it wrapped.
UNITS = """() => [...document.querySelectorAll(".ep-card :is(.ep-time, .ep-channel, .ep-model, .ep-nowrap)")]
  .filter(e => e.getClientRects().length)
  .map(e => ({kind: e.className, text: e.textContent.trim(), lines: e.getClientRects().length,
              height: e.getBoundingClientRect().height,
              line: parseFloat(getComputedStyle(e).lineHeight) || parseFloat(getComputedStyle(e).fontSize) * 1.3}))"""

WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll(".ep-card")]
  .filter(card => card.getBoundingClientRect().right > window.innerWidth)
  .map(card => card.id)"""


@pytest.fixture
def night(db):
    """The demo data, and what a night on call adds to it."""
    load_demo()
    now = timezone.now()
    pages = [
        ("telegram", Delivery.SENT, 1, "CRITICAL payments provider answering 502"),
        ("webhook", Delivery.FAILED, 5, "CRITICAL nightly-export-failed-for-tenant-eu-west-1-after-3-retries"),
        ("email", Delivery.PENDING, 0, "CRITICAL checkout timeout after 3012 ms"),
        ("webhook", Delivery.SENT, 2, "WARNING disk 83% full on db-1"),
    ]
    for minutes, (channel, status, attempts, subject) in enumerate(pages):
        Delivery.objects.create(
            channel=channel,
            status=status,
            attempts=attempts,
            subject=subject,
            body=subject,
            last_error="HTTP 503 from https://hooks.example.com/echopilot/pager" if status == Delivery.FAILED else "",
            created_at=now - timedelta(minutes=7 * minutes + 3),
        )
    # embeddings past its cap with no fallback (throttled, so its row offers "Override for 1 h"), and
    # an override on gpt-4o-mini (its row says until when).
    embeddings = CostCap.objects.get(scope="model", key="embeddings")
    record_spend(model="embeddings", usd=embeddings.usd_cap, request_id="night:embeddings")
    CapOverride.objects.create(scope="model", key="gpt-4o-mini", until=now + timedelta(hours=1), reason="launch")
    AccessLog.objects.create(
        action="download", outcome=AccessLog.REFUSED, status=403, email="jo@example.com", ip="203.0.113.7"
    )
    write_snapshot(
        security_scan.SNAPSHOT,
        {
            "started": (now - timedelta(hours=2)).isoformat(),
            "audit_state": "vulnerable",
            "audited": 61,
            "by_check": {"dependencies": 1},
            "findings": [{"check": "dependencies", "message": "urllib3 2.2.1: GHSA-34jh-p97f-mpxf (fixed in 2.2.2)"}],
        },
    )


@pytest.mark.parametrize("size", list(WIDTHS))
def test_the_dashboard_fits_the_screen_and_breaks_no_word(browser, live_server, operator, night, artifacts, size):
    width = WIDTHS[size]
    context, page = sign_in(browser, live_server, viewport={"width": width, "height": 900}, device_scale_factor=1)
    page.evaluate("document.querySelectorAll('#card-slo details').forEach(d => d.open = true)")
    page.screenshot(path=str(artifacts / f"dashboard-{size}.png"), full_page=True)

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(WIDER_THAN_THE_WINDOW) == []
    units = page.evaluate(UNITS)
    wrapped = [u for u in units if u["lines"] != 1 or u["height"] > 1.5 * u["line"]]
    assert wrapped == []
    texts = {kind: {u["text"] for u in units if u["kind"] == kind} for kind in ("ep-time", "ep-channel", "ep-model")}
    # The page has what this test means to look at: the night's pages, the caps, the override's time.
    assert {"telegram", "webhook", "email", "telegram:", "webhook:", "email:"} <= texts["ep-channel"]
    assert {"gpt-4o-mini", "embeddings", "all AI spend"} <= texts["ep-model"]
    assert len(texts["ep-time"]) >= 5 and any(t.endswith(" UTC") for t in texts["ep-time"])
    assert page.locator('#card-costs tbody[data-key="embeddings"] button').inner_text() == "Override for 1 h"
    assert page.evaluate(BROKEN_WORDS) == []
    context.close()
    assert (artifacts / f"dashboard-{size}.png").stat().st_size > 20_000
