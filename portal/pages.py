"""How the portal's public HTML pages are answered: their referrer policy and the dead-link page.

Shared by the customer's pages and the public download, which answers a browser in HTML.
"""

from django.http import HttpResponse
from django.shortcuts import render

# A page whose URL holds a token keeps it out of Referer headers. A form page must not: under
# no-referrer a browser posts `Origin: null`, which Django's CSRF check refuses.
TOKEN_PAGE_POLICY = "no-referrer"
FORM_PAGE_POLICY = "same-origin"


def page(request, template, context=None, status=200, referrer_policy=TOKEN_PAGE_POLICY) -> HttpResponse:
    """A public page, kept out of shared caches; by default it may carry a token in its URL."""
    context = {**(context or {}), "referrer_policy": referrer_policy}
    response = render(request, f"portal/{template}", context, status=status)
    response["Referrer-Policy"] = referrer_policy
    response["Cache-Control"] = "private, no-store"
    return response


def form_page(request, template, context=None, status=200) -> HttpResponse:
    """A page without a token in its URL (the self-service form and its answers)."""
    return page(request, template, context, status, FORM_PAGE_POLICY)


def dead_link_page(request, status=403) -> HttpResponse:
    """What a person sees for a revoked, expired or tampered link; like the API's 403, it never
    says which check failed."""
    context = {
        "heading": "This link no longer works",
        "text": "Links are short-lived, and a new one replaces the old. Ask for a fresh link by email.",
        "ask_again": True,
    }
    return page(request, "message.html", context, status)


def too_many_page(request, text="Please wait a minute and try again.") -> HttpResponse:
    return page(request, "message.html", {"heading": "Too many requests", "text": text}, 429)
