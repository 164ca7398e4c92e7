from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from costs.models import CostCap
from echopilot import audit
from echopilot.models import AuditEntry, AuditHead, DashKey
from incidents.models import Incident
from tests.races import race

pytestmark = pytest.mark.django_db


def chain_of(n: int) -> list[AuditEntry]:
    start = timezone.now() - timedelta(minutes=n)
    return [
        audit.append(
            f"user:op{i}",
            "update",
            app_label="costs",
            model="costcap",
            object_id=i,
            fields="usd_cap",
            now=start + timedelta(seconds=i),
        )
        for i in range(1, n + 1)
    ]


# --- what gets recorded ---------------------------------------------------------------------------------


def test_an_api_write_is_audited_with_key_fields_and_address(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            "/api/costs/set-cap",
            {"scope": "daily", "usd_cap": "40"},
            content_type="application/json",
            REMOTE_ADDR="10.1.2.3",
        )
    assert answer.status_code == 200

    entries = list(AuditEntry.objects.filter(app_label="costs", model="costcap").order_by("seq"))
    assert entries and all(e.actor == "key:test-admin" and e.address == "10.1.2.3" for e in entries)
    # The caps from env are stored on first use; then the daily one changes.
    assert entries[-1].action == "update" and "usd_cap" in entries[-1].fields.split(",")
    assert audit.verify_chain()["ok"]


def test_an_admin_change_names_only_the_fields_that_changed(admin_client, django_capture_on_commit_callbacks):
    key, _ = DashKey.issue("grafana", DashKey.ANALYST)
    assert not AuditEntry.objects.exists()  # written outside a request: not an operator's admin/API write

    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            f"/admin/echopilot/dashkey/{key.pk}/change/",
            {
                "name": "grafana-prod",
                "role": DashKey.ANALYST,
                "expires_0": "",
                "expires_1": "",
                "revoked_0": "",
                "revoked_1": "",
            },
        )
    assert answer.status_code == 302

    entry = AuditEntry.objects.get(model="dashkey")
    assert entry.actor == "user:admin" and entry.action == "update"
    assert entry.object_id == str(key.pk) and entry.fields == "name"


def test_an_admin_action_without_model_signals_is_audited_as_one_request(
    admin_client, django_capture_on_commit_callbacks
):
    key, _ = DashKey.issue("ci", DashKey.ADMIN)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/echopilot/dashkey/", {"action": "revoke", "_selected_action": [key.pk]})

    entry = AuditEntry.objects.get(action="request")
    assert (entry.app_label, entry.model, entry.object_id, entry.fields) == (
        "echopilot",
        "dashkey",
        str(key.pk),
        "action:revoke",
    )


def test_reads_and_refused_writes_leave_no_entry(api, analyst_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.get("/api/costs/status")
        api.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": "-1"}, content_type="application/json")
        analyst_api.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": "5"}, content_type="application/json")
    assert not AuditEntry.objects.exists()


def test_a_rolled_back_write_leaves_no_entry():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.append_on_commit(actor="user:x", action="create", model="costcap", object_id="1")
        raise RuntimeError("rolled back")
    assert not AuditEntry.objects.exists()


# --- appending in bulk -------------------------------------------------------------------------------------


def test_append_many_continues_the_chain_under_one_head():
    audit.append("user:op", "update", app_label="costs", model="costcap", object_id=1, fields="usd_cap")
    batch = [{"actor": f"key:k{n}", "action": "create", "model": "spendentry", "object_id": n} for n in range(3)]

    appended = audit.append_many(batch)

    assert [e.seq for e in appended] == [2, 3, 4]
    assert audit.chain_head() == {"seq": 4, "hash": appended[-1].hash}
    assert audit.verify_chain() == {"ok": True, "checked": 4, "break": None}
    assert audit.append_many([]) == []


def test_a_writer_is_known_inside_writing_as_and_chained_by_no_signal():
    assert audit.current_writer() is None
    with audit.writing_as("key:script", "10.0.0.7") as writer:
        assert audit.current_writer() == writer
        assert (writer.actor, writer.address, writer.signals_chain) == ("key:script", "10.0.0.7", False)
        DashKey.issue("made-inside", DashKey.ANALYST)
    assert audit.current_writer() is None
    assert not AuditEntry.objects.exists()  # no signal chains a write made outside a request


def test_seal_pending_runs_every_registered_sealer(monkeypatch):
    monkeypatch.setattr(audit, "_sealers", [])
    audit.register_sealer(lambda: 2)
    audit.register_sealer(lambda: 3)
    assert audit.seal_pending() == 5


# --- verifying -------------------------------------------------------------------------------------------


def test_an_untouched_chain_verifies():
    chain_of(20)
    result = audit.verify_chain()
    assert result == {"ok": True, "checked": 20, "break": None}


def test_an_edited_entry_is_named():
    chain_of(10)
    AuditEntry.objects.filter(seq=4).update(actor="user:someone-else")

    found = audit.verify_chain()["break"]

    assert (found["kind"], found["seq"]) == ("changed", 4)


def test_an_inserted_entry_is_named():
    entries = chain_of(10)
    # Make room after #5 and put a plausible forgery there, linked to #5 as a real one would be.
    for seq in range(10, 5, -1):
        AuditEntry.objects.filter(seq=seq).update(seq=seq + 1)
    AuditEntry.objects.create(
        seq=6,
        at=entries[4].at,
        actor="user:mallory",
        action="delete",
        app_label="costs",
        model="costcap",
        object_id="9",
        fields="",
        prev_hash=entries[4].hash,
        hash="f" * 64,
    )

    found = audit.verify_chain()["break"]

    assert (found["kind"], found["seq"]) == ("inserted", 6)


def test_a_copied_entry_inserted_is_named():
    entries = chain_of(6)
    for seq in range(6, 3, -1):
        AuditEntry.objects.filter(seq=seq).update(seq=seq + 1)
    copy = entries[2]  # #3, duplicated verbatim as #4
    AuditEntry.objects.create(
        **{f.attname: getattr(copy, f.attname) for f in AuditEntry._meta.concrete_fields if not f.primary_key}
        | {"seq": 4}
    )

    found = audit.verify_chain()["break"]

    assert (found["kind"], found["seq"]) == ("inserted", 4)


def test_a_deleted_entry_is_named():
    chain_of(10)
    AuditEntry.objects.filter(seq=7).delete()

    found = audit.verify_chain()["break"]

    assert (found["kind"], found["seq"]) == ("removed", 8)
    assert "#7-#7 missing" in found["message"]


def test_a_deleted_last_entry_is_found_against_the_head():
    chain_of(5)
    AuditEntry.objects.filter(seq=5).delete()

    found = audit.verify_chain()["break"]

    assert found["kind"] == "removed" and "after #4" in found["message"]


def test_audit_verify_command_names_the_break_and_pages():
    chain_of(5)
    AuditEntry.objects.filter(seq=2).update(fields="usd_cap,key")

    with pytest.raises(CommandError, match="entry #2 was changed"):
        call_command("audit_verify")

    assert Incident.objects.get(source="ops").severity == "CRITICAL"


def test_entries_hashed_under_another_key_do_not_verify(settings):
    chain_of(3)
    settings.AUDIT_CHAIN_KEY = "a-key-an-attacker-guessed"
    assert audit.verify_chain()["break"]["seq"] == 1


# --- the API ----------------------------------------------------------------------------------------------


def test_chain_lists_entries_after_since_for_an_analyst(analyst_api):
    chain_of(6)

    body = analyst_api.get("/api/audit/chain?since=3&limit=2").json()

    assert [e["seq"] for e in body["entries"]] == [4, 5]
    assert body["next_since"] == 5 and body["head"]["seq"] == 6
    assert body["entries"][0]["fields"] == ["usd_cap"] and body["entries"][1]["prev_hash"] == body["entries"][0]["hash"]


def test_chain_refuses_a_bad_limit_naming_it(analyst_api, settings):
    settings.AUDIT_CHAIN_PAGE_MAX = 50
    answer = analyst_api.get("/api/audit/chain?limit=51")
    assert answer.status_code == 400 and "limit" in answer.json()["fields"]
    assert analyst_api.get("/api/audit/chain?since=-1").status_code == 400


def test_chain_needs_a_key(client):
    assert client.get("/api/audit/chain").status_code == 401


# --- races --------------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_writers_still_make_one_unbroken_chain():
    race(lambda n: audit.append(f"key:writer{n}", "create", app_label="costs", model="costcap", object_id=n), range(24))
    race(lambda n: audit.append(f"key:writer{n}", "update", app_label="costs", model="costcap", object_id=n), range(24))

    assert audit.verify_chain() == {"ok": True, "checked": 48, "break": None}
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 49))


def test_a_deleted_head_row_is_found():
    chain_of(3)
    AuditHead.objects.all().delete()
    assert audit.verify_chain()["break"]["kind"] == "removed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_api_writes_are_each_audited_in_one_unbroken_chain(admin_key):
    """Twelve clients set twelve model caps at once through the API: each write's entries land in
    one chain, nothing lost, nothing forked."""

    def set_cap(n):
        answer = Client().post(
            "/api/costs/set-cap",
            {"scope": "model", "key": f"model-{n}", "usd_cap": "5"},
            content_type="application/json",
            HTTP_X_DASH_KEY=admin_key,
        )
        return answer.status_code

    assert race(set_cap, range(12)) == [200] * 12

    result = audit.verify_chain()
    assert result["ok"], result
    caps = {str(pk) for pk in CostCap.objects.filter(key__startswith="model-").values_list("pk", flat=True)}
    created = AuditEntry.objects.filter(app_label="costs", model="costcap", action="create", object_id__in=caps)
    assert len(caps) == 12 and sorted(created.values_list("object_id", flat=True)) == sorted(caps)
    assert set(created.values_list("actor", flat=True)) == {"key:test-admin"}
