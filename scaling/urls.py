from django.urls import path

from . import api

urlpatterns = [
    path("status", api.status, name="scale-status"),
    path("apply", api.apply, name="scale-apply"),
    path("signals", api.signals, name="scale-signals"),
]
