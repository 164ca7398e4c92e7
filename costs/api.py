"""The cost guardrails' JSON API: thin views over costs.services and costs.forecast."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework import status as status_codes
from rest_framework.decorators import api_view
from rest_framework.response import Response

from echopilot.fastpath import json_fast_path
from echopilot.openapi import error
from echopilot.validators import NonNegativeIntField, UsdField

from . import openapi_docs, rules, services
from .forecast import forecast as forecast_outlook
from .models import CostCap, SpendEntry


# The two hot bodies are checked by costs.rules (on the fast path and here alike); these serializers
# only document them for the schema, with the limits read from there.
class UsageSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, default="", max_length=rules.MODEL_MAX_LENGTH)
    input_tokens = NonNegativeIntField(required=False, default=0)
    output_tokens = NonNegativeIntField(required=False, default=0)
    usd = UsdField(required=False, allow_null=True, default=None)
    request_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None, max_length=rules.REQUEST_ID_MAX_LENGTH
    )
    ts = serializers.DateTimeField(required=False, allow_null=True, default=None)
    kind = serializers.ChoiceField(choices=rules.KINDS, required=False, default=SpendEntry.AI)


class AuthorizeSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=rules.MODEL_MAX_LENGTH)
    est_usd = UsdField(required=False, allow_null=True, default=None)


class SetCapSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=[CostCap.DAILY, CostCap.MODEL])
    key = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", max_length=CostCap.KEY_LENGTH
    )
    usd_cap = UsdField()


# Checked by costs.rules (services.override_cap runs them); this serializer only documents the body.
class OverrideSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=[CostCap.DAILY, CostCap.MODEL])
    key = serializers.CharField(required=False, allow_blank=True, default="", max_length=CostCap.KEY_LENGTH)
    minutes = serializers.IntegerField(
        required=False, default=rules.OVERRIDE_MINUTES_DEFAULT, min_value=1, max_value=rules.OVERRIDE_MINUTES_MAX
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=rules.REASON_MAX_LENGTH)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _usage(data) -> dict:
    return services.record_report(data).to_dict()


def _authorize(data) -> dict:
    return services.authorize(*rules.authorize_request(data)).to_dict()


# Both are asked on every AI call the product makes: scripts' calls are answered in front of Django
# (echopilot.fastpath).
@json_fast_path(_usage)
@extend_schema(
    request=UsageSerializer,
    examples=[openapi_docs.USAGE_REQUEST],
    responses={200: openapi_docs.USAGE_REPORTED, 400: error("every bad field named at once")},
)
@api_view(["POST"])
def usage(request) -> Response:
    """Report one spend (AI call or Stripe fee); answers the model's decision after it."""
    return Response(_usage(request.data))


@json_fast_path(_authorize)
@extend_schema(
    request=AuthorizeSerializer,
    examples=[openapi_docs.AUTHORIZE_REQUEST],
    responses={200: openapi_docs.AUTHORIZED, 400: error("no model, or a model with no price and no usd")},
)
@api_view(["POST"])
def authorize(request) -> Response:
    """May the caller use `model` now? allow | warn | downgrade (to `model`) | throttle (until `retry_after`)."""
    return Response(_authorize(request.data))


@extend_schema(responses={200: openapi_docs.STATUS})
@api_view(["GET"])
def status(request) -> Response:
    """Every cap with today's spend, utilization %, state and the fallback in force."""
    return Response(services.status())


@extend_schema(
    request=SetCapSerializer,
    examples=[openapi_docs.SET_CAP_REQUEST],
    responses={200: openapi_docs.CAP_SET, 400: error("scope, key or usd_cap invalid")},
)
@api_view(["POST"])
def set_cap(request) -> Response:
    """Create or change the global daily cap or a model's daily cap."""
    data = _valid(SetCapSerializer, request)
    cap = services.set_cap(data["scope"], data["usd_cap"], data.get("key") or "", by=str(request.user))
    current = next(c for c in services.status()["caps"] if (c["scope"], c["key"]) == (cap.scope, cap.key))
    return Response({**current, "warnings": services.cap_warnings(cap)})


@extend_schema(
    request=OverrideSerializer,
    examples=[openapi_docs.OVERRIDE_REQUEST],
    responses={201: openapi_docs.OVERRIDDEN, 400: error("scope, key, minutes or reason invalid, or no such cap")},
)
@api_view(["POST"])
def override(request) -> Response:
    """Let spend past a cap for `minutes` (1-1440, default 60): the cap is ignored until then."""
    granted = services.override_cap(request.data, by=str(request.user))
    return Response(services.override_answer(granted), status=status_codes.HTTP_201_CREATED)


@extend_schema(responses={200: openapi_docs.FORECAST})
@api_view(["GET"])
def forecast(request) -> Response:
    """The next 30 days of spend by linear trend + 20%, and when the month's budget runs out."""
    return Response(forecast_outlook())
