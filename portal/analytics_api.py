"""POST /api/analytics/activity (admin key) and GET /api/analytics/retention?days=30 (analyst)."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from echopilot.errors import error_response

from . import openapi_docs, retention


def _refusal(exc: ValidationError) -> Response:
    fields = {name: " ".join(messages) for name, messages in exc.message_dict.items()}
    return error_response("invalid input: the batch was refused whole, nothing was stored", fields)


class ActivityEvent(serializers.Serializer):
    """One product user seen active (documents the body; retention.record_activity checks it)."""

    user_id = serializers.CharField(max_length=200)
    ts = serializers.DateTimeField(help_text="ISO 8601; without an offset, UTC")


@extend_schema(request=ActivityEvent(many=True), responses={200: openapi_docs.ACTIVITY_STORED})
@api_view(["POST"])
def activity(request) -> Response:
    """A batch of {user_id, ts}: a JSON array, or {"events": [...]}."""
    events = request.data.get("events") if isinstance(request.data, dict) else request.data
    try:
        stored = retention.record_activity(events)
    except ValidationError as exc:
        return _refusal(exc)
    return Response(stored)


class RetentionQuery(serializers.Serializer):
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=retention.MAX_BACKFILL_DAYS)


@extend_schema(responses={200: openapi_docs.RETENTION})
@api_view(["GET"])
def retention_series(request) -> Response:
    query = RetentionQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    days = query.validated_data["days"]
    return Response({"days": days, "series": retention.series(days)})
