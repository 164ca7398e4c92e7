from django.urls import path

from . import analytics_api

urlpatterns = [
    path("activity", analytics_api.activity, name="analytics-activity"),
    path("retention", analytics_api.retention_series, name="analytics-retention"),
]
