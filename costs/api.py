"""The cost guardrails' JSON API: thin views over costs.services and costs.forecast."""

from datetime import timezone as dt_timezone

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from echopilot.fastpath import json_fast_path
from echopilot.openapi import error
from echopilot.validators import NonNegativeIntField, UsdField, require_non_negative_int, require_usd

from . import openapi_docs, services
from .forecast import forecast as forecast_outlook
from .models import CostCap, SpendEntry


class UsageSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    input_tokens = NonNegativeIntField(required=False, default=0)
    output_tokens = NonNegativeIntField(required=False, default=0)
    usd = UsdField(required=False, allow_null=True, default=None)
    request_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None, max_length=200)
    ts = serializers.DateTimeField(required=False, allow_null=True, default=None)
    kind = serializers.ChoiceField(choices=[k for k, _ in SpendEntry.KINDS], required=False, default=SpendEntry.AI)


class AuthorizeSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=100)
    est_usd = UsdField(required=False, allow_null=True, default=None)


class SetCapSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=[CostCap.DAILY, CostCap.MODEL])
    key = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", max_length=CostCap.KEY_LENGTH
    )
    usd_cap = UsdField()


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _fields(data, fields: dict) -> dict:
    """The hot endpoints (every AI call asks and reports) check their few fields by hand: a DRF
    serializer costs more than the decision itself. Same rules and the same 400 shape as the
    serializers above, which still document the body for the schema."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": "expected a JSON object"})
    values: dict = {}
    errors: dict = {}
    for name, check in fields.items():
        try:
            values[name] = check(data.get(name), name)
        except (
            serializers.ValidationError,
            ValidationError,
        ) as exc:  # every bad field at once, as /api/slo/ingest does
            errors.update(serializers.as_serializer_error(exc))
    if errors:
        raise serializers.ValidationError(errors)
    return values


def _model(value, field):
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 100:
        raise serializers.ValidationError({field: "must be a model name of at most 100 characters"})
    return value.strip()


def _optional_usd(value, field):
    return None if value is None else require_usd(value, field)


def _tokens(value, field):
    return 0 if value is None else require_non_negative_int(value, field)


def _request_id(value, field):
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > 200:
        raise serializers.ValidationError({field: "must be a string of at most 200 characters"})
    return str(value)


def _timestamp(value, field):
    if value is None or value == "":
        return None
    try:
        # isprintable: Python's ISO parser stops at a NUL and would take "2026-11-24T10:00\x00junk".
        parsed = parse_datetime(value) if isinstance(value, str) and value.isprintable() else None
    except ValueError:  # well-formed but impossible, e.g. February 30th
        parsed = None
    if parsed is None:
        raise serializers.ValidationError({field: "must be an ISO 8601 date and time"})
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt_timezone.utc)


def _kind(value, field):
    if value is None:
        return SpendEntry.AI
    if value not in (SpendEntry.AI, SpendEntry.STRIPE_FEE):
        raise serializers.ValidationError({field: "must be 'ai' or 'stripe_fee'"})
    return value


USAGE_FIELDS = {
    "model": _model,
    "input_tokens": _tokens,
    "output_tokens": _tokens,
    "usd": _optional_usd,
    "request_id": _request_id,
    "ts": _timestamp,
    "kind": _kind,
}
AUTHORIZE_FIELDS = {"model": _model, "est_usd": _optional_usd}


def _usage(data) -> dict:
    return services.record_spend(**_fields(data, USAGE_FIELDS)).to_dict()


def _authorize(data) -> dict:
    fields = _fields(data, AUTHORIZE_FIELDS)
    if not fields["model"]:
        raise serializers.ValidationError({"model": "this field is required"})
    return services.authorize(fields["model"], fields["est_usd"]).to_dict()


# Both are asked on every AI call the product makes: scripts' calls are answered in front of Django
# (echopilot.fastpath).
@json_fast_path(_usage)
@extend_schema(
    request=UsageSerializer,
    examples=[openapi_docs.USAGE_REQUEST],
    responses={200: openapi_docs.USAGE_REPORTED, 400: error("every bad field named at once")},
)
@api_view(["POST"])
def usage(request):
    """Report one spend (AI call or Stripe fee); answers the model's decision after it."""
    return Response(_usage(request.data))


@json_fast_path(_authorize)
@extend_schema(
    request=AuthorizeSerializer,
    examples=[openapi_docs.AUTHORIZE_REQUEST],
    responses={200: openapi_docs.AUTHORIZED, 400: error("no model, or a model with no price and no usd")},
)
@api_view(["POST"])
def authorize(request):
    """May the caller use `model` now? allow | warn | downgrade (to `model`) | throttle (until `retry_after`)."""
    return Response(_authorize(request.data))


@extend_schema(responses={200: openapi_docs.STATUS})
@api_view(["GET"])
def status(request):
    """Every cap with today's spend, utilization %, state and the fallback in force."""
    return Response(services.status())


@extend_schema(
    request=SetCapSerializer,
    examples=[openapi_docs.SET_CAP_REQUEST],
    responses={200: openapi_docs.CAP_SET, 400: error("scope, key or usd_cap invalid")},
)
@api_view(["POST"])
def set_cap(request):
    """Create or change the global daily cap or a model's daily cap."""
    data = _valid(SetCapSerializer, request)
    cap = services.set_cap(data["scope"], data["usd_cap"], data.get("key") or "", by=str(request.user))
    current = next(c for c in services.status()["caps"] if (c["scope"], c["key"]) == (cap.scope, cap.key))
    return Response({**current, "warnings": services.cap_warnings(cap)})


@extend_schema(responses={200: openapi_docs.FORECAST})
@api_view(["GET"])
def forecast(request):
    """The next 30 days of spend by linear trend + 20%, and when the month's budget runs out."""
    return Response(forecast_outlook())
