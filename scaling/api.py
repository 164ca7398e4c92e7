"""Worker scaling's JSON API: thin views over scaling.services."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from echopilot.validators import MillisecondsField, NonNegativeIntField

from . import openapi_docs, services


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: "no" or 0 for a flag that decides whether workers change is a mistake."""

    def to_internal_value(self, data) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class FiniteFloatField(serializers.FloatField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> float:
        if isinstance(data, bool) or (isinstance(data, str) and (not data.isascii() or "_" in data)):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if value != value or value in (float("inf"), float("-inf")):
            self.fail("invalid")
        return value


# Far above any real queue, and within what every database's integer and the formula's arithmetic hold.
MAX_COUNT = 1_000_000_000
MAX_RATE = 1e9


class SignalsSerializer(serializers.Serializer):
    queue_depth = NonNegativeIntField(max_value=MAX_COUNT)
    queue_time_s = FiniteFloatField(max_value=MAX_RATE)
    arrivals_per_min = FiniteFloatField(max_value=MAX_RATE)
    p95_ms = MillisecondsField(required=False, allow_null=True, default=None, max_value=MAX_RATE)
    error_rate = FiniteFloatField(max_value=1)
    workers_actual = NonNegativeIntField(required=False, allow_null=True, default=None, max_value=1_000_000)
    jobs_per_worker_min = FiniteFloatField(max_value=MAX_RATE)


class ApplySerializer(serializers.Serializer):
    dry_run = StrictBooleanField(required=False, allow_null=True, default=None)


def _valid(serializer_class, request) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": "expected a JSON object"})
    unknown = set(request.data) - set(serializer_class().fields)
    if unknown:
        raise serializers.ValidationError({name: "unknown field" for name in sorted(unknown)})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _by(request) -> str:
    return f"api:{request.user}"


@extend_schema(responses={200: openapi_docs.STATUS})
@api_view(["GET"])
def status(request) -> Response:
    """Desired vs actual workers now, why, and every signal read; nothing is applied."""
    return Response(services.status())


@extend_schema(request=ApplySerializer, responses={200: openapi_docs.APPLIED})
@api_view(["POST"])
def apply(request) -> Response:
    """Decide now and apply unless dry (`dry_run` absent: SCALE_DRY_RUN) or held by a constraint."""
    data = _valid(ApplySerializer, request)
    return Response(services.apply(dry_run=data.get("dry_run"), by=_by(request)))


@extend_schema(request=SignalsSerializer, responses={201: openapi_docs.RECORDED})
@api_view(["POST"])
def signals(request) -> Response:
    """A reading of the load pushed by another system (its workers need not be django-q2)."""
    data = _valid(SignalsSerializer, request)
    sample = services.record_signals(data)  # a ValidationError is the kernel handler's 400
    return Response(sample.to_dict(), status=201)
