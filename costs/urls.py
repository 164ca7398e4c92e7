from django.urls import path

from . import api

urlpatterns = [
    path("usage", api.usage, name="costs-usage"),
    path("authorize", api.authorize, name="costs-authorize"),
    path("status", api.status, name="costs-status"),
    path("set-cap", api.set_cap, name="costs-set-cap"),
    path("override", api.override, name="costs-override"),
    path("forecast", api.forecast, name="costs-forecast"),
]
