"""The portal's JSON API: receipts lookup (X-Dash-Key), the public download and Stripe webhook."""

import logging
from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from echopilot.auth import role_of
from echopilot.clientip import client_ip
from echopilot.errors import error_response
from echopilot.models import DashKey
from echopilot.openapi import error

from . import openapi_docs, pages, services, signing, stripe_events
from .models import AccessLog, Purchase

log = logging.getLogger(__name__)

REFUSED = "invalid or expired link"


def visitor_of(request) -> services.Visitor:
    # Through the proxies we run only: X-Forwarded-For is whatever the client says otherwise.
    return services.Visitor(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""))


def receipt_json(purchase: Purchase, link: signing.SignedLink | None) -> dict:
    """A receipt as the API shows it; without a link (null) for a caller who may not mint one."""
    return {
        "id": purchase.pk,
        "number": purchase.reference,
        "kind": purchase.kind,
        "description": purchase.description,
        "amount": str(purchase.amount_display),
        "currency": purchase.currency,
        "status": purchase.status,
        "purchased_at": purchase.purchased_at.isoformat(),
        "download_url": services.download_url(link) if link else None,
        "expires": link.expires.isoformat() if link and link.expires else None,
    }


def receipts_for(request, customer) -> list[tuple[Purchase, signing.SignedLink | None]]:
    """The customer's receipts, with fresh links only for an admin: a link hands out the document."""
    if role_of(request.user) == DashKey.ADMIN:
        return list(services.receipts_with_links(customer))
    return [(purchase, None) for purchase in (services.recent_purchases(customer) if customer else [])]


class EmailQuery(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


@extend_schema(
    parameters=[OpenApiParameter("email", OpenApiTypes.EMAIL, required=True)],
    responses={200: openapi_docs.RECEIPTS, 400: error("the email is missing or malformed")},
)
@api_view(["GET"])
def receipts(request) -> Response:
    """A customer's recent purchases, newest first, each with a signed download link and its expiry
    (an analyst gets the list, with null links: minting one hands out the customer's document)."""
    query = EmailQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    email = query.validated_data["email"]
    customer = services.find_customer(email)
    rows = receipts_for(request, customer)
    services.record_access(
        "lookup", AccessLog.ALLOWED, 200, visitor_of(request), resource="receipts", customer=customer, email=email
    )
    return Response(
        {
            "email": email.lower(),
            "known": customer is not None,
            "unsubscribed": bool(customer and customer.is_unsubscribed),
            "link_ttl_hours": settings.PORTAL_LINK_TTL_HRS,
            "receipts": [receipt_json(purchase, link) for purchase, link in rows],
        }
    )


@extend_schema(
    request=EmailQuery,
    examples=[openapi_docs.REVOKE_REQUEST],
    responses={200: openapi_docs.REVOKED, 404: error("no customer with this email")},
)
@api_view(["POST"])
def revoke(request) -> Response:
    """Make every link issued so far to this customer fail (admin)."""
    query = EmailQuery(data=request.data)
    query.is_valid(raise_exception=True)
    customer = services.find_customer(query.validated_data["email"])
    if customer is None:
        return error_response("no customer with this email", {"email": "unknown customer"}, 404)
    generation = services.revoke_links(customer)
    return Response({"email": customer.email, "link_generation": generation, "revoked_at": customer.links_revoked_at})


@extend_schema(
    parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
    responses={
        (200, "application/pdf"): OpenApiTypes.BINARY,
        400: error("no token"),
        403: error("invalid or expired link (never which check failed); a browser gets a page instead"),
        429: error("too many downloads from this address; try again in a minute"),
    },
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def download(request) -> HttpResponse:
    """Public: the receipt or invoice PDF a signed token grants; one identical 403 for any refusal."""
    visitor = visitor_of(request)
    token = request.query_params.get("token", "")
    browser = _is_browser(request)
    if services.hit(f"download:{visitor.ip}", settings.PORTAL_DOWNLOAD_RATE_PER_MIN, timedelta(minutes=1)):
        services.record_access("download", AccessLog.RATE_LIMITED, 429, visitor, resource="download")
        if browser:
            return pages.too_many_page(request)
        return error_response("too many requests; try again in a minute", status_code=429)
    if not token:
        services.record_access("download", AccessLog.REFUSED, 400, visitor, resource="download")
        if browser:
            return pages.dead_link_page(request, status=400)
        return error_response("invalid input", {"token": "this field is required"})
    try:
        purchase = services.open_download(token)
    except signing.LinkRefused:
        customer = services.customer_behind(signing.DOWNLOAD, token)
        services.record_access("download", AccessLog.REFUSED, 403, visitor, resource="download", customer=customer)
        if browser:
            return pages.dead_link_page(request)
        return error_response(REFUSED, status_code=403)
    # Imported here, not at the top: fpdf2 and its fonts (~19 MB, 0.2-0.4 s) would otherwise load in
    # every web and cluster process, for the one view that draws a PDF.
    from . import pdf

    document = pdf.render(purchase)
    services.record_access(
        "download",
        AccessLog.ALLOWED,
        200,
        visitor,
        resource=f"{purchase.kind}:{purchase.reference}",
        customer=purchase.customer,
        purchase=purchase,
    )
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{purchase.kind}-{purchase.reference}.pdf"'
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@extend_schema(
    request={"application/json": openapi_docs.STRIPE_EVENT},
    examples=[openapi_docs.STRIPE_REQUEST],
    parameters=[OpenApiParameter("Stripe-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)],
    responses={
        200: openapi_docs.STRIPE_RECEIVED,
        400: error("invalid Stripe signature"),
        503: error("STRIPE_WEBHOOK_SECRET is not set on this server"),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def stripe_webhook(request) -> Response:
    """Public, verified by Stripe-Signature: apply one Stripe event exactly once."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        # Every delivery would fail its signature check: say what is wrong, and Stripe retries later.
        log.error("refused a Stripe webhook: STRIPE_WEBHOOK_SECRET is not set")
        response = error_response(
            "webhook secret not configured: set STRIPE_WEBHOOK_SECRET",
            {"STRIPE_WEBHOOK_SECRET": "not set on this server"},
            status_code=503,
        )
        response["Retry-After"] = "300"
        return response
    try:
        outcome = stripe_events.receive(request.body, request.META.get("HTTP_STRIPE_SIGNATURE"))
    except stripe_events.InvalidEvent:
        _count_bad_signature(visitor_of(request))
        return error_response("invalid Stripe signature", {"Stripe-Signature": "missing, wrong or stale"})
    return Response(
        {
            "received": True,
            "id": outcome.event_id,
            "type": outcome.type,
            "duplicate": outcome.duplicate,
            "detail": outcome.detail,
        }
    )


def _is_browser(request) -> bool:
    """A person following the link in a browser (it asks for HTML), not a script: they get a page
    that offers a fresh link instead of the API's developer page."""
    renderer = getattr(request, "accepted_renderer", None)
    return renderer is not None and renderer.format == "api"


def _count_bad_signature(visitor: services.Visitor, now=None) -> None:
    """Log a refused webhook; after several within an hour, tell the incidents app once."""
    now = now or timezone.now()
    log.warning("refused a Stripe webhook with a bad signature from %s", visitor.ip)
    count = services.count_hit("stripe-webhook-bad-signature", timedelta(hours=1), now)
    if count != settings.PORTAL_WEBHOOK_FAILURES_BEFORE_INCIDENT:
        return
    services.report_incident(
        "WARNING",
        f"{count} Stripe webhooks with a bad signature in the last hour",
        {"last_ip": visitor.ip},
        fingerprint="portal:stripe-webhook-signature",
        now=now,
    )
