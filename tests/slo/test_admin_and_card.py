"""The admin screens (lift with a note, rebaseline), the dashboard card and the demo data."""

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from slo import demo, gate
from slo.models import GateShut, Rollup, Slo


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def shut(slo):
    return GateShut.objects.create(slo=slo, shut_at=timezone.now(), reason="SLO api: burn 3.1x", burn=3.1)


def test_lifting_from_the_admin_asks_for_a_note_then_lifts(staff, shut):
    gate.sync()
    assert gate.flag_path().exists()
    url = "/admin/slo/gateshut/"
    page = staff.post(url, {"action": "lift", "_selected_action": [shut.pk]})
    assert page.status_code == 200 and b"Note (required)" in page.content
    shut.refresh_from_db()
    assert shut.lifted_at is None
    done = staff.post(
        url, {"action": "lift", "_selected_action": [shut.pk], "apply": "1", "note": "rolled back"}, follow=True
    )
    assert b"Lifted 1 gate shut" in done.content
    shut.refresh_from_db()
    assert shut.lifted_at is not None and shut.lift_note == "rolled back" and shut.lifted_by == "admin:ops"
    assert not gate.flag_path().exists()


def test_the_gate_list_says_shut_and_shows_burn_to_two_places(staff, slo):
    GateShut.objects.create(slo=slo, shut_at=timezone.now(), reason="SLO api: burn 3.14159x", burn=3.14159)
    html = staff.get("/admin/slo/gateshut/").content.decode()
    assert ">shut</strong>" in html and "3.14x" in html
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC</", html)  # the time says its zone
    assert "CRITICAL" not in html and "3.14159</td>" not in html


def test_the_lift_form_opens_by_link_and_lifts_every_open_shut_with_its_note(staff, shut):
    form = staff.get("/admin/slo/gateshut/lift/")
    assert form.status_code == 200 and b"Note (required)" in form.content and b"burn 3.1x" in form.content
    done = staff.post(
        "/admin/slo/gateshut/lift/", {"_selected_action": [shut.pk], "apply": "1", "note": "rolled back"}, follow=True
    )
    assert b"Lifted 1 gate shut" in done.content and b"Deploy gate: open" in done.content
    shut.refresh_from_db()
    assert shut.lift_note == "rolled back" and shut.lifted_by == "admin:ops"


def test_an_slo_below_its_min_events_shows_no_burn_only_that_it_waits_for_data(staff, slo, feed):
    feed(timezone.now() - timedelta(minutes=5), 1, per_minute=6, error_share=1.0)  # six cold-start errors
    html = staff.get("/admin/").content.decode()
    row = html[html.index('data-slo="api"') :]
    row = row[: row.index("budget left")]
    assert "waiting for data" in row and "x /" not in row


def test_the_new_slo_form_starts_with_the_readmes_defaults(staff):
    form = staff.get("/admin/slo/slo/add/").context["adminform"].form
    assert {name: form[name].value() for name in ("p95_ms", "p99_ms", "error_budget_pct", "window_days")} == {
        "p95_ms": 800,
        "p99_ms": 1200,
        "error_budget_pct": 1.0,
        "window_days": 30,
    }
    assert form["min_events"].value() == 100
    assert staff.get("/admin/slo/slo/add/?min_events=15").context["adminform"].form["min_events"].value() == "15"


def test_lift_without_a_note_is_refused(staff, shut):
    staff.post("/admin/slo/gateshut/", {"action": "lift", "_selected_action": [shut.pk], "apply": "1", "note": " "})
    shut.refresh_from_db()
    assert shut.lifted_at is None


def test_rebaseline_action(staff, slo):
    response = staff.post("/admin/slo/slo/", {"action": "rebaseline", "_selected_action": [slo.pk]}, follow=True)
    assert b"Rebaselined 1 SLO" in response.content
    slo.refresh_from_db()
    assert slo.baseline_at is not None


@pytest.mark.parametrize(
    "url",
    [
        "/admin/slo/slo/",
        "/admin/slo/slotick/",
        "/admin/slo/gateshut/",
        "/admin/slo/recoveryrequest/",
        "/admin/slo/ingestcursor/",
    ],
)
def test_admin_screens_render(staff, slo, url):
    assert staff.get(url).status_code == 200


def test_card_shows_red_yellow_green_and_the_gate(staff, slo, feed):
    now = timezone.now()
    feed(now - timedelta(hours=3), 120, per_minute=30)
    html = staff.get("/admin/").content.decode()
    assert 'data-state="OK"' in html and "ep-state-ok" in html and "Deploy gate: open" in html
    assert "<polyline" in html and "slo-rebaseline" in html
    feed(now - timedelta(minutes=50), 40, per_minute=30, error_share=0.05, seed=2)  # ~1.25% of all: 1.25x
    GateShut.objects.create(slo=slo, shut_at=now, reason="SLO api: burn 2.4x", burn=2.4)
    html = staff.get("/admin/").content.decode()
    assert re.findall(r"data-state=\"(\w+)\"", html)[0] in ("WATCH", "WARNING")
    assert "Deploy gate: SHUT" in html and "burn 2.4x" in html and "slo-lift-gate" in html
    feed(now - timedelta(minutes=30), 30, per_minute=60, error_share=0.5, seed=3)
    html = staff.get("/admin/").content.decode()
    assert 'data-state="CRITICAL"' in html and "ep-state-critical" in html


def test_demo_loads_a_day_with_a_bad_hour_quickly_and_twice_safely(db):
    now = timezone.now()
    started = time.monotonic()
    summary = demo.load(now)
    assert time.monotonic() - started < 10
    assert "one bad hour" in summary
    assert "already loaded" in demo.load(now)
    shop = Slo.objects.get(name="shop")
    from slo import services

    day = services.status(shop, "24h", now)
    assert day["requests"] > 100_000
    bad_hour = services.read_window(
        shop, int(now.timestamp()) // 60 * 60 - 4 * 3600, int(now.timestamp()) // 60 * 60 - 3 * 3600
    )
    assert bad_hour.error_rate > 0.05 and day["error_rate"] < 0.01
    # The day and 29 days of history before it, for 5 routes and all routes together: 30 or 31 days.
    assert Rollup.objects.filter(service="shop", resolution="d").count() <= 31 * 6


@pytest.mark.parametrize("p95, p99", [("-5", "800"), ("300", "abc"), ("900", "800")])
def test_a_bad_objective_on_the_add_form_is_a_form_error(staff, p95, p99):
    response = staff.post(
        "/admin/slo/slo/add/",
        {
            "name": "checkout",
            "service": "api",
            "route": "*",
            "p95_ms": p95,
            "p99_ms": p99,
            "error_budget_pct": "1",
            "window_days": "30",
            "error_statuses": "5xx",
            "min_events": "100",
        },
    )
    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert not Slo.objects.filter(name="checkout").exists()


def test_blank_latency_objectives_on_the_add_form_make_an_availability_only_slo(staff):
    response = staff.post(
        "/admin/slo/slo/add/",
        {
            "name": "checkout",
            "service": "api",
            "route": "*",
            "p95_ms": "",
            "p99_ms": "",
            "error_budget_pct": "1",
            "window_days": "30",
            "error_statuses": "5xx",
            "min_events": "100",
        },
    )
    assert response.status_code == 302
    assert Slo.objects.get(name="checkout").latency_objectives() == {}


@pytest.mark.parametrize("note", ["rolled\x00back", "x" * 2001])
def test_lift_with_a_note_the_api_would_refuse_is_refused(staff, shut, note):
    response = staff.post(
        "/admin/slo/gateshut/",
        {"action": "lift", "_selected_action": [shut.pk], "apply": "1", "note": note},
        follow=True,
    )
    assert response.status_code == 200 and b"at most 2,000 characters" in response.content
    shut.refresh_from_db()
    assert shut.lifted_at is None


@pytest.fixture
def two_shuts(slo):
    """The gate held by two SLOs, as after a bad deploy that hurt both the shop and s5."""
    s5 = Slo.objects.create(name="s5", service="s5", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30)
    shop = GateShut.objects.create(slo=slo, shut_at=timezone.now(), reason="SLO api: burn 3.1x", burn=3.1)
    other = GateShut.objects.create(slo=s5, shut_at=timezone.now(), reason="SLO s5: burn 2.6x", burn=2.6)
    gate.sync()
    return shop, other


def _lift(client, shut, note="rolled back"):
    return client.post(
        "/admin/slo/gateshut/",
        {"action": "lift", "_selected_action": [shut.pk], "apply": "1", "note": note},
        follow=True,
    ).content.decode()


def test_lifting_one_of_two_shuts_says_the_gate_is_still_shut_and_by_which(staff, two_shuts):
    shop, other = two_shuts
    page = _lift(staff, shop)
    assert "Lifted 1 gate shut(s)" in page and "may go ahead" not in page
    assert f"still SHUT by #{other.pk} (SLO s5" in page
    assert gate.is_active() and gate.flag_path().exists()


def test_lifting_an_already_lifted_shut_does_not_say_deploys_may_go_ahead(staff, two_shuts):
    shop, other = two_shuts
    gate.lift(shop, by="ops", note="first")
    page = _lift(staff, shop)
    assert "Lifted 0 gate shut(s)" in page and "may go ahead" not in page and f"still SHUT by #{other.pk}" in page


def test_lifting_the_last_shut_says_the_gate_is_open(staff, two_shuts):
    shop, other = two_shuts
    gate.lift(shop, by="ops", note="first")
    page = _lift(staff, other)
    assert "Lifted 1 gate shut(s); the deploy gate is open; deploys may go ahead." in page
    assert not gate.is_active()


@pytest.fixture
def viewer(staff_with):
    """A staff user who may look at every SLO screen and change nothing."""
    return staff_with("slo.view_*")


@pytest.mark.parametrize("url, action", [("/admin/slo/slo/", "rebaseline"), ("/admin/slo/gateshut/", "lift")])
def test_a_view_only_user_is_not_offered_the_actions_that_change_rows(viewer, slo, shut, url, action):
    page = viewer.get(url)
    assert page.status_code == 200 and f'value="{action}"' not in page.content.decode()


def test_a_view_only_user_cannot_rebaseline(viewer, slo):
    viewer.post("/admin/slo/slo/", {"action": "rebaseline", "_selected_action": [slo.pk]})
    slo.refresh_from_db()
    assert slo.baseline_at is None


def test_a_view_only_user_cannot_lift_the_gate(viewer, shut):
    viewer.post(
        "/admin/slo/gateshut/", {"action": "lift", "_selected_action": [shut.pk], "apply": "1", "note": "rolled back"}
    )
    shut.refresh_from_db()
    assert shut.lifted_at is None


def test_a_user_who_may_change_gate_shuts_is_offered_the_lift(viewer, shut):
    user = User.objects.get(username="staffer")
    user.user_permissions.add(Permission.objects.get(codename="change_gateshut"))
    assert 'value="lift"' in viewer.get("/admin/slo/gateshut/").content.decode()


def _add_slo(client, **fields):
    return client.post(
        "/admin/slo/slo/add/",
        {
            "name": "checkout",
            "service": "api",
            "route": "*",
            "p95_ms": "300",
            "p99_ms": "800",
            "error_budget_pct": "1",
            "window_days": "30",
            "error_statuses": "5xx",
            "min_events": "100",
            **fields,
        },
    )


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("p95_ms", "1e300", "less than or equal to 3600000"),
        ("p99_ms", "3600001", "less than or equal to 3600000"),
        ("error_statuses", "6xx,999", "not a status class or code: &#x27;6xx&#x27;, &#x27;999&#x27;"),
        ("error_statuses", "5xx, oops", "not a status class or code: &#x27;oops&#x27;"),
        ("error_statuses", "5xx,", "not a status class or code: &#x27;&#x27;"),
        ("min_events", "99999999999", "less than or equal to 1000000000"),
    ],
)
def test_the_add_form_refuses_objectives_statuses_and_minimums_out_of_range(staff, field, value, message):
    response = _add_slo(staff, **{field: value})
    assert response.status_code == 200 and message in response.content.decode()
    assert not Slo.objects.filter(name="checkout").exists()


def test_the_add_form_takes_status_classes_and_codes_at_the_edges_of_their_range(staff):
    response = _add_slo(staff, p99_ms="3600000", error_statuses="1xx, 5XX, 100, 599", min_events="1000000000")
    assert response.status_code == 302
    slo = Slo.objects.get(name="checkout")
    assert slo.error_codes() == set(range(100, 200)) | set(range(500, 600))


def _card_row(html: str, name: str) -> str:
    return html.split(f'class="slo-row" data-slo="{name}"')[1].split('class="slo-row"')[0]


def test_card_shows_every_burn_with_two_decimals_and_the_error_rate_as_a_percentage(staff, slo, feed):
    from slo import services

    now = timezone.now()
    feed(now - timedelta(days=3), 120, per_minute=30, error_share=0.004, seed=4)
    feed(now - timedelta(hours=3), 120, per_minute=30, error_share=0.01, seed=5)
    row = _card_row(staff.get("/admin/").content.decode(), "api")
    report = services.status(slo, "24h", now)
    daily, weekly = re.search(r"burn 24h / 7d</td><td>([\d.]+)x / ([\d.]+)x", row).groups()
    assert (daily, weekly) == (f"{report['daily_burn']:.2f}", f"{report['weekly_burn']:.2f}")
    assert all(re.fullmatch(r"\d+\.\d\d", burn) for burn in re.findall(r"max ([\d.]+)x", row))
    assert f"error rate {100 * report['error_rate']:.2f}%" in row


def test_a_few_requests_on_an_empty_database_are_not_enough_to_judge(staff, settings):
    import numpy as np

    from slo import ingest

    settings.SLO_MIN_EVENTS = 100
    at = timezone.now().timestamp() - 60
    ingest.ingest(
        ingest.Samples(
            np.array([at, at + 1]),
            np.array([120.0, 3000.0]),
            np.array([200, 500]),
            np.zeros(2, dtype=np.int64),
            [("console", "/admin/")],
        )
    )
    row = _card_row(staff.get("/admin/").content.decode(), "console")
    assert 'data-state="NO_DATA"' in row and "not enough data yet" in row
    assert "CRITICAL" not in row and "ep-state-critical" not in row and "-4900" not in row
    assert "not enough data yet (2 of 100 requests)" in row
