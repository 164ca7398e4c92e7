"""A fast path past DRF for the API's hottest calls (every AI call the product makes asks
costs/authorize and reports to costs/usage).

For those, DRF's request wrapping, authentication classes, negotiation and rendering cost more
than the work itself. `json_fast_path(handler)` decorates a DRF function view: a plain JSON POST
from an admin X-Dash-Key is answered here, by `handler(data) -> dict`, with the same body, status
and headers DRF would give; every other request (a browser, a staff session, an analyst or unknown
key, a body that is not a JSON document, ?format=api) goes to the DRF view unchanged. The DRF view
calls the same handler, and stays what the schema documents.
"""
import functools
from decimal import Decimal

import orjson
from django.http import HttpResponse
from rest_framework import serializers

from .auth import HEADER, resolve_key
from .errors import validation_error_body
from .models import DashKey
from .negotiation import PLAIN_ACCEPTS

JSON = "application/json"


def json_fast_path(handler):
    """Answer plain JSON POSTs of admin keys with `handler(data)`; hand the rest to the DRF view."""

    def decorator(drf_view):
        allow = ", ".join(drf_view.cls().allowed_methods)  # in DRF's order, which varies by process

        # wraps() also copies `cls` and `initkwargs`: the schema generator still sees the DRF view.
        @functools.wraps(drf_view)
        def view(request, *args, **kwargs):
            data = _plain_admin_json(request)
            if data is None:
                return drf_view(request, *args, **kwargs)
            try:
                return _json_response(handler(data), 200, allow)
            except serializers.ValidationError as exc:
                return _json_response(validation_error_body(exc), 400, allow)

        return view

    return decorator


def _plain_admin_json(request):
    """The request's JSON document when the fast path may answer it, else None."""
    if request.method != "POST" or request.content_type != JSON:
        return None
    if request.META.get("HTTP_ACCEPT", "").strip() not in PLAIN_ACCEPTS:
        return None
    # A query string is rare here: only then is request.GET (a QueryDict built on first use) asked.
    if request.META.get("QUERY_STRING") and "format" in request.GET:
        return None
    holder = resolve_key((request.META.get(HEADER) or "").strip())
    if holder is None or holder.role != DashKey.ADMIN:
        return None
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:  # DRF words the 400 for a malformed body
        return None


def _json_response(body: dict, status: int, allow: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body, default=_as_json), status=status, content_type=JSON)
    # What DRF adds to the same answer.
    response["Vary"] = "Accept"
    response["Allow"] = allow
    return response


def _as_json(value):
    """DRF's encoder turns Decimal into a JSON number; so does this."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
