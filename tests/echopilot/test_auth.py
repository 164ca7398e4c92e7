"""X-Dash-Key: who may call what."""

import time

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from echopilot.auth import resolve_key
from echopilot.models import DashKey, hash_key

pytestmark = pytest.mark.django_db

# DESIGN.md marks these public; every other /api/ endpoint must refuse a request without a key.
PUBLIC_API = {"/api/portal/download", "/api/portal/stripe/webhook", "/api/schema/", "/api/docs/"}


def api_paths():
    """Every concrete URL under /api/, with a dummy value for any path parameter."""
    paths = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + route)
            elif isinstance(entry, URLPattern):
                paths.append(prefix + route)

    walk(get_resolver().url_patterns, "/")
    concrete = set()
    for path in paths:
        if not path.startswith("/api/"):
            continue
        path = path.lstrip("^").rstrip("$").replace("\\Z", "")
        for token in ("<int:pk>", "<pk>", "<int:id>", "<str:pk>", "<slug:slug>", "<uuid:uuid>"):
            path = path.replace(token, "1")
        if "<" in path or "(" in path:
            path = path.split("<")[0].split("(")[0] + "1"
        concrete.add(path)
    return sorted(concrete)


def keyed_api_paths():
    return [path for path in api_paths() if path not in PUBLIC_API]


def test_the_walk_finds_the_api():
    paths = api_paths()
    assert "/api/queue/status" in paths
    assert "/api/schema/" in paths
    assert PUBLIC_API <= set(paths)  # a renamed public endpoint must not drop out of the checks below


@pytest.mark.parametrize("path", keyed_api_paths())
def test_every_api_endpoint_refuses_a_request_without_a_key(client, path):
    answers = {}
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)(path, content_type="application/json")
        answers[method] = response.status_code
        if response.status_code == 401 and response["Content-Type"] == "application/json":
            assert "error" in response.json()
    # 405 only says a method is not served; every method that is served must be refused.
    assert set(answers.values()) <= {401, 405}, f"{path} answered {answers}"
    assert 401 in answers.values(), f"{path} answered {answers}"


@pytest.mark.parametrize("path", keyed_api_paths())
def test_every_api_endpoint_refuses_an_unknown_key(client, path):
    answers = {
        method: getattr(client, method)(path, HTTP_X_DASH_KEY="ep_00000000_not-a-real-key").status_code
        for method in ("get", "post")
    }
    assert set(answers.values()) <= {401, 405} and 401 in answers.values(), f"{path} answered {answers}"


def test_admin_key_reads_queue_status(api):
    response = api.get("/api/queue/status")
    assert response.status_code == 200
    assert set(response.json()) >= {"queue_depth", "running_clusters", "recent_failures", "broker"}


def test_missing_key_is_401_with_json_error(client):
    response = client.get("/api/queue/status")
    assert response.status_code == 401
    assert response.json() == {"error": "X-Dash-Key header is required", "fields": {}}


def test_analyst_may_read_but_not_write(analyst_api):
    assert analyst_api.get("/api/queue/status").status_code == 200
    response = analyst_api.post("/api/queue/status", {}, content_type="application/json")
    assert response.status_code == 403


def test_revoked_key_is_refused(client):
    key, raw = DashKey.issue("old", DashKey.ADMIN)
    key.revoked = timezone.now()
    key.save()
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 401


def test_a_key_edited_in_this_process_is_judged_afresh(client):
    key, raw = DashKey.issue("ops", DashKey.ADMIN)
    assert client.post("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code != 403
    key.role = DashKey.ANALYST
    key.save()
    assert client.post("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 403
    key.revoked = timezone.now()
    key.save()
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 401


def test_a_resolved_key_costs_no_query_until_its_cache_time_ends(
    client, settings, monkeypatch, django_assert_num_queries
):
    settings.DASH_KEY_CACHE_S = 5
    key, raw = DashKey.issue("ops", DashKey.ADMIN)
    assert resolve_key(raw).name == "ops"
    with django_assert_num_queries(0):
        assert resolve_key(raw).name == "ops"
    # Revoked by another process (no signal reaches this one): refused once the cache time is over.
    DashKey.objects.filter(pk=key.pk).update(revoked=timezone.now())
    assert resolve_key(raw) is not None
    later = time.monotonic() + 5.1
    monkeypatch.setattr("echopilot.auth.time.monotonic", lambda: later)
    assert resolve_key(raw) is None


def test_key_cache_can_be_turned_off(settings):
    settings.DASH_KEY_CACHE_S = 0
    key, raw = DashKey.issue("ops", DashKey.ADMIN)
    assert resolve_key(raw) is not None
    DashKey.objects.filter(pk=key.pk).update(revoked=timezone.now())
    assert resolve_key(raw) is None


def test_key_is_stored_hashed_and_only_its_prefix_is_visible():
    key, raw = DashKey.issue("ops", DashKey.ADMIN)
    stored = DashKey.objects.get(pk=key.pk)
    assert raw not in (stored.key_hash, stored.prefix, str(stored))
    assert stored.key_hash == hash_key(raw)
    assert raw.startswith(f"ep_{stored.prefix}_")


def test_a_key_with_a_known_prefix_but_wrong_secret_is_refused():
    key, raw = DashKey.issue("ops", DashKey.ADMIN)
    assert resolve_key(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert resolve_key(raw).role == DashKey.ADMIN


def test_last_used_is_recorded(client):
    key, raw = DashKey.issue("ops", DashKey.ANALYST)
    client.get("/api/queue/status", HTTP_X_DASH_KEY=raw)
    key.refresh_from_db()
    assert key.last_used is not None


def test_dashboard_key_from_env_is_an_admin_key(client, settings):
    settings.DASHBOARD_KEY = "env-admin-secret"
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY="env-admin-secret").status_code == 200
    holder = resolve_key("env-admin-secret")
    assert holder.role == DashKey.ADMIN


def test_roles_json_gives_further_keys_their_role(client, settings):
    settings.ROLES_JSON = {"reader-secret": "analyst", "bogus-secret": "superuser"}
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY="reader-secret").status_code == 200
    assert client.post("/api/queue/status", HTTP_X_DASH_KEY="reader-secret").status_code == 403
    # A role the console does not know grants nothing.
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY="bogus-secret").status_code == 401


def test_a_staff_session_with_the_analyst_permission_reads_the_browsable_api_but_cannot_write(staff_with):
    client = staff_with("echopilot.api_analyst")
    response = client.get("/api/queue/status", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Queue Status" in response.content or b"queue_depth" in response.content
    assert (
        client.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 0}, content_type="application/json").status_code
        == 403
    )


def test_a_staff_session_with_the_admin_permission_writes(staff_with):
    client = staff_with("echopilot.api_admin")
    response = client.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 7}, content_type="application/json")
    assert response.status_code == 200, response.content


def test_being_staff_alone_gives_no_api_role(staff_with):
    """Staff status lets a user into the admin; customers' receipts and the caps need a role."""
    client = staff_with()
    assert client.get("/api/portal/receipts?email=ana@example.com").status_code == 403
    refused = client.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 0}, content_type="application/json")
    assert refused.status_code == 403
    assert "permission" in refused.json()["error"]


def test_a_superuser_session_is_an_admin(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 7}, content_type="application/json")
    assert response.status_code == 200, response.content


def test_a_non_staff_session_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user("customer", password="pw")
    client.force_login(user)
    assert client.get("/api/queue/status").status_code == 403


def test_the_key_never_appears_in_an_error(client):
    secret = "ep_12345678_supersecretvalue"
    response = client.get("/api/queue/status", HTTP_X_DASH_KEY=secret)
    assert secret not in response.content.decode()
