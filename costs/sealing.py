"""The cost ledger in the audit chain: a usage report (SpendEntry) or a hold (CapReservation) made
through the API records on its own row who made it and from where, and its chain entry is
appended later, in bulk (`seal_unaudited`, every minute and before every audit_verify).

Why not at once, as every other API write is (echopilot.audit)? Every AI call the product makes
asks costs/authorize and reports to costs/usage, mostly through the fast path in front of Django
(echopilot.fastpath): an entry per call appended under the chain's one head lock would queue every
AI call on that lock, which the counters' shards exist to avoid. Sealing chains a minute's rows
under one lock.

A row is chained exactly once: the sealer locks the rows it chains (on PostgreSQL FOR UPDATE SKIP
LOCKED, so a second sealer running at once takes other rows; SQLite has one writer), appends their
entries and clears their mark in one transaction. A hold made inside a request AuditMiddleware
serves (the API through Django rather than the fast path) is chained by the model signals as it
commits and owes nothing here. A usage report never is (the ledger writes it in SQL, which sends
no signal), so it is sealed whichever way it came, and its request is not chained as a bare
`request` entry as well.
"""

from django.db import transaction
from django.db.models import Model

from echopilot import audit

from .models import CapReservation, SpendEntry

SEALED_MODELS: tuple[type[Model], ...] = (SpendEntry, CapReservation)
BATCH = 1000  # rows of each model a transaction: a minute of a busy console in one lock
MAX_BATCHES = 100  # a run stops there; the next minute's goes on with a backlog


def note_writer(entry: dict) -> None:
    """Who reports the ledger entry `entry`, when it is reported through the API: the chain then
    owes it an entry (the ledger's SQL sends no model signal)."""
    writer = audit.current_writer()
    if writer is not None:
        entry["actor"], entry["address"], entry["audit_pending"] = writer.actor, writer.address, True


def counted(entry: dict) -> None:
    """`entry` is in the ledger now: a request through Django that wrote it is chained by its row,
    not by a bare `request` entry."""
    if entry["audit_pending"]:
        audit.chained_by_owner()


def hold_writer() -> dict:
    """The actor, address and audit_pending of a hold made now: owed an entry when the model
    signals do not chain it (the fast path)."""
    writer = audit.current_writer()
    if writer is None:
        return {"actor": "", "address": "", "audit_pending": False}
    return {"actor": writer.actor, "address": writer.address, "audit_pending": not writer.signals_chain}


def seal_unaudited(limit: int = BATCH) -> int:
    """Chain up to `limit` rows of each ledger model that the chain still owes an entry, oldest
    first, in one transaction under one lock of the chain's head: each a `create` by the row's
    actor from its address, when the row was written. The entries appended."""
    with transaction.atomic():
        rows = [row for model in SEALED_MODELS for row in _locked_pending(model, limit)]
        if not rows:
            return 0
        rows.sort(key=lambda row: (row.created, row._meta.model_name, row.pk))
        audit.append_many([_entry(row) for row in rows])
        for model in SEALED_MODELS:
            sealed = [row.pk for row in rows if isinstance(row, model)]
            if sealed:
                model._base_manager.filter(pk__in=sealed).update(audit_pending=False)
    return len(rows)


def seal_all(batch: int = BATCH) -> int:
    """Seal batch after batch until a batch comes back short (or MAX_BATCHES): the entries appended.
    Registered with the kernel (echopilot.audit.seal_pending) and run every minute."""
    total = 0
    for _ in range(MAX_BATCHES):
        sealed = seal_unaudited(batch)
        total += sealed
        if sealed < batch:
            break
    return total


def _locked_pending(model: type[Model], limit: int) -> list:
    # The partial index on audit_pending holds only these rows, in id order.
    pending = model._base_manager.select_for_update(skip_locked=True).filter(audit_pending=True)
    return list(pending.order_by("pk")[:limit])


def _entry(row) -> dict:
    meta = row._meta
    return {
        "actor": row.actor,
        "address": row.address,
        "action": "create",
        "app_label": meta.app_label,
        "model": meta.model_name,
        "object_id": str(row.pk),
        "fields": ",".join(audit.created_fields(type(row))),
        "at": row.created,
    }
