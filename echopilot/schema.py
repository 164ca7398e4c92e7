"""The OpenAPI schema's shared answers: every operation can be refused in the API's one error shape
(400 bad input, 401/403 the key, 404, 503 a dependency down), which the views raise through the
kernel rather than declare one by one. A drf-spectacular postprocessing hook adds them where an
operation does not document the status itself."""

from typing import Any

ERROR_BODY = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": True},
    },
    "required": ["error", "fields"],
}
ERRORS = {
    "400": "Bad input: `fields` names each refused field",
    "401": "Missing or unknown X-Dash-Key",
    "403": "The key's role may not do this (or a refused signed link)",
    "404": "No such object",
    "503": "A dependency (the database) is unavailable; see Retry-After",
}


def add_error_responses(result, generator, request, public) -> dict[str, Any]:
    """Add the shared error answers, and the ErrorBody component they point at, to every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_BODY
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(status, {"description": description, "content": error})
    return result
