"""Pages an operator reaches from a page's link, without signing in (the signed link is the key)."""

from django.urls import path

from . import public_views

urlpatterns = [
    path("ack/<str:token>", public_views.acknowledge_link, name="incidents-ack-link"),
]
