"""GET /api/ops/dr/last: the latest DR drill's report (an analyst key is enough)."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from echopilot.errors import error_response

from . import drills, openapi_docs


@extend_schema(responses={200: openapi_docs.DR_LAST})
@api_view(["GET"])
def dr_last(request) -> Response:
    report = drills.last_report()
    if report is None:
        return error_response("no DR drill has run yet: run `manage.py dr_drill`", status_code=404)
    return Response(report)
