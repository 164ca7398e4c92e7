"""A tiny API used only by test_errors: one endpoint that validates a body with the kernel's fields."""

from django.urls import path
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from echopilot.validators import MillisecondsField, UsdField


class CapIn(serializers.Serializer):
    usd_cap = UsdField()
    timeout_ms = MillisecondsField(required=False)


@api_view(["POST"])
def set_cap(request):
    data = CapIn(data=request.data)
    data.is_valid(raise_exception=True)
    return Response({"usd_cap": data.validated_data["usd_cap"]})


urlpatterns = [path("api/test/set-cap", set_cap)]
