"""Content negotiation with a fast path for the API's usual caller.

Scripts and services send no Accept header, `*/*` or `application/json`; for them the answer is
JSON and parsing the header is wasted work (DRF's negotiation was the largest single cost of a
`costs/authorize` call). Anything else, a browser asking for HTML included, is negotiated fully.
"""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer

PLAIN_ACCEPTS = frozenset(("", "*/*", "application/json"))


class JSONFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None) -> tuple[BaseRenderer, str]:
        first = renderers[0] if renderers else None
        if (
            format_suffix is None
            and isinstance(first, JSONRenderer)
            and request.META.get("HTTP_ACCEPT", "").strip() in PLAIN_ACCEPTS
            and self.settings.URL_FORMAT_OVERRIDE not in request.GET
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
