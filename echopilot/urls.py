from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from . import audit_api, views

handler400 = "echopilot.errors.json_400"
handler404 = "echopilot.errors.json_404"
handler500 = "echopilot.errors.json_500"

urlpatterns = [
    path("health", views.liveness, name="health"),
    path("healthz/strict", views.readiness, name="healthz-strict"),
    path("metrics", views.prometheus_metrics, name="metrics"),
    # Asked on every AI call the product makes: first, so resolving it tries the fewest patterns.
    path("api/costs/", include("costs.urls")),
    path("api/queue/status", views.queue_status, name="queue-status"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", views.ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/slo/", include("slo.urls")),
    path("api/deploy/", include("slo.gate_urls")),
    path("api/incidents/", include("incidents.urls")),
    path("v2/", include("incidents.enqueue_urls")),
    path("api/portal/", include("portal.urls")),
    path("api/scale/", include("scaling.urls")),
    path("api/ops/", include("ops.urls")),
    path("api/audit/chain", audit_api.audit_chain, name="audit-chain"),
    path("api/analytics/", include("portal.analytics_urls")),
    path("portal/", include("portal.public_urls")),
    path("incidents/", include("incidents.public_urls")),
    path("admin/", admin.site.urls),
    path("", include("echopilot.home_urls")),
]
