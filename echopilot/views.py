from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import health, metrics, openapi, queue


# The public probes: HEAD too (load balancers' health checks use it), and a write is a plain 405,
# not the CSRF failure page.
@csrf_exempt
@require_safe
def liveness(request) -> JsonResponse:
    """Alive: the process answers. Touches nothing else, so a sick database never kills the pod."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_safe
def strict_health(request) -> JsonResponse:
    """Every check, the apps' included (the SLOs in HEALTHZ_STRICT_SLOS): 500 naming what fails,
    for an uptime monitor."""
    body, failing = _checked(health.run_checks())
    return JsonResponse(body, status=500 if failing else 200)


@csrf_exempt
@require_safe
def ready(request) -> JsonResponse:
    """Dependencies only (database, broker, cache, migrations): 503 while this process cannot serve,
    for a load balancer or a Kubernetes readiness probe. An outage the console reports never fails it."""
    body, failing = _checked(health.run_checks(health.DEPENDENCY_CHECKS))
    if not failing:
        return JsonResponse(body)
    response = JsonResponse(body, status=503)
    response["Retry-After"] = "10"
    return response


def _checked(results: dict[str, health.CheckResult]) -> tuple[dict, list[str]]:
    failing = sorted(name for name, result in results.items() if not result.ok)
    body = {
        "status": "ok" if not failing else "fail",
        "failing": failing,
        "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in results.items()},
    }
    return body, failing


@csrf_exempt
@require_safe
def prometheus_metrics(request) -> HttpResponse:
    return HttpResponse(metrics.render_latest(), content_type=CONTENT_TYPE_LATEST)


@extend_schema(
    responses={
        200: openapi.documented(
            {
                "broker": "Redis",
                "queue_depth": 3,
                "clusters": [
                    {
                        "id": "6b1f3a2e-0c4d-4f7a-9a55-1d2e3f4a5b6c",
                        "host": "worker-1",
                        "status": "Idle",
                        "workers": 2,
                        "uptime_s": 86112,
                        "task_q_size": 0,
                    }
                ],
                "running_clusters": 1,
                "recent_failures": [
                    {
                        "id": "0f5e1c2a9b8d4e7f8a6b5c4d3e2f1a0b",
                        "name": "portal: receipts link",
                        "func": "portal.tasks.send_receipts_link",
                        "stopped": "2026-11-22T03:12:09+00:00",
                        "result": "SMTPServerDisconnected: Connection unexpectedly closed",
                    }
                ],
            },
            "Tasks waiting, the clusters running and the last failed tasks.",
        )
    }
)
@api_view(["GET"])
def queue_status(request) -> Response:
    """django-q2 queue depth, running clusters and recent failures."""
    return Response(queue.queue_status())


class ApiDocsView(SpectacularSwaggerView):
    # A page to read: answering OPTIONS would need a template its HTML renderer does not have (a 500).
    http_method_names = ["get", "head"]
