"""The ops API: thin views over ops.checks, ops.recovery and ops.uptime."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import checks, openapi_docs, recovery, uptime
from .models import UptimeCheck, Verdict


def _who(request) -> str:
    return str(getattr(request.user, "name", "") or getattr(request.user, "username", "") or "api")[:150]


def _valid(serializer_class, request) -> dict:
    data = request.data if isinstance(request.data, dict) else None
    if data is None:
        raise serializers.ValidationError({"non_field_errors": "expected a JSON object"})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- The ops check and auto-recovery ---------------------------------------------------------------


@extend_schema(request=None, responses={200: openapi_docs.OPS_CHECK, 503: openapi_docs.OPS_CHECK})
@api_view(["POST"])
def check(request) -> Response:
    """Run every check now: 200 when none fails, 503 (with Retry-After) when one does."""
    report = checks.ops_check(by=_who(request))
    if report.worst == Verdict.FAIL:
        return Response(report.to_dict(), status=503, headers={"Retry-After": "30"})
    return Response(report.to_dict())


class RecoverBody(serializers.Serializer):
    dry_run = serializers.BooleanField(required=False, default=False)


@extend_schema(request=RecoverBody, responses={200: openapi_docs.RECOVERED})
@api_view(["POST"])
def recover(request) -> Response:
    """Requeue the last hour's failed tasks, release stuck ones, restart the pool; dry_run lists only."""
    body = _valid(RecoverBody, request) if request.body else {"dry_run": False}
    run = recovery.recover(dry_run=body["dry_run"], trigger=f"api ({_who(request)})")
    return Response(recovery.to_dict(run))


# --- Uptime probes ------------------------------------------------------------------------------------


class ProbeBody(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    method = serializers.ChoiceField(choices=UptimeCheck.Method.choices, default=UptimeCheck.Method.GET)
    expected_status = serializers.IntegerField(min_value=100, max_value=599, default=200)
    keyword = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    timeout_s = serializers.FloatField(min_value=0.1, max_value=30, default=10.0)

    def validate(self, attrs) -> dict:
        try:
            uptime.validate_probe(attrs["url"], attrs["method"], attrs["keyword"])
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return {**attrs, "url": attrs["url"].strip()}


@extend_schema(request=ProbeBody, responses={200: openapi_docs.PROBED})
@api_view(["POST"])
def uptime_test(request) -> Response:
    """Probe a URL or host:port once and answer the result (nothing is stored)."""
    body = _valid(ProbeBody, request)
    result = uptime.probe(
        body["url"],
        method=body["method"],
        expected_status=body["expected_status"],
        keyword=body["keyword"],
        timeout_s=body["timeout_s"],
    )
    return Response({"url": uptime.shown(body["url"]), **result.to_dict()})


@extend_schema(responses={200: openapi_docs.UPTIME})
@api_view(["GET"])
def uptime_status(request) -> Response:
    """The uptime checks with their state, last latency and 24 h / 30 d availability."""
    return Response({"checks": uptime.status()})
