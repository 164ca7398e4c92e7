from django.urls import path

from . import api

urlpatterns = [
    path("receipts", api.receipts, name="portal-receipts"),
    path("revoke", api.revoke, name="portal-revoke"),
    path("download", api.download, name="portal-download"),
    path("stripe/webhook", api.stripe_webhook, name="portal-stripe-webhook"),
]
