"""PagerDuty's Events API path at the site root: a sender whose base URL is the console's own."""

from django.urls import path

from . import api

urlpatterns = [path("enqueue", api.events_view, name="pagerduty-enqueue")]
