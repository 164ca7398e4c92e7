from django.urls import path

from . import api

urlpatterns = [
    path("status", api.slo_status, name="slo-status"),
    path("budget", api.slo_budget, name="slo-budget"),
    path("rebaseline", api.rebaseline, name="slo-rebaseline"),
    path("ingest", api.ingest_samples, name="slo-ingest"),
    path("openslo", api.openslo_export, name="slo-openslo"),
]
