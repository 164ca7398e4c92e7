"""The tamper-evident audit chain: every write through the admin or the API, chained by HMAC.

Each entry says who (a user or a key name), what (app, model, object id, the names of the fields
written), when and from which address. Its `hash` is HMAC-SHA256 under AUDIT_CHAIN_KEY over its
fields and the previous entry's hash, so rewriting, inserting or deleting a row breaks the chain
where it happened, and forging a replacement needs the key, not just the database.

Entries are appended when the write's transaction commits (a rolled-back write leaves none), one at
a time under a row lock on the chain's head, so writers that race still make one unbroken chain.
A write request whose writes send no model signal (a bulk update, an admin action) is recorded as
one entry for the request itself.

Writes too frequent to take the head's lock each (the costs fast path's ledger rows: one per AI
call) are recorded on their own rows instead, who and from where (`current_writer`), and chained
later in bulk by the app that owns them (`append_many`: one lock for a whole batch). The app
registers its sealer (`register_sealer`), so `seal_pending` chains everything owed before a verify.
"""

import hmac
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.db.transaction import Atomic
from django.http import HttpResponseBase
from django.utils import timezone

from .models import AuditEntry, AuditHead

log = logging.getLogger(__name__)

GENESIS = "0" * 64
SEPARATOR = "\x1f"
AUDITED_PREFIXES = ("/admin/", "/api/")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
# Bookkeeping that is not an operator's write: the chain itself, sessions, the admin's own log (its
# changes are audited as the model writes they are), the task queue's internals.
UNAUDITED = {
    ("echopilot", "auditentry"),
    ("echopilot", "audithead"),
    ("sessions", "session"),
    ("admin", "logentry"),
    ("contenttypes", "contenttype"),
}
UNAUDITED_APPS = {"django_q"}
# The server formats the time as canonical_at would: cheaper than a datetime per row, then isoformat.
_AT_AS_TEXT = """to_char("at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
VERIFY_COLUMNS = ("seq", "at", "actor", "address", "action", "app_label", "model", "object_id", "fields")


@dataclass
class RequestContext:
    """The write request being served: whose writes the signals are recording."""

    request: object
    recorded: int = 0
    old_values: dict = field(default_factory=dict)


_current: ContextVar[RequestContext | None] = ContextVar("audit_request", default=None)


# --- hashing -------------------------------------------------------------------------------------------


def canonical_at(at) -> str:
    if isinstance(at, str):
        return _canonical_sqlite_text(at)
    if at.tzinfo is not dt_timezone.utc:  # the database hands back UTC already: skip the conversion
        at = at.astimezone(dt_timezone.utc)
    return at.isoformat(timespec="microseconds")


def _canonical_sqlite_text(text: str) -> str:
    # SQLite keeps Django's naive UTC text, "2026-01-01 00:00:00[.ffffff]": read raw, it is made the
    # same ISO form a datetime gives, without parsing it into one first.
    if text[10] == "T":  # PostgreSQL's to_char gave the canonical form already
        return text
    if "." not in text:
        text += ".000000"
    return f"{text[:10]}T{text[11:]}+00:00"


def entry_hash(prev_hash: str, at: datetime, *values: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 over the previous hash, the time and the entry's text fields, in one fixed order."""
    message = SEPARATOR.join((prev_hash, canonical_at(at), *values)).encode()
    return hmac.digest(key or _key(), message, "sha256").hex()


def _key() -> bytes:
    return settings.AUDIT_CHAIN_KEY.encode()


# --- appending -----------------------------------------------------------------------------------------


def append(
    actor: str, action: str, *, address="", app_label="", model="", object_id="", fields="", now=None
) -> AuditEntry:
    """Append one entry to the chain now (in its own transaction, under the head's lock)."""
    entry = {"actor": actor, "action": action, "address": address, "app_label": app_label, "model": model}
    return append_many([{**entry, "object_id": object_id, "fields": fields, "at": now}])[0]


def append_many(entries: list[dict]) -> list[AuditEntry]:
    """Append `entries` in their order, in one transaction under one lock of the head: chaining a
    batch of N writes costs one lock and one insert, not N. Each is a dict of `append`'s arguments,
    with `at` (when the write happened; now when absent or None) in place of `now`."""
    if not entries:
        return []
    with transaction.atomic():
        head = _locked_head()
        seq, prev_hash = head.seq, head.hash or GENESIS
        now = timezone.now()
        rows = []
        for entry in entries:
            values = _stored_values(entry)
            at = entry.get("at") or now
            digest = entry_hash(prev_hash, at, *(values[name] for name in VERIFY_COLUMNS[2:]))
            seq += 1
            rows.append(AuditEntry(seq=seq, at=at, prev_hash=prev_hash, hash=digest, **values))
            prev_hash = digest
        AuditEntry.objects.bulk_create(rows)
        AuditHead.objects.filter(pk=head.pk).update(seq=seq, hash=prev_hash)
    return rows


def _stored_values(entry: dict) -> dict:
    """The entry's text fields cut to their columns' lengths, as they are hashed and stored."""
    return {
        "actor": entry["actor"][:200],
        "address": entry.get("address", "")[:64],
        "action": entry["action"][:20],
        "app_label": entry.get("app_label", "")[:100],
        "model": entry.get("model", "")[:100],
        "object_id": str(entry.get("object_id", ""))[:255],
        "fields": entry.get("fields", ""),
    }


def _locked_head() -> AuditHead:
    try:
        return AuditHead.objects.select_for_update().get(pk=1)
    except AuditHead.DoesNotExist:
        AuditHead.objects.get_or_create(pk=1)
        return AuditHead.objects.select_for_update().get(pk=1)


def append_on_commit(**entry) -> None:
    """Append when the current transaction commits (at once outside one); a failure is logged, never
    turned into an error for a write that has already committed."""

    def write() -> None:
        try:
            append(**entry)
        except Exception:
            log.exception("could not append an audit entry for %s", entry.get("object_id"))

    transaction.on_commit(write)


# --- who, from where: the request being served -------------------------------------------------------------


def actor_of(request) -> str:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    if hasattr(user, "role") and not hasattr(user, "get_username"):
        return key_actor(user.name)
    return f"user:{user.get_username()}"


def key_actor(name: str) -> str:
    """The actor of a write made with the dash key named `name`."""
    return f"key:{name}"


def address_of(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the caller typed unless a known proxy set it.
    return request.META.get("REMOTE_ADDR", "")


# --- writes chained later, by the app that owns their rows ----------------------------------------------------


@dataclass(frozen=True)
class Writer:
    """Who is writing now, and from where, for an app that records it on its own rows."""

    actor: str
    address: str
    # True inside a write request AuditMiddleware serves: the model signals chain its ORM writes as
    # they commit. A write they cannot see (raw SQL) is still owed an entry.
    signals_chain: bool


_writer: ContextVar[Writer | None] = ContextVar("audit_writer", default=None)


def current_writer() -> Writer | None:
    """The admin or API write being served (None outside one: a task, a command, a webhook)."""
    context = _current.get()
    if context is not None:
        return Writer(actor_of(context.request), address_of(context.request), signals_chain=True)
    return _writer.get()


@contextmanager
def writing_as(actor: str, address: str) -> Iterator[Writer]:
    """Writes made inside are `actor`'s from `address`, and no signal chains them: for a request
    answered in front of Django (echopilot.fastpath), whose rows' owner records them and has them
    chained in bulk."""
    writer = Writer(actor, address, signals_chain=False)
    token = _writer.set(writer)
    try:
        yield writer
    finally:
        _writer.reset(token)


def chained_by_owner() -> None:
    """The write request being served wrote a row its app records and chains later (see
    `register_sealer`): no `request` entry is to stand for the request."""
    context = _current.get()
    if context is not None:
        context.recorded += 1


_sealers: list[Callable[[], int]] = []


def register_sealer(sealer: Callable[[], int]) -> None:
    """`sealer()` chains the writes its app recorded on its rows and still owes an entry (with
    `append_many`), and answers how many it chained. Registered in the app's ready()."""
    if sealer not in _sealers:
        _sealers.append(sealer)


def seal_pending() -> int:
    """Chain every write still owed an entry, app by app: before a verify, so it sees every write
    made before it. The entries appended."""
    return sum(sealer() for sealer in _sealers)


def created_fields(model) -> list[str]:
    """The fields a create writes: every stored column but the primary key."""
    return [f.attname for f in model._meta.concrete_fields if not f.primary_key]


class AuditMiddleware:
    """Marks write requests to the admin and the API, so the model signals record their writes."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request) -> HttpResponseBase:
        if request.method in SAFE_METHODS or not request.path.startswith(AUDITED_PREFIXES):
            return self.get_response(request)
        context = RequestContext(request)
        token = _current.set(context)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        if context.recorded == 0 and response.status_code < 400 and _acted(request):
            append_on_commit(**_request_entry(request))
        return response


def _acted(request) -> bool:
    # Reaching the login form or logging out writes only a session: not an operator's write.
    return not request.path.startswith(("/admin/login/", "/admin/logout/"))


def _request_entry(request) -> dict:
    """One entry standing for a write request whose writes sent no model signal."""
    app_label = model = object_id = ""
    fields = f"{request.method} {request.path}"[:500]
    if request.path.startswith("/admin/"):
        parts = request.path.strip("/").split("/")
        app_label, model = (parts[1], parts[2]) if len(parts) >= 3 else ("", "")
        selected = request.POST.getlist("_selected_action")
        object_id = ",".join(selected)
        if request.POST.get("action"):
            fields = f"action:{request.POST['action']}"
    return {
        "actor": actor_of(request),
        "action": "request",
        "address": address_of(request),
        "app_label": app_label,
        "model": model,
        "object_id": object_id,
        "fields": fields,
    }


# --- the model signals ---------------------------------------------------------------------------------------


def _audited(sender) -> bool:
    meta = sender._meta
    return meta.app_label not in UNAUDITED_APPS and (meta.app_label, meta.model_name) not in UNAUDITED


def remember_old_values(sender, instance, raw=False, **kwargs) -> None:
    """Before an update inside a write request: the row as stored, to name the fields that change."""
    context = _current.get()
    if context is None or raw or instance.pk is None or instance._state.adding or not _audited(sender):
        return
    names = [f.attname for f in sender._meta.concrete_fields]
    old = sender._base_manager.filter(pk=instance.pk).values(*names).first()
    context.old_values[(sender, instance.pk)] = old


def record_save(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    context = _current.get()
    if context is None or raw or not _audited(sender):
        return
    old = context.old_values.pop((sender, instance.pk), None)
    if created or old is None:
        names = created_fields(sender)
    elif update_fields is not None:
        names = sorted(update_fields)
    else:
        names = [f.attname for f in sender._meta.concrete_fields if getattr(instance, f.attname) != old[f.attname]]
    _record(context, sender, instance.pk, "create" if created else "update", names)


def record_delete(sender, instance, **kwargs) -> None:
    context = _current.get()
    if context is None or not _audited(sender):
        return
    _record(context, sender, instance.pk, "delete", [])


def _record(context: RequestContext, sender, pk, action: str, names) -> None:
    context.recorded += 1
    append_on_commit(
        actor=actor_of(context.request),
        action=action,
        address=address_of(context.request),
        app_label=sender._meta.app_label,
        model=sender._meta.model_name,
        object_id=str(pk),
        fields=",".join(names),
    )


def connect_signals() -> None:
    """Called once from the kernel's AppConfig.ready()."""
    pre_save.connect(remember_old_values, dispatch_uid="echopilot.audit.pre_save")
    post_save.connect(record_save, dispatch_uid="echopilot.audit.post_save")
    post_delete.connect(record_delete, dispatch_uid="echopilot.audit.post_delete")


# --- verifying ----------------------------------------------------------------------------------------------


@dataclass
class Break:
    """The first place the chain does not hold."""

    kind: str  # changed, inserted, removed
    seq: int
    message: str


def verify_chain(rows=None, head: tuple[int, str] | None = None) -> dict:
    """Walk the chain in order and name the first entry changed, inserted or removed.

    `rows` (for the benchmark) are tuples of VERIFY_COLUMNS + (prev_hash, hash); by default the
    whole table, streamed. Returns {"ok", "checked", "break": {kind, seq, message} or None}.
    """
    if rows is None:
        stored = chain_head()
        head = (stored["seq"], stored["hash"])
        if head[0] == 0 and AuditEntry.objects.exists():
            return _result(Break("removed", 0, "the chain's head row is missing"), 0)
        # A server-side cursor on PostgreSQL lives in a transaction; on SQLite one would take the
        # write lock (IMMEDIATE) for the whole walk, and WAL reads are consistent without it.
        with _read_transaction(), connection.chunked_cursor() as cursor:
            return _verified(_stored_rows(cursor, head[0]), head)
    return _verified(rows, head)


def _read_transaction() -> Atomic | nullcontext[None]:
    return transaction.atomic() if settings.USING_POSTGRES else nullcontext()


def _stored_rows(cursor, up_to: int) -> Iterator[tuple[Any, ...]]:
    """Entries up to the head read before (later ones are being appended now), in seq order, straight
    from a server-side cursor in batches: verifying a million entries should not build a million
    model rows, nor parse a million dates on SQLite."""
    columns = ", ".join(
        _AT_AS_TEXT if c == "at" and connection.vendor == "postgresql" else connection.ops.quote_name(c)
        for c in (*VERIFY_COLUMNS, "prev_hash", "hash")
    )
    cursor.execute(f"SELECT {columns} FROM {AuditEntry._meta.db_table} WHERE seq <= %s ORDER BY seq", [up_to])
    while batch := cursor.fetchmany(5000):
        yield from batch


def _verified(rows, head) -> dict:
    found, checked, last = _walk(iter(rows), _key())
    if found is None and head is not None:
        found = _tail_break(last, head)
    return _result(found, checked)


def _result(found, checked: int) -> dict:
    result: dict = {"ok": found is None, "checked": checked, "break": None}
    if found is not None:
        result["break"] = {"kind": found.kind, "seq": found.seq, "message": found.message}
    return result


def _walk(rows, key: bytes) -> tuple[Break | None, int, tuple[Any, ...] | None]:
    """Checks each entry's own HMAC and its link to the one before; looks one entry ahead to tell an
    inserted entry (the next one links past it) from a changed one."""
    previous = None
    checked = 0
    current = next(rows, None)
    while current is not None:
        following = next(rows, None)
        checked += 1
        own_ok = _own_hash_holds(current, key)
        link_ok = current[9] == (previous[10] if previous else GENESIS)
        if not (own_ok and link_ok):
            return _classify(previous, current, following, own_ok), checked, current
        previous, current = current, following
    return None, checked, previous


def _own_hash_holds(row, key: bytes) -> bool:
    # entry_hash, unrolled: this runs once per entry of the whole chain.
    message = SEPARATOR.join((row[9], canonical_at(row[1]), *row[2:9])).encode()
    return hmac.digest(key, message, "sha256").hex() == row[10]


def _classify(previous, current, following, own_ok: bool) -> Break:
    seq = current[0]
    before = previous[10] if previous else GENESIS
    if following is not None and following[9] == before:
        return Break("inserted", seq, f"entry #{seq} was inserted: #{following[0]} links to the entry before it")
    if not own_ok:
        return Break("changed", seq, f"entry #{seq} was changed: its hash no longer matches its contents")
    after = f"#{previous[0]}" if previous else "the start"
    gap = f" (#{previous[0] + 1}-#{seq - 1} missing)" if previous and seq - previous[0] > 1 else ""
    return Break("removed", seq, f"entries were removed between {after} and #{seq}{gap}")


def _tail_break(last, head) -> Break | None:
    """The last entry against the head row: a removed tail leaves the head pointing past the end."""
    last_seq, last_hash = (last[0], last[10]) if last else (0, "")
    if (last_seq, last_hash) == (head[0], head[1]) or (head[0] == 0 and last is None):
        return None
    if last is None:
        return Break("removed", 1, f"every entry was removed: the chain's head is #{head[0]}")
    if head[0] > last[0]:
        return Break("removed", last[0] + 1, f"entries after #{last[0]} were removed: the chain's head is #{head[0]}")
    return Break("inserted", last[0], f"entry #{last[0]} is past the chain's head (#{head[0]})")


def entries_since(since: int = 0, limit: int = 100) -> list[dict]:
    """Entries with seq above `since`, oldest first, as GET /api/audit/chain lists them."""
    rows = AuditEntry.objects.filter(seq__gt=since).order_by("seq")[:limit]
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "address": e.address,
            "action": e.action,
            "app": e.app_label,
            "model": e.model,
            "object_id": e.object_id,
            "fields": [name for name in e.fields.split(",") if name] if e.action != "request" else [e.fields],
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in rows
    ]


def chain_head() -> dict:
    stored = AuditHead.objects.filter(pk=1).values_list("seq", "hash").first()
    return {"seq": stored[0], "hash": stored[1]} if stored else {"seq": 0, "hash": ""}
