"""The SLO card of many SLOs: a compact row each from the last budget tick, charts only for the
worst needing attention, and queries that do not grow with the number of SLOs."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from slo import dashboard, ingest, services, ticks
from slo.models import Slo, SloTick

from .conftest import traffic

pytestmark = pytest.mark.django_db


def _slos(burning: int, calm: int, prefix: str = "") -> list[Slo]:
    """SLOs with two hours of traffic up to now: `burning` ones at 5% errors (5x a 1% budget)."""
    now = timezone.now()
    made = []
    for i in range(burning + calm):
        name = f"{prefix}{'burn' if i < burning else 'calm'}-{i:02d}"
        share = 0.05 if i < burning else 0.0
        ingest.ingest(traffic(name, now - timedelta(hours=2), 120, per_minute=20, error_share=share, seed=i))
        made.append(
            Slo.objects.create(name=name, service=name, p95_ms=800, error_budget_pct=1.0, window_days=30, min_events=10)
        )
    return made


def _card(rf) -> str:
    return render_to_string("slo/card.html", {"title": "SLOs", **dashboard.card_context(rf.get("/admin/"))})


def _charted(html: str) -> list[str]:
    return re.findall(r'<div class="slo-row" data-slo="([\w-]+)"', html)


def _compact(html: str) -> list[str]:
    return re.findall(r'<tr class="slo-row" data-slo="([\w-]+)"', html)


def test_a_card_of_many_slos_charts_the_ten_worst_needing_attention_and_says_how_many_are_not(rf):
    _slos(burning=12, calm=3)
    ticks.budget_tick()
    html = _card(rf)
    charted, compact = _charted(html), _compact(html)
    assert len(charted) == dashboard.CHARTS_SHOWN and all(name.startswith("burn") for name in charted)
    assert sorted(charted + compact) == sorted(Slo.objects.values_list("name", flat=True))
    assert html.count('class="ep-charts"') == dashboard.CHARTS_SHOWN
    assert "2 more SLOs need attention" in html and 'href="/admin/slo/slo/"' in html
    assert sum(name.startswith("burn") for name in compact) == 2
    assert compact.index("calm-12") > max(compact.index(n) for n in compact if n.startswith("burn"))  # worst first


def test_a_card_with_nothing_needing_attention_charts_nothing_and_lists_every_slo(rf):
    _slos(burning=0, calm=dashboard.CHARTS_SHOWN + 2)
    ticks.budget_tick()
    html = _card(rf)
    assert _charted(html) == [] and len(_compact(html)) == dashboard.CHARTS_SHOWN + 2
    assert "need attention" not in html and "ep-chart" not in html


def test_an_uncharted_row_shows_its_last_budget_tick_and_says_so(rf):
    slos = _slos(burning=0, calm=dashboard.CHARTS_SHOWN + 1)
    ticks.budget_tick()
    SloTick.objects.filter(slo=slos[0]).update(weekly_burn=0.4321)  # what only the tick says
    html = _card(rf)
    row = html.split(f'data-slo="{slos[0].name}"')[1].split("</tr>")[0]
    assert "0.43x" in row and "(as of" in row


def test_an_slo_edited_after_its_last_tick_is_read_now(rf):
    slos = _slos(burning=0, calm=dashboard.CHARTS_SHOWN + 1)
    ticks.budget_tick()
    SloTick.objects.filter(slo=slos[0]).update(weekly_burn=0.4321)
    services.rebaseline(slos[0])
    row = _card(rf).split(f'data-slo="{slos[0].name}"')[1].split("</tr>")[0]
    assert "0.43x" not in row and "(as of" not in row


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_the_cards_queries_do_not_grow_with_the_slos(rf):
    _slos(burning=2, calm=2, prefix="a")
    ticks.budget_tick()
    _card(rf)  # the first look writes the gate's flag state; count the looks after it
    few = _queries(lambda: _card(rf))
    _slos(burning=12, calm=10, prefix="b")
    ticks.budget_tick()
    html = _card(rf)
    more = _queries(lambda: _card(rf))
    assert len(_charted(html)) == dashboard.CHARTS_SHOWN and len(_compact(html)) == 16
    assert few == more <= 8, (few, more)


def test_metrics_give_the_last_ticks_burn_and_when_it_was_computed(client):
    slos = _slos(burning=1, calm=1)
    ticks.budget_tick()
    SloTick.objects.filter(slo=slos[0]).update(burn=7.25)  # what only the tick says
    text = client.get("/metrics").content.decode()
    tick = SloTick.objects.get(slo=slos[0])
    assert f'echopilot_slo_burn{{slo="{slos[0].name}"}} 7.25' in text
    at = re.search(rf'echopilot_slo_burn_timestamp_seconds{{slo="{slos[0].name}"}} ([\d.e+-]+)', text).group(1)
    assert float(at) == pytest.approx(tick.at.timestamp())


def test_metrics_read_an_slo_without_a_current_tick_at_the_scrape(client):
    slos = _slos(burning=1, calm=0)
    ticks.budget_tick()
    SloTick.objects.filter(slo=slos[0]).update(burn=7.25)
    services.rebaseline(slos[0], timezone.now() - timedelta(days=1))
    Slo.objects.filter(pk=slos[0].pk).update(updated_at=timezone.now())  # edited after its tick
    text = client.get("/metrics").content.decode()
    burn = float(re.search(rf'echopilot_slo_burn{{slo="{slos[0].name}"}} ([\d.e+-]+)', text).group(1))
    assert burn == pytest.approx(services.windows_of(slos, timedelta(days=1))[slos[0].pk].burn(slos[0]), rel=0.05)
    assert 3 < burn != 7.25
