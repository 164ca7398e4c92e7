"""Mounted at /api/deploy/: the deploy gate CI asks before shipping."""

from django.urls import path

from . import api

urlpatterns = [
    path("gate", api.deploy_gate, name="deploy-gate"),
    path("gate/lift", api.lift_gate, name="deploy-gate-lift"),
]
