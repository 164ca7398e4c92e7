"""The SLO and deploy-gate API (thin: check input, call a service function, answer)."""

import yaml
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.plumbing import build_array_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, content_negotiation_class, parser_classes, renderer_classes
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from echopilot.errors import error_response
from echopilot.openapi import error

from . import gate, ingest, openapi_docs, openslo, services
from .models import Slo

STATUS_PERIODS = ["5m", "30m", "1h", "6h", "24h", "3d", "7d", "30d"]


class StatusQuery(serializers.Serializer):
    slo = serializers.CharField(required=False, max_length=100)
    period = serializers.ChoiceField(choices=STATUS_PERIODS, default=services.DEFAULT_PERIOD)


class RebaselineBody(serializers.Serializer):
    slo = serializers.CharField(required=False, max_length=100)


class LiftBody(serializers.Serializer):
    note = serializers.CharField(max_length=gate.MAX_LIFT_NOTE, allow_blank=False)


def _pick_slo(name: str | None) -> Slo:
    if not name:
        slo = services.default_slo()
        if slo is None:
            raise serializers.ValidationError({"slo": "no SLO is enabled"})
        return slo
    # Or by the service it judges ("uptime:<name>"): a service name is what its senders know it by.
    slo = Slo.objects.filter(name=name).first() or Slo.objects.filter(service=name).order_by("pk").first()
    if slo is None:
        raise serializers.ValidationError({"slo": f"no SLO named {name!r}"})
    return slo


@extend_schema(parameters=[StatusQuery], responses={200: openapi_docs.STATUS, 400: error("unknown slo or period")})
@api_view(["GET"])
def slo_status(request) -> Response:
    """p95, p99, error rate, burn and budget left of one SLO over ?period= (1h, 24h, 7d, 30d...)."""
    query = StatusQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    slo = _pick_slo(query.validated_data.get("slo"))
    report = services.status(slo, query.validated_data["period"])
    report["gate"] = gate.current().to_dict()
    return Response(report)


@extend_schema(parameters=[StatusQuery], responses={200: openapi_docs.BUDGET, 400: error("unknown slo or period")})
@api_view(["GET"])
def slo_budget(request) -> Response:
    """The 24h status with the budget of each objective over the SLO window and its daily graph."""
    query = StatusQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    slo = _pick_slo(query.validated_data.get("slo"))
    report = services.budget(slo)
    report["gate"] = gate.current().to_dict()
    return Response(report)


@extend_schema(request=RebaselineBody, responses={200: openapi_docs.REBASELINED, 400: error("unknown slo")})
@api_view(["POST"])
def rebaseline(request) -> Response:
    """Start the SLO's rolling windows anew from now (older data is kept, no longer counted)."""
    body = RebaselineBody(data=request.data)
    body.is_valid(raise_exception=True)
    slo = services.rebaseline(_pick_slo(body.validated_data.get("slo")))
    return Response(services.status(slo))


class JSONOnly(DefaultContentNegotiation):
    """JSON whatever Accept or ?format= asks for (the browsable API cannot draw a view without parsers)."""

    def select_renderer(self, request, renderers, format_suffix=None) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


@extend_schema(
    request={"application/json": openapi_docs.INGEST_BODY, "application/x-ndjson": openapi_docs.INGEST_NDJSON},
    examples=[openapi_docs.INGEST_REQUEST],
    responses={200: openapi_docs.INGESTED, 400: error("the batch, refused whole: every bad sample's field named")},
)
@api_view(["POST"])
@parser_classes([])  # the body is read raw: NDJSON, and JSON checked sample by sample
@renderer_classes([JSONRenderer])
@content_negotiation_class(JSONOnly)
def ingest_samples(request) -> Response:
    """A batch of up to 10,000 request samples (JSON or NDJSON); all stored, or none and a 400."""
    try:
        body = request.body
    except RequestDataTooBig:
        return error_response("batch too large", {"samples": f"at most {ingest.MAX_BATCH} samples per request"})
    try:
        samples = ingest.parse_body(body, request.content_type, service=request.query_params.get("service"))
    except ingest.BatchError as exc:
        return error_response(str(exc.message), exc.fields)
    return Response(ingest.ingest(samples), status=status.HTTP_200_OK)


class YamlRenderer(BaseRenderer):
    """OpenSLO's usual form: one YAML document per SLO, separated by ---."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        documents = data if isinstance(data, list) else [data]
        # No SLO: an empty body would lose its Content-Type (DRF drops it); say so in YAML instead.
        return yaml.safe_dump_all(documents, sort_keys=False).encode() if documents else b"# no SLOs\n"


# JSON: a list of OpenSLO documents; YAML: a stream of them, one per SLO.
@extend_schema(
    responses={
        (200, "application/json"): build_array_type({"type": "object", "additionalProperties": {}}),
        (200, "application/yaml"): OpenApiTypes.ANY,
    }
)
@api_view(["GET"])
@renderer_classes([JSONRenderer, YamlRenderer])
def openslo_export(request) -> Response:
    """Every SLO as OpenSLO documents: JSON by default, YAML with ?format=yaml or Accept: application/yaml."""
    return Response(openslo.export_all())


@extend_schema(responses={200: openapi_docs.GATE, 423: openapi_docs.GATE_SHUT})
@api_view(["GET"])
def deploy_gate(request) -> Response:
    """For CI before a deploy: 200 while the gate is open, 423 with the reason while it is shut."""
    state = gate.current()
    return Response(state.to_dict(), status=status.HTTP_423_LOCKED if state.shut else status.HTTP_200_OK)


@extend_schema(request=LiftBody, examples=[openapi_docs.LIFT_REQUEST], responses={200: openapi_docs.LIFTED})
@api_view(["POST"])
def lift_gate(request) -> Response:
    """Lift the deploy gate, with a note saying why it is safe (admin only)."""
    body = LiftBody(data=request.data)
    body.is_valid(raise_exception=True)
    lifted = gate.lift_all(by=str(request.user), note=body.validated_data["note"])
    return Response({"lifted": lifted, **gate.current().to_dict()})
