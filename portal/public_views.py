"""The customer's own pages under /portal/: ask for a link, see receipts, unsubscribe.

No account: the emailed signed link is the key. The answer to "send me my link" is the same for
every address, so the form does not tell a stranger who is a customer.
"""

import logging
import threading
from datetime import timedelta

from django import forms
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_q.tasks import async_task

from . import mail, pages, services, signing
from .api import visitor_of
from .models import AccessLog, Customer
from .tasks import send_receipts_link

log = logging.getLogger(__name__)


class LinkRequestForm(forms.Form):
    email = forms.EmailField(max_length=254)


def _too_many(request, action, visitor) -> HttpResponse | None:
    if not services.hit(f"page:{visitor.ip}", settings.PORTAL_PAGE_RATE_PER_MIN, timedelta(minutes=1)):
        return None
    services.record_access(action, AccessLog.RATE_LIMITED, 429, visitor, resource=action)
    return pages.too_many_page(request)


def _send_link_later(email: str) -> None:
    """The email goes out from the task queue: a slow mail server never slows this page, and the
    page takes the same time for known and unknown addresses. With the broker down it goes out from
    a thread of this worker instead, for the same two reasons; the page answers as always."""
    try:
        async_task("portal.tasks.send_receipts_link", email, True, task_name="portal: receipts link")
    except Exception as exc:  # the broker (Redis) refused: its client raises its own error types
        log.warning("task broker unreachable (%s); sending the receipts link from this worker", type(exc).__name__)
        threading.Thread(target=_send_link_now, args=(email,), name="portal-link-email", daemon=True).start()


def _send_link_now(email: str) -> None:
    try:
        send_receipts_link(email, True)
    except Exception:  # nobody waits on this thread: its failure is logged, the customer can ask again
        log.exception("could not send the receipts link")
    finally:
        connection.close()  # this thread's own connection


@require_http_methods(["GET", "POST"])
def request_link(request) -> HttpResponse:
    """GET: the form. POST: queue the email and answer the same page whatever the address."""
    if not mail.email_is_set_up():
        return pages.form_page(request, "request_link.html", {"email_off": True}, 503)
    if request.method == "GET":
        return pages.form_page(request, "request_link.html", {"form": LinkRequestForm()})
    visitor = visitor_of(request)
    if services.hit(f"link-request:{visitor.ip}", settings.PORTAL_LINK_REQUEST_RATE_PER_HOUR, timedelta(hours=1)):
        services.record_access("link_request", AccessLog.RATE_LIMITED, 429, visitor, resource="self-service")
        return pages.too_many_page(request, "Please try again later.")
    form = LinkRequestForm(request.POST)
    if not form.is_valid():
        return pages.form_page(request, "request_link.html", {"form": form}, 400)
    email = form.cleaned_data["email"]
    services.record_access("link_request", AccessLog.ALLOWED, 200, visitor, resource="self-service", email=email)
    _send_link_later(email)
    return pages.form_page(
        request,
        "message.html",
        {
            "heading": "Check your inbox",
            "text": "If this address has purchases with us, a link to your receipts is on its way. "
            f"It works for {settings.PORTAL_SELF_SERVICE_TTL_MIN} minutes.",
        },
    )


@require_http_methods(["GET"])
def receipts_page(request) -> HttpResponse:
    """The customer's receipts, reached through the emailed self-service link."""
    visitor = visitor_of(request)
    limited = _too_many(request, "receipts_page", visitor)
    if limited:
        return limited
    token = request.GET.get("token", "")
    customer: Customer | None
    try:
        customer = services.open_self_service(token)
    except signing.LinkRefused:
        behind = services.customer_behind(signing.SELF_SERVICE, token)
        services.record_access(
            "receipts_page", AccessLog.REFUSED, 403, visitor, resource="self-service", customer=behind
        )
        return pages.dead_link_page(request)
    services.record_access("receipts_page", AccessLog.ALLOWED, 200, visitor, resource="self-service", customer=customer)
    download = reverse("portal-download")
    rows = [
        (purchase, f"{download}?token={services.download_link(purchase).token}")
        for purchase in services.recent_purchases(customer)
    ]
    return pages.page(request, "receipts.html", {"customer": customer, "rows": rows})


# One-click unsubscribe (RFC 8058) is a POST from the mail provider, with no cookie and no CSRF
# token; the signed token in the URL is what authorises it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request) -> HttpResponse:
    """GET: a confirmation button. POST (the button, or a mail client's one-click): unsubscribe."""
    visitor = visitor_of(request)
    limited = _too_many(request, "unsubscribe", visitor)
    if limited:
        return limited
    token = request.GET.get("token", "")
    if request.method == "GET":
        if signing.inspect(signing.UNSUBSCRIBE, token) is None:
            return _refused_unsubscribe(request, visitor)
        return pages.page(request, "unsubscribe.html", {"token": token})
    try:
        customer = services.unsubscribe(token)
    except signing.LinkRefused:
        return _refused_unsubscribe(request, visitor)
    services.record_access("unsubscribe", AccessLog.ALLOWED, 200, visitor, resource="unsubscribe", customer=customer)
    return pages.page(
        request,
        "message.html",
        {
            "heading": "You are unsubscribed",
            "text": "We will not email you again, except a receipts link you ask for yourself.",
        },
    )


def _refused_unsubscribe(request, visitor) -> HttpResponse:
    services.record_access("unsubscribe", AccessLog.REFUSED, 403, visitor, resource="unsubscribe")
    return pages.page(request, "message.html", {"heading": "This link is not valid", "text": ""}, 403)
