from django.urls import path

from . import public_views

urlpatterns = [
    path("", public_views.request_link, name="portal-request-link"),
    path("receipts", public_views.receipts_page, name="portal-receipts-page"),
    path("unsubscribe", public_views.unsubscribe, name="portal-unsubscribe"),
]
