"""The one-click acknowledge link: a GET shows what it acknowledges, only the POST does it.

Mail scanners and link previews follow GET links; a GET that acknowledged would silence the page
before anybody read it.
"""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import links, services

REFUSED = "This acknowledge link no longer works: it may have expired or been used already."


# The signed token in the URL is the credential; a forged cross-site POST would need it already.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def acknowledge_link(request, token) -> HttpResponse:
    try:
        incident = links.incident_of(links.delivery_for(token))
        if request.method == "POST":
            incident = services.acknowledge_by_link(token)
    except links.AckRefused:
        # One answer for every refusal: which check failed (forged, expired, used) helps only a guesser.
        return _page(request, {"refused": REFUSED}, status=410)
    context = {"incident": incident, "done": request.method == "POST", "console_url": links.console_url(incident)}
    return _page(request, context)


def _page(request, context, status=200) -> HttpResponse:
    response = render(request, "incidents/ack_link.html", context, status=status)
    # The URL holds a token: keep it out of Referer headers and shared caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response
