"""What people write: the OpenSLO project's own examples and schema-test files, and sloth's examples
(tests/fixtures/openslo/, tests/fixtures/sloth/, sources in tests/fixtures/README.md), imported with
`slo_import`, then judged like any other SLO: availability-only SLOs have status, budget, burn
alerts, a card and a gate."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import Incident
from slo import alerts, dashboard, gate, openslo, services
from slo.models import Slo

from .conftest import NOW

FIXTURES = Path(__file__).parent.parent / "fixtures"
OPENSLO = FIXTURES / "openslo"
SLOTH = FIXTURES / "sloth"


def slo_import(*paths: Path, file_format: str = "openslo", tmp_path=None) -> str:
    """Run `slo_import` on one file (or on the files joined as one YAML stream); returns its output."""
    path = paths[0]
    if len(paths) > 1:
        path = tmp_path / "joined.yaml"
        path.write_text("\n---\n".join(p.read_text() for p in paths))
    out = io.StringIO()
    call_command("slo_import", str(path), "--format", file_format, stdout=out)
    return out.getvalue()


ROLLING = [
    "slo-indicatorref-rolling-alerts.yaml",
    "slo-indicatorref-rolling-no-alerts.yaml",
    "slo-no-indicatorref-rolling-alerts.yaml",
    "slo-no-indicatorref-rolling-no-alerts.yaml",
]
CALENDAR = [
    "slo-indicatorref-calendar-alerts.yaml",
    "slo-indicatorref-calendar-no-alerts.yaml",
    "slo-no-indicatorref-calendar-alerts.yaml",
    "slo-no-indicatorref-calendar-no-alerts.yaml",
]


@pytest.mark.parametrize("name", ROLLING)
def test_every_rolling_slo_of_the_openslo_schema_tests_imports(db, name):
    slo_import(OPENSLO / name)
    slo = Slo.objects.get(name="test-slo")
    assert slo.service == "the-service-name" and slo.error_budget_pct == pytest.approx(2.0)
    assert slo.window_days in (1, 30) and slo.latency_objectives() == {}


@pytest.mark.parametrize("name", CALENDAR)
def test_every_calendar_slo_of_the_openslo_schema_tests_is_refused_naming_the_field(db, name):
    with pytest.raises(CommandError, match=r"document 1 \(test-slo\): spec.timeWindow\[0\].calendar"):
        slo_import(OPENSLO / name)
    assert not Slo.objects.exists()


def test_the_openslo_sdks_encoded_sequence_imports(db, settings):
    slo_import(OPENSLO / "encode-v1_slo.yaml")
    slo = Slo.objects.get(name="foo-slo")
    assert (slo.service, slo.window_days) == ("foo", settings.SLO_WINDOW_DAYS)


def test_an_availability_only_openslo_example_imports_as_a_first_class_slo(db):
    out = slo_import(OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml")
    slo = Slo.objects.get(name="test-slo")
    assert (slo.service, slo.window_days, slo.p95_ms, slo.p99_ms) == ("the-service-name", 30, None, None)
    assert slo.error_budget_pct == pytest.approx(2.0)
    assert "created test-slo: the-service-name availability only budget 2% over 30d" in out


def test_an_imported_openslo_example_shows_status_through_the_api(db, feed, analyst_api):
    slo_import(OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml")
    feed(timezone.now() - timedelta(minutes=60), 55, service="the-service-name", error_share=0.01, latency_ms=4000)
    report = analyst_api.get("/api/slo/status?slo=test-slo&period=24h").json()
    assert report["requests"] == 3300
    assert report["objectives"]["p95_ms"] is None and report["objectives"]["error_budget_pct"] == 2.0
    # Slow answers spend nothing: the SLO promised availability only.
    assert set(report["burn_by_objective"]) == {"errors"}
    assert report["burn_alert"] == "OK" and 0 < report["daily_burn"] < 1
    budget = analyst_api.get("/api/slo/budget?slo=test-slo").json()["budget"]
    assert [objective["objective"] for objective in budget["objectives"]] == ["errors"]
    assert budget["series"][-1]["remaining_pct"] < 100


def test_an_availability_only_slo_burns_alerts_and_shuts_the_gate(db, feed):
    slo_import(OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml")
    slo = Slo.objects.get(name="test-slo")
    slo.min_events = 10
    slo.save()
    feed(NOW - timedelta(hours=1), 210, service="the-service-name", error_share=0.2)
    report = services.status(slo, "1h", NOW + timedelta(hours=2))
    assert report["burn_alert"] == "CRITICAL" and report["burn"] == pytest.approx(10, rel=0.3)
    assert "raised" in alerts.evaluate(slo, NOW + timedelta(hours=2)).values()
    assert Incident.objects.filter(source="slo", meta__slo="test-slo").exists()
    shut, t = None, timedelta(0)
    while t <= timedelta(hours=2):
        shut = gate.evaluate(slo, NOW + t) or shut
        t += timedelta(minutes=15)
    assert shut is not None and shut.slo == slo


def test_the_card_shows_an_availability_only_slo(db, rf, feed):
    slo_import(OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml")
    feed(timezone.now() - timedelta(minutes=30), 20, service="the-service-name")
    html = render_to_string("slo/card.html", {"title": "SLOs", **dashboard.card_context(rf.get("/admin/"))})
    assert 'data-slo="test-slo"' in html
    assert "availability only: no latency objective" in html


def test_a_yaml_sequence_without_time_window_takes_the_console_window(db, settings):
    settings.SLO_WINDOW_DAYS = 14
    out = slo_import(OPENSLO / "v1_slos.yaml")
    slo = Slo.objects.get(name="foo-slo")
    assert (slo.service, slo.window_days, slo.error_budget_pct) == ("foo", 14, pytest.approx(2.0))
    assert "no spec.timeWindow: the console's 14-day rolling window" in out


def test_an_indicator_ref_slo_imports(db):
    slo_import(OPENSLO / "slo-indicatorref-rolling-no-alerts.yaml")
    slo = Slo.objects.get(name="test-slo")
    assert (slo.service, slo.window_days, slo.error_budget_pct) == ("the-service-name", 1, pytest.approx(2.0))


def test_services_and_slis_in_the_same_file_are_skipped_with_a_note(db, tmp_path):
    out = slo_import(
        OPENSLO / "two_documents.yaml",
        OPENSLO / "slis.yaml",
        OPENSLO / "slo-indicatorref-rolling-no-alerts.yaml",
        tmp_path=tmp_path,
    )
    assert list(Slo.objects.values_list("name", flat=True)) == ["test-slo"]
    assert "note: document 1 (users-auth): kind Service skipped" in out
    assert "note: document 3 (search-availability): kind SLI skipped" in out


def test_a_latency_threshold_example_imports_its_objective(db):
    out = slo_import(OPENSLO / "occurences-slo.yaml")
    slo = Slo.objects.get(name="search-slo")
    assert (slo.service, slo.window_days, slo.p95_ms, slo.p99_ms) == ("web-shop", 14, None, 500)
    assert "no availability objective" in out


@pytest.mark.parametrize(
    "name, field",
    [
        ("ratio-timeslices.yaml", r"document 1 \(main-page\): spec.budgetingMethod: only Occurrences"),
        ("v1-examples-slos.yaml", r"document 1 \(web-availability\): spec.budgetingMethod"),
        ("slo-no-indicatorref-calendar-no-alerts.yaml", r"document 1 \(test-slo\): spec.timeWindow\[0\].calendar"),
    ],
)
def test_what_the_console_cannot_express_is_refused_naming_document_and_field(db, name, field):
    with pytest.raises(CommandError, match=field):
        slo_import(OPENSLO / name)
    assert not Slo.objects.exists()


@pytest.mark.parametrize(
    "duration, days",
    [("1M", 30), ("4w", 28), ("28d", 28), ("720h", 30), ("1Q", 90), ("1Y", 365), ("1440m", 1), ("86400s", 1)],
)
def test_every_duration_shorthand_of_the_spec(db, tmp_path, duration, days):
    path = tmp_path / "slo.yaml"
    path.write_text((OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml").read_text().replace("1M", duration))
    slo_import(path)
    assert Slo.objects.get().window_days == days


@pytest.mark.parametrize("duration", ["90m", "2Y", "0d", "1x"])
def test_a_window_the_console_cannot_hold_names_the_duration(db, tmp_path, duration):
    path = tmp_path / "slo.yaml"
    path.write_text((OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml").read_text().replace("1M", duration))
    with pytest.raises(CommandError, match=r"spec.timeWindow\[0\].duration"):
        slo_import(path)


def test_sloth_getting_started_imports_with_format_sloth_and_shows_status(db, feed, analyst_api):
    out = slo_import(SLOTH / "getting-started.yml", file_format="sloth")
    slo = Slo.objects.get(name="myservice-requests-availability")
    assert (slo.service, slo.p95_ms, slo.p99_ms) == ("myservice", None, None)
    assert slo.error_budget_pct == pytest.approx(0.1)
    assert "created myservice-requests-availability" in out
    feed(timezone.now() - timedelta(minutes=60), 55, service="myservice")
    report = analyst_api.get("/api/slo/status?slo=myservice-requests-availability&period=24h").json()
    assert report["requests"] == 3300 and report["burn_alert"] == "OK"


def test_a_sloth_spec_with_several_slos_makes_one_each(db):
    out = slo_import(SLOTH / "home-wifi.yml", file_format="sloth")
    budgets = dict(Slo.objects.values_list("name", "error_budget_pct"))
    assert budgets == {
        "home-wifi-good-wifi-client-satisfaction": pytest.approx(5.0),
        "home-wifi-risk-wifi-client-satisfaction": pytest.approx(0.1),
    }
    # Its error queries count unhappy wifi clients, not HTTP statuses: the console's default, said.
    assert set(Slo.objects.values_list("error_statuses", flat=True)) == {"5xx"}
    assert "errors: 5xx, as its error query names no status codes" in out


@pytest.mark.parametrize("name", ["getting-started.yml", "no-alerts.yml"])
def test_the_statuses_a_sloth_error_query_counts_are_the_slos_errors(db, name):
    slo_import(SLOTH / name, file_format="sloth")  # code=~"(5..|429)" in both
    assert Slo.objects.get().error_statuses == "5xx, 429"
    assert Slo.objects.get().error_codes() == set(range(500, 600)) | {429}


def test_a_sloth_file_read_as_openslo_says_to_use_format_sloth(db):
    with pytest.raises(CommandError, match="--format sloth"):
        slo_import(SLOTH / "getting-started.yml")


def test_a_bad_sloth_objective_names_the_sloth_field(db, tmp_path):
    path = tmp_path / "sloth.yml"
    path.write_text((SLOTH / "getting-started.yml").read_text().replace("objective: 99.9", "objective: 120"))
    with pytest.raises(CommandError, match=r"slos\[0\] \(requests-availability\): slos\[0\].objective"):
        slo_import(path, file_format="sloth")
    assert not Slo.objects.exists()


def test_a_sloth_name_the_console_cannot_take_names_sloths_fields(db, tmp_path):
    path = tmp_path / "sloth.yml"
    path.write_text(
        (SLOTH / "getting-started.yml").read_text().replace('"requests-availability"', '"requests availability"')
    )
    with pytest.raises(CommandError, match=r"service and slos\[\]\.name \(the SLO is named <service>-<name>\): Enter"):
        slo_import(path, file_format="sloth")
    assert not Slo.objects.exists()


def test_an_openslo_file_read_as_sloth_is_refused(db):
    with pytest.raises(CommandError, match="version: must be 'prometheus/v1'"):
        slo_import(OPENSLO / "v1_slos.yaml", file_format="sloth")


def test_export_of_an_availability_only_slo_round_trips(db):
    slo_import(OPENSLO / "slo-no-indicatorref-rolling-alerts.yaml")
    (doc,) = openslo.export_all()
    assert doc["spec"]["objectives"] == [{"displayName": "availability", "target": 0.98}]
    Slo.objects.all().delete()
    openslo.import_text(openslo.yaml.safe_dump(doc))
    assert (Slo.objects.get().p95_ms, Slo.objects.get().error_budget_pct) == (None, pytest.approx(2.0))
