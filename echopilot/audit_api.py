"""GET /api/audit/chain?since=&limit=: the audit chain's entries, oldest first (an analyst key is enough)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import audit
from .openapi import AUDIT_CHAIN


class ChainQuery(serializers.Serializer):
    since = serializers.IntegerField(required=False, default=0, min_value=0, help_text="list entries after this seq")
    limit = serializers.IntegerField(required=False, default=100, min_value=1)

    def validate_limit(self, value) -> int:
        if value > settings.AUDIT_CHAIN_PAGE_MAX:
            raise serializers.ValidationError(f"at most {settings.AUDIT_CHAIN_PAGE_MAX}")
        return value


@extend_schema(responses={200: AUDIT_CHAIN})
@api_view(["GET"])
def audit_chain(request) -> Response:
    query = ChainQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    entries = audit.entries_since(query.validated_data["since"], query.validated_data["limit"])
    return Response(
        {
            "entries": entries,
            "next_since": entries[-1]["seq"] if entries else query.validated_data["since"],
            "head": audit.chain_head(),
        }
    )
