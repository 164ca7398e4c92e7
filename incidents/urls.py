from django.urls import path

from . import api

urlpatterns = [
    path("", api.list_view, name="incidents-list"),
    path("<int:pk>", api.detail_view, name="incidents-detail"),
    path("raise", api.raise_view, name="incidents-raise"),
    path("summarize", api.summarize_view, name="incidents-summarize"),
    path("summary", api.summarize_view, name="incidents-summary"),
    path("status", api.status_view, name="incidents-status"),
    path("alertmanager", api.alertmanager_view, name="incidents-alertmanager"),
    path("events", api.events_view, name="incidents-events"),
    path("<int:pk>/acknowledge", api.acknowledge_view, name="incidents-acknowledge"),
    path("<int:pk>/resolve", api.resolve_view, name="incidents-resolve"),
]
