"""What the OpenAPI schema and the browsable API say about the API: the X-Dash-Key scheme, response
bodies described from realistic examples, and page titles named for the endpoint as the docs name it."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework.utils.formatting import dedent, markup_description

ERROR_EXAMPLE = {"error": "invalid input", "fields": {"usd_cap": "must be a number of at least 0"}}


class DashKeyScheme(OpenApiAuthenticationExtension):
    """X-Dash-Key, so the docs page's Authorize dialog takes a key and "Try it out" sends it."""

    target_class = "echopilot.auth.DashKeyAuthentication"
    name = "dashKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Dash-Key",
            "description": "An admin or analyst key (manage.py dashkey create, or the admin's Dash keys).",
        }


def schema_of(example, nullable: frozenset[str] = frozenset()) -> dict:
    """The JSON schema `example` is an instance of; properties named in `nullable` may be null."""
    if isinstance(example, dict):
        properties = {key: _nullable(schema_of(value, nullable), key in nullable) for key, value in example.items()}
        return {"type": "object", "properties": properties}
    if isinstance(example, list):
        return {"type": "array", "items": schema_of(example[0], nullable) if example else {}}
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    if example is None:
        return {"nullable": True}
    return {"type": "string"}


def _nullable(schema: dict, nullable: bool) -> dict:
    return {**schema, "nullable": True} if nullable and "type" in schema else schema


def documented(example, description: str = "", nullable: tuple[str, ...] = ()) -> OpenApiResponse:
    """A response whose schema is read off a realistic `example`, shown in the docs as that example."""
    return OpenApiResponse(
        response=schema_of(example, frozenset(nullable)),
        description=description,
        examples=[OpenApiExample("example", value=example, response_only=True)],
    )


AUDIT_CHAIN = documented(
    {
        "entries": [
            {
                "seq": 1042,
                "at": "2026-12-06T09:14:22.180000+00:00",
                "actor": "key:ci-deploy",
                "address": "203.0.113.7",
                "action": "update",
                "app": "costs",
                "model": "costcap",
                "object_id": "3",
                "fields": ["usd_cap"],
                "prev_hash": "9f2c1e0b5a7d4c3e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
                "hash": "4b1d6e2f9a0c3b5d7e8f9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f",
            }
        ],
        "next_since": 1042,
        "head": {"seq": 1042, "hash": "4b1d6e2f9a0c3b5d7e8f9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f"},
    },
    "Entries after `since`, oldest first; ask again with `since=next_since` for the next page.",
    nullable=("address",),
)


def error(description: str, example: dict | None = None) -> OpenApiResponse:
    """The API's one error shape: {"error": ..., "fields": {field: message}}."""
    body = example or ERROR_EXAMPLE
    schema = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["error", "fields"],
    }
    return OpenApiResponse(
        response=schema, description=description, examples=[OpenApiExample("error", value=body, response_only=True)]
    )


def request_example(value, name: str = "example") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


def view_name(view) -> str:
    """The browsable API's title: the path, as the docs page lists it (`/api/incidents/raise`),
    rather than the function's name ("Raise View")."""
    request = getattr(view, "request", None)
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return getattr(view, "name", None) or view.__class__.__name__
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", match.route)


def view_description(view, html: bool = False) -> str:
    """The docstring as plain text: its `code` marks are for the docs' markdown, not for the page."""
    text = dedent(view.__class__.__doc__ or "").replace("`", "")
    return markup_description(text) if html else text
