"""A fast path in front of Django for the API's hottest calls: every AI call the product makes asks
costs/authorize and reports to costs/usage.

For those, Django's request cycle (the session, CSRF, auth and message middleware, URL resolution,
the request signals) and DRF's wrapping cost several times the work itself: a usage report spent
more CPU there than on its durable write. `FastPaths` is the WSGI application the servers run. It
answers a plain JSON POST from an admin X-Dash-Key to a view marked with `json_fast_path(handler)`
by calling `handler(data) -> dict`, and gives every other request to Django unchanged: a browser, a
staff session, an analyst or unknown key, a body that is not a UTF-8 JSON document, a query string
(?format=api), a host outside ALLOWED_HOSTS, a request SECURE_SSL_REDIRECT would redirect.

What Django's cycle does for such a request is kept, with Django's own code where it has one: the
request signals (on which the database connections' health and age are checked), the host check,
the security and frame-options headers, the error log and JSON 500 of an exception
(`response_for_exception`), the log line of a 4xx, the request metrics and the console's SLO
sample. The answer is the one DRF gives, header for header (tests/costs/test_fast_path.py compares
them). AuditMiddleware's per-write entries are not: appending one entry per AI call under the
chain's one head lock would queue every call on it. The handler runs as the key's writer instead
(`audit.writing_as`), its app records who and from where on the rows it writes, and chains them in
bulk within a minute (costs.sealing). The DRF view calls the same handler, and stays what the
schema documents and what every other request reaches.
"""

import io
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, Never, TypeVar
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import orjson
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_started
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern
from django.utils.http import parse_header_parameters
from django.utils.log import log_response
from rest_framework import serializers

from . import audit
from .auth import HEADER, resolve_key
from .errors import error_body, validation_error_body
from .metrics import observe_request
from .models import DashKey
from .negotiation import PLAIN_ACCEPTS

JSON = "application/json"
_View = TypeVar("_View")

# What an app wants to hear of each request the fast path answered, as (route name, status,
# elapsed ms): the middleware that would have seen it did not run. The slo app registers its
# console samples here in ready(); a plain list, since a signal's dispatch costs more per call.
ANSWERED_HOOKS: list[Callable[[str, int, float], None]] = []


def on_answered(hook: Callable[[str, int, float], None]) -> None:
    """Call `hook(route, status, elapsed_ms)` for every request the fast path answers."""
    if hook not in ANSWERED_HOOKS:
        ANSWERED_HOOKS.append(hook)


def json_fast_path(handler) -> Callable[[_View], _View]:
    """Mark a DRF function view as answered by `handler(data) -> dict` on the fast path (a
    ValidationError it raises is the 400). The view itself is unchanged."""

    def decorator(drf_view: Any) -> Any:
        drf_view.fast_handler = handler
        return drf_view

    return decorator


class _Route:
    __slots__ = ("handler", "name", "allow")

    def __init__(self, handler, name: str, allow: str) -> None:
        self.handler = handler
        self.name = name  # the metrics' and SLO samples' route, as echopilot.metrics.route_of gives it
        self.allow = allow


class FastPaths:
    """WSGI: `django_app` with the views marked by `json_fast_path` answered in front of it."""

    def __init__(self, django_app) -> None:
        self.django_app = django_app
        self._routes: dict[str, _Route] | None = None  # path -> _Route, read from the URLconf on the first request
        # Django's own middleware, for the same redirect and headers as an answer through Django.
        self._security = SecurityMiddleware(_unreachable)
        self._frame_options = XFrameOptionsMiddleware(_unreachable)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if _chunked(environ):
            refusal = _read_chunked_body(environ)
            if refusal is not None:
                return refusal(environ, start_response)
        route = self._route(environ)
        if route is None:
            return self.django_app(environ, start_response)
        started = time.perf_counter()
        # As Django's handler: the connections' health and age checks (close_old_connections) run
        # on these signals, request_finished being sent when the server closes the response.
        request_started.send(sender=self.__class__, environ=environ)
        request = WSGIRequest(environ)
        try:
            response = self._answer(request, route)
        except Exception as exc:  # as Django's handler: logged, and the JSON 500 of handler500
            response = response_for_exception(request, exc)
        if response is None:
            return self.django_app(environ, start_response)
        self._finish(request, route, response, started)
        # Django's handler sets these two on every response; the stubs do not know them.
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response

    def _route(self, environ) -> _Route | None:
        """The fast route for this request when its method, path and headers allow one, else None."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
            return None
        if self._routes is None:
            self._routes = dict(_fast_routes(get_resolver()))
        route = self._routes.get(environ.get("PATH_INFO"))
        if route is None or environ.get("HTTP_ACCEPT", "").strip() not in PLAIN_ACCEPTS:
            return None
        if not _utf8_json(environ.get("CONTENT_TYPE", "")):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return None  # Django answers a body it will not read
        return route

    def _answer(self, request, route) -> HttpResponse | None:
        """The answer, or None to hand the request to Django (its body put back if it was read)."""
        try:
            request.get_host()
        except DisallowedHost:  # Django answers it, and logs it as the security event it is
            return None
        if self._security.process_request(request) is not None:  # SECURE_SSL_REDIRECT
            return None
        holder = resolve_key((request.META.get(HEADER) or "").strip())
        if holder is None or holder.role != DashKey.ADMIN:
            return None
        body = request.body
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:  # DRF words the 400 for a malformed body
            request.environ["wsgi.input"] = io.BytesIO(body)
            return None
        try:
            with audit.writing_as(audit.key_actor(holder.name), audit.address_of(request)):
                return _json_response(route.handler(data), 200, route.allow)
        except (serializers.ValidationError, DjangoValidationError) as exc:
            return _json_response(validation_error_body(exc), 400, route.allow)

    def _finish(self, request, route, response, started) -> None:
        """What the middleware and Django's handler do to an answer on its way out."""
        # The headers the middleware adds, in the order it adds them.
        self._frame_options.process_response(request, response)
        response.headers["Content-Length"] = str(len(response.content))
        self._security.process_response(request, response)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        elapsed = time.perf_counter() - started
        observe_request(route.name, "POST", response.status_code, elapsed)
        for hook in ANSWERED_HOOKS:
            hook(route.name, response.status_code, elapsed * 1000)


def _fast_routes(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, _Route]]:
    """(path, _Route) of every view marked by json_fast_path at a fixed path of the URLconf (one
    without converters or regular expressions) that Django resolves to that view."""
    for pattern in resolver.url_patterns:
        if not isinstance(pattern.pattern, RoutePattern) or "<" in str(pattern.pattern):
            continue
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _fast_routes(pattern, route)
            continue
        handler = getattr(pattern.callback, "fast_handler", None)
        if handler is not None and resolve("/" + route).func is pattern.callback:
            view_class = getattr(pattern.callback, "cls")  # noqa: B009  (DRF sets it; the stubs do not know)
            allow = ", ".join(view_class().allowed_methods)  # in DRF's order, which varies by process
            yield "/" + route, _Route(handler, "/" + route, allow)


def _chunked(environ) -> bool:
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH")


def _read_chunked_body(environ) -> WSGIApplication | None:
    """A body sent with Transfer-Encoding: chunked has no Content-Length, and Django reads no body
    without one: the request would be acted on as if it were empty (a rebaseline on the default
    SLO). When the server has decoded the chunks (wsgi.input_terminated: gunicorn does), the body is
    read here, at most one byte past DATA_UPLOAD_MAX_MEMORY_SIZE (Django then refuses it as too
    large), and given its length. Otherwise the answer is 411 Length Required. None when the request
    can go on; else the WSGI application that answers the refusal."""
    if not environ.get("wsgi.input_terminated"):
        return _length_required
    body = environ["wsgi.input"].read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return None


def _length_required(environ, start_response) -> list:
    body = orjson.dumps(error_body("a request body needs Content-Length (or a server that decodes chunked bodies)"))
    start_response("411 Length Required", [("Content-Type", JSON), ("Content-Length", str(len(body)))])
    return [body]


def _utf8_json(content_type: str) -> bool:
    if content_type == JSON:
        return True
    main, params = parse_header_parameters(content_type)
    return main == JSON and params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


def _unreachable(request) -> Never:
    raise AssertionError("only the middleware's process_request / process_response are called")


def _json_response(body: dict, status: int, allow: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body, default=_as_json), status=status, content_type=JSON)
    # What DRF adds to the same answer.
    response["Vary"] = "Accept"
    response["Allow"] = allow
    return response


def _as_json(value) -> float:
    """DRF's encoder turns Decimal into a JSON number; so does this."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
