"""A loopback server that answers `GET /v1/events` the way Stripe's API does, with events built from
Stripe's published OpenAPI fixtures (tests/fixtures/stripe/).

It keeps what Stripe keeps about delivery: whether every webhook endpoint got the event, which the
`delivery_success` filter reads. Lists are newest first and paginate with `limit`, `starting_after`
and `has_more`; `types[]`, `type` and `created[gte|gt|lte|lt]` filter them; a wrong key is a 401.
"""

import copy
import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

FIXTURES = json.loads((Path(__file__).parent.parent / "fixtures/stripe/fixtures3_resources.json").read_text())
API_KEY = "rk_test_51Recon0nly9Rea4dKey"
# This engineer's port range; the OS picks a free port when every one of them is taken.
PORT_RANGE = range(18800, 18900)
ARRAY_KEY = re.compile(r"^(\w+)\[\d*\]$")
RANGE_KEY = re.compile(r"^created\[(gte|gt|lte|lt)\]$")


@dataclass
class StoredEvent:
    event: dict
    delivered: bool


@dataclass
class StripeState:
    """What the fake Stripe account holds, and the requests it answered."""

    events: list[StoredEvent] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: dict, *, delivered: bool) -> dict:
        with self.lock:
            self.events.append(StoredEvent(event, delivered))
        return event

    def newest_first(self) -> list[StoredEvent]:
        # Stripe orders by creation, newest first; among events of one second, the later one first.
        indexed = list(enumerate(self.events))
        indexed.sort(key=lambda pair: (pair[1].event["created"], pair[0]), reverse=True)
        return [stored for _, stored in indexed]


def _query(raw: str) -> dict:
    """Stripe's form encoding: `types[0]=a&types[1]=b` is a list, `created[gte]=1` a range."""
    params: dict = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        array = ARRAY_KEY.match(key)
        if array and not RANGE_KEY.match(key):
            params.setdefault(array.group(1), []).append(value)
        else:
            params[key] = value
    return params


def _matches(stored: StoredEvent, params: dict) -> bool:
    event = stored.event
    if "types" in params and event["type"] not in params["types"]:
        return False
    if "type" in params and event["type"] != params["type"]:
        return False
    if "delivery_success" in params and stored.delivered != (params["delivery_success"] == "true"):
        return False
    for key, value in params.items():
        bound = RANGE_KEY.match(key)
        if bound and not _within(event["created"], bound.group(1), int(value)):
            return False
    return True


def _within(created: int, op: str, value: int) -> bool:
    return {"gte": created >= value, "gt": created > value, "lte": created <= value, "lt": created < value}[op]


def list_events(state: StripeState, params: dict) -> tuple[int, dict]:
    """(status, body) of GET /v1/events."""
    limit = int(params.get("limit", 10))
    if not 1 <= limit <= 100:
        return 400, _error("invalid_request_error", "This value must be between 1 and 100.", "limit")
    with state.lock:
        listed = [stored for stored in state.newest_first() if _matches(stored, params)]
    if "starting_after" in params:
        ids = [stored.event["id"] for stored in listed]
        if params["starting_after"] not in ids:
            return 400, _error(
                "invalid_request_error", f"No such event: '{params['starting_after']}'", "starting_after"
            )
        listed = listed[ids.index(params["starting_after"]) + 1 :]
    page = listed[:limit]
    return 200, {
        "object": "list",
        "data": [stored.event for stored in page],
        "has_more": len(listed) > limit,
        "url": "/v1/events",
    }


def _error(kind: str, message: str, param: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, "param": param}}


class Handler(BaseHTTPRequestHandler):
    state: StripeState

    def do_GET(self):  # noqa: N802 - the name http.server calls
        url = urlsplit(self.path)
        params = _query(url.query)
        self.state.requests.append({"path": url.path, "params": params})
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._answer(401, _error("invalid_request_error", "Invalid API Key provided: rk_test_****Key"))
        elif url.path != "/v1/events":
            self._answer(404, _error("invalid_request_error", f"Unrecognized request URL (GET: {url.path})."))
        else:
            self._answer(*list_events(self.state, params))

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_loopback")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


def _bind(handler) -> ThreadingHTTPServer:
    for port in PORT_RANGE:
        try:
            return ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:
            continue
    return ThreadingHTTPServer(("127.0.0.1", 0), handler)


@contextmanager
def stripe_api():
    """A running fake Stripe API on loopback; yields (state, base URL)."""
    state = StripeState()
    handler = type("StripeHandler", (Handler,), {"state": state})
    server = _bind(handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- events of one payment, from the fixtures -----------------------------------------------------------


def event(event_type: str, obj: dict, *, event_id: str, created: int) -> dict:
    """Stripe's fixture event with `obj` as its data.object."""
    envelope = copy.deepcopy(FIXTURES["event"])
    envelope.update(id=event_id, type=event_type, created=created, api_version="2024-06-20", pending_webhooks=1)
    envelope["data"] = {"object": obj}
    return envelope


def checkout_session(n: int, *, email: str, amount: int, created: int) -> dict:
    session = copy.deepcopy(FIXTURES["checkout.session"])
    session.update(
        id=f"cs_test_recon{n:04d}",
        amount_subtotal=amount,
        amount_total=amount,
        currency="usd",
        created=created,
        payment_intent=f"pi_recon{n:04d}",
        payment_status="paid",
        status="complete",
        metadata={"description": f"EchoPilot Pro, order {n}"},
    )
    session["customer_details"]["email"] = email
    return session


def charge(n: int, *, email: str, amount: int, created: int, refunded: int = 0) -> dict:
    obj = copy.deepcopy(FIXTURES["charge"])
    obj.update(
        id=f"ch_recon{n:04d}",
        amount=amount,
        amount_captured=amount,
        amount_refunded=refunded,
        refunded=refunded >= amount,
        created=created,
        payment_intent=f"pi_recon{n:04d}",
        receipt_email=email,
        receipt_number=f"1846-{n:04d}",
        status="succeeded",
    )
    obj["billing_details"]["email"] = email
    return obj


def invoice(n: int, *, email: str, amount: int, created: int) -> dict:
    obj = copy.deepcopy(FIXTURES["invoice"])
    obj.update(
        id=f"in_recon{n:04d}",
        amount_paid=amount,
        amount_due=amount,
        amount_remaining=0,
        created=created,
        customer_email=email,
        number=f"INV-{n:04d}",
        status="paid",
    )
    obj["status_transitions"]["paid_at"] = created
    obj["lines"]["data"][0]["amount"] = amount
    return obj


def card_payment(n: int, *, email: str, amount: int, created: int) -> list[dict]:
    """A Checkout payment: checkout.session.completed, then charge.succeeded a second later."""
    return [
        event(
            "checkout.session.completed",
            checkout_session(n, email=email, amount=amount, created=created),
            event_id=f"evt_recon_cs{n:04d}",
            created=created,
        ),
        event(
            "charge.succeeded",
            charge(n, email=email, amount=amount, created=created + 1),
            event_id=f"evt_recon_ch{n:04d}",
            created=created + 1,
        ),
    ]


def invoice_payment(n: int, *, email: str, amount: int, created: int) -> list[dict]:
    return [
        event(
            "invoice.paid",
            invoice(n, email=email, amount=amount, created=created),
            event_id=f"evt_recon_in{n:04d}",
            created=created,
        )
    ]


def unrelated_event(n: int, *, created: int) -> dict:
    """The fixture event as it is (a plan.created): a type the portal does not reconcile."""
    envelope = copy.deepcopy(FIXTURES["event"])
    envelope.update(id=f"evt_recon_plan{n:04d}", created=created)
    return envelope
