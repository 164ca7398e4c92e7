from django.urls import path

from . import api

urlpatterns = [
    path("raise", api.raise_view, name="incidents-raise"),
    path("summarize", api.summarize_view, name="incidents-summarize"),
    path("summary", api.summarize_view, name="incidents-summary"),
    path("status", api.status_view, name="incidents-status"),
    path("alertmanager", api.alertmanager_view, name="incidents-alertmanager"),
    path("events", api.events_view, name="incidents-events"),
    path("grafana", api.alertmanager_view, name="incidents-grafana"),
    # PagerDuty's client libraries post to {base_url}/v2/enqueue: base_url .../api/incidents works.
    path("v2/enqueue", api.events_view, name="incidents-enqueue"),
    path("<int:pk>/acknowledge", api.acknowledge_view, name="incidents-acknowledge"),
    path("<int:pk>/resolve", api.resolve_view, name="incidents-resolve"),
]
