"""The incident endpoints: thin DRF views over incidents.services."""

import uuid

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.decorators import api_view, authentication_classes
from rest_framework.response import Response

from echopilot.auth import KeyHolder, resolve_key
from echopilot.openapi import error

from . import openapi_docs, services
from .models import Incident
from .serializers import (
    AlertmanagerSerializer,
    EventSerializer,
    IncidentQuerySerializer,
    RaiseSerializer,
    ResolveSerializer,
    SummaryQuerySerializer,
    severity_from_word,
)


class WebhookKeyAuthentication(BaseAuthentication):
    """A dash key as X-Dash-Key, as `Authorization: Bearer <key>` (Alertmanager's http_config),
    or as the body's `routing_key` (PagerDuty Events API senders), in that order."""

    def authenticate(self, request) -> tuple[KeyHolder, None] | None:
        raw = request.META.get("HTTP_X_DASH_KEY") or self._bearer(request) or self._routing_key(request)
        if not raw:
            return None
        holder = resolve_key(raw.strip())
        if holder is None:
            raise exceptions.AuthenticationFailed("unknown or revoked key")
        return holder, None

    def authenticate_header(self, request) -> str:
        return "X-Dash-Key"

    @staticmethod
    def _bearer(request) -> str:
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        return credentials if scheme.lower() == "bearer" else ""

    @staticmethod
    def _routing_key(request) -> str:
        # Without a key in a header, the body is read for one only when it is JSON of a size PagerDuty
        # itself would send: a stranger's body is neither judged (415, 400) nor parsed at 16 MB.
        if not getattr(request, "accepts_routing_key", False) or not _small_json(request):
            return ""
        try:
            data = request.data
        except (exceptions.ParseError, exceptions.UnsupportedMediaType):
            # Without a key we cannot say more than 401; the body is judged only once we know who sent it.
            return ""
        key = data.get("routing_key") if isinstance(data, dict) else None
        return key if isinstance(key, str) else ""


# PagerDuty's own limit for one Events API v2 request.
ROUTING_KEY_BODY_MAX = 512 * 1024


def _small_json(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return request.content_type.split(";")[0].strip() == "application/json" and 0 < length <= ROUTING_KEY_BODY_MAX


class WebhookKeyScheme(OpenApiAuthenticationExtension):
    target_class = "incidents.api.WebhookKeyAuthentication"
    name = "webhookKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "a dash key, as Bearer or X-Dash-Key"}

    def get_security_requirement(self, auto_schema) -> list:
        return [{self.name: []}, {"dashKey": []}]


class RoutingKeyScheme(OpenApiAuthenticationExtension):
    target_class = "incidents.api.RoutingKeyAuthentication"
    name = "routingKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "a dash key, as Bearer, X-Dash-Key or the body's routing_key",
        }

    def get_security_requirement(self, auto_schema) -> list:
        return [{self.name: []}, {"dashKey": []}]


class RoutingKeyAuthentication(WebhookKeyAuthentication):
    def authenticate(self, request) -> tuple[KeyHolder, None] | None:
        request.accepts_routing_key = True
        return super().authenticate(request)


def raise_answer(result) -> dict:
    """What a raise answers: the incident's id, fingerprint, count and whether it was a repeat."""
    incident = result.incident
    return {
        "id": incident.pk,
        "fingerprint": incident.fingerprint,
        "count": incident.count,
        "severity": incident.severity,
        "status": incident.status,
        "created": result.created,
        "deduplicated": result.deduplicated,
        "escalated": result.escalated,
        "silenced": bool(incident.silenced_by_id),
        "pages": len(result.deliveries),
    }


@extend_schema(
    operation_id="incidents_list",
    parameters=[IncidentQuerySerializer],
    responses={200: openapi_docs.INCIDENT_LIST, 400: error("a filter or the page is out of range")},
)
@api_view(["GET"])
def list_view(request) -> Response:
    """Incidents, newest first: filter by status, severity and since; page with limit and offset."""
    query = IncidentQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    q = query.validated_data
    found = services.find_incidents(status=q.get("status", ""), severity=q.get("severity", ""), since=q.get("since"))
    limit, offset = q["limit"], q["offset"]
    total = found.count()
    page = [incident.to_dict() for incident in found[offset : offset + limit]]
    return Response(
        {"incidents": page, "limit": limit, "offset": offset, "total": total, "more": offset + limit < total}
    )


@extend_schema(
    operation_id="incidents_detail", responses={200: openapi_docs.INCIDENT_DETAIL, 404: error("no such incident")}
)
@api_view(["GET"])
def detail_view(request, pk) -> Response:
    """One incident with its meta, who acknowledged or resolved it, and every page sent for it."""
    incident = Incident.objects.filter(pk=pk).first()
    if incident is None:
        raise exceptions.NotFound("no such incident")
    return Response(services.incident_detail(incident))


@extend_schema(
    request=RaiseSerializer,
    examples=[openapi_docs.RAISE_REQUEST],
    responses={200: openapi_docs.RAISED, 201: openapi_docs.RAISED, 400: error("a field is missing or invalid")},
)
@api_view(["POST"])
def raise_view(request) -> Response:
    """Raise an incident: `{severity, msg, source, meta}`; a repeat joins the open incident of its fingerprint."""
    data = RaiseSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    result = services.raise_incident(v["severity"], v["msg"], v["source"], v["meta"], fingerprint=v["fingerprint"])
    return Response(raise_answer(result), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


@extend_schema(parameters=[SummaryQuerySerializer], request=None, responses={200: openapi_docs.SUMMARY})
@api_view(["GET", "POST"])
def summarize_view(request) -> Response:
    """The last 24 h (or `?hours=`) grouped by fingerprint, with totals by severity."""
    query = SummaryQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return Response(services.summarize(hours=query.validated_data["hours"]))


@extend_schema(responses={200: openapi_docs.PAGER_STATUS})
@api_view(["GET"])
def status_view(request) -> Response:
    """Open incidents by severity, each channel's state (off, ok, broken) and recent deliveries."""
    return Response(services.pager_status())


@extend_schema(
    request=AlertmanagerSerializer, responses={200: openapi_docs.WEBHOOK_ANSWER, 400: error("not Alertmanager v4")}
)
@api_view(["POST"])
@authentication_classes([WebhookKeyAuthentication, SessionAuthentication])
def alertmanager_view(request) -> Response:
    """Prometheus Alertmanager (webhook version 4) and Grafana Alerting (webhook version 1, the same
    alerts): firing alerts raise, resolved alerts resolve."""
    body = AlertmanagerSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    alerts = [(alert["status"] == "firing", _occurrence(alert)) for alert in body.validated_data["alerts"]]
    raised, resolved = services.record_alerts(alerts, by="alertmanager")
    return Response({"raised": [raise_answer(result) for result in raised], "resolved": resolved})


def _occurrence(alert: dict) -> services.Occurrence:
    """An Alertmanager alert as we raise it: severity from its label, text from its annotations."""
    labels, notes = alert["labels"], alert["annotations"]
    return services.Occurrence(
        severity_from_word(labels.get("severity")),
        notes.get("summary") or notes.get("description") or labels.get("alertname", "alert"),
        labels.get("service") or labels.get("job") or "alertmanager",
        {
            "labels": labels,
            "annotations": notes,
            "startsAt": alert.get("startsAt", ""),
            "generatorURL": alert.get("generatorURL", ""),
        },
        fingerprint=alert["fingerprint"],
    )


@extend_schema(
    request=EventSerializer, responses={202: openapi_docs.EVENT_ANSWER, 400: error("not a PagerDuty v2 event")}
)
@api_view(["POST"])
@authentication_classes([RoutingKeyAuthentication, SessionAuthentication])
def events_view(request) -> Response:
    """PagerDuty Events API v2: trigger raises, acknowledge acknowledges, resolve resolves (by dedup_key).

    Also answered at `/v2/enqueue`, where PagerDuty's client libraries post, so pointing their base
    URL at the console is the only change a sender needs. A trigger without `dedup_key` opens an
    incident of its own and answers the key made for it."""
    body = EventSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    event = body.validated_data
    action, dedup_key = event["event_action"], event.get("dedup_key")
    if action == "trigger" and not dedup_key:
        # As PagerDuty does: a trigger without a key is an alert of its own, under a key made for it.
        dedup_key = uuid.uuid4().hex
    if action == "trigger":
        payload = event["payload"]
        meta = {k: payload[k] for k in ("component", "group", "custom_details") if k in payload}
        result = services.raise_incident(
            payload["severity"], payload["summary"], payload["source"], meta, fingerprint=dedup_key
        )
        dedup_key = result.incident.fingerprint
    elif action == "acknowledge":
        services.acknowledge_incident(dedup_key, by="events-api")
    else:
        services.resolve_incident(dedup_key, by="events-api")
    return Response(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=status.HTTP_202_ACCEPTED
    )


@extend_schema(request=None, responses={200: openapi_docs.INCIDENT_ROW, 404: error("no such incident")})
@api_view(["POST"])
def acknowledge_view(request, pk) -> Response:
    """Acknowledge one incident (who = the key's name or the staff user)."""
    incidents = Incident.objects.filter(pk=pk)
    if not incidents.exists():
        raise exceptions.NotFound("no such incident")
    services.acknowledge(incidents, by=str(request.user))
    return Response(incidents.get().to_dict())


@extend_schema(
    request=ResolveSerializer,
    examples=[openapi_docs.RESOLVE_REQUEST],
    responses={200: openapi_docs.INCIDENT_ROW, 404: error("no such incident")},
)
@api_view(["POST"])
def resolve_view(request, pk) -> Response:
    """Resolve one incident, with an optional `note`."""
    incidents = Incident.objects.filter(pk=pk)
    if not incidents.exists():
        raise exceptions.NotFound("no such incident")
    body = ResolveSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    services.resolve(incidents, by=str(request.user), note=body.validated_data["note"])
    return Response(incidents.get().to_dict())
