"""One JSON error shape for the whole API: {"error": "...", "fields": {...}}."""

import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


def error_body(message: str, fields: dict | None = None) -> dict:
    return {"error": message, "fields": fields or {}}


def _flatten(detail) -> dict[str, Any] | list[Any] | str:
    """DRF's nested ErrorDetail lists, as plain strings (one message per field where possible)."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        items = [_flatten(d) for d in detail]
        return items[0] if len(items) == 1 and isinstance(items[0], str) else items
    return str(detail)


def validation_error_body(exc: exceptions.ValidationError | DjangoValidationError) -> dict:
    """The 400 body of a ValidationError, the services' (Django's) or a serializer's (DRF's):
    {"error": "invalid input", "fields": {field: message}}."""
    detail = as_serializer_error(exc) if isinstance(exc, DjangoValidationError) else exc.detail
    fields = _flatten(detail)
    if not isinstance(fields, dict):
        fields = {"non_field_errors": fields}
    return error_body("invalid input", fields)


def json_exception_handler(exc, context) -> Response | None:
    """DRF's handler, reshaped; anything DRF does not know stays a 500 (and is logged by Django).
    A service's ValidationError (Django's) is a 400 like a serializer's."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body(f"malformed request body: {exc.detail}")
    else:
        response.data = error_body(str(getattr(exc, "detail", exc)))
    return response


def error_response(message: str, fields: dict | None = None, status_code=status.HTTP_400_BAD_REQUEST) -> Response:
    """A DRF response in the shared error shape, for views that refuse without raising."""
    return Response(error_body(message, fields), status=status_code)


def json_400(request, exception=None) -> JsonResponse:
    """Django's own refusals (SuspiciousOperation), in the API's shape. Only the size is explained:
    the other messages quote the request's headers back, and add nothing a caller can act on."""
    if isinstance(exception, RequestDataTooBig):
        message = f"request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
    else:
        message = "bad request"
    return JsonResponse(error_body(message), status=400)


def json_404(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("not found"), status=404)


# The database is down, frozen past its timeouts (echopilot.settings) or refusing connections: a
# dependency is unavailable, not a bug, and a client's retry after a few seconds may well succeed.
DATABASE_DOWN = (OperationalError, InterfaceError)
RETRY_AFTER_S = 5


def unavailable(what: str) -> JsonResponse:
    """503 with Retry-After, in the API's error shape: `what` (the database, the broker) is down."""
    response = JsonResponse(error_body(f"{what} unavailable; try again shortly"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def json_500(request) -> JsonResponse:
    """Django calls this inside the except block of the failed request: an outage of the database is
    answered 503, anything else is the 500 it is."""
    if isinstance(sys.exc_info()[1], DATABASE_DOWN):
        return unavailable("database")
    return JsonResponse(error_body("internal error"), status=500)
