"""The OpenAPI schema as a script writer meets it: valid, keyed by X-Dash-Key, every body described
with a realistic example; and the browsable API titled as the docs name each endpoint."""

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

PUBLIC = {("get", "/api/portal/download"), ("post", "/api/portal/stripe/webhook")}
SHAPED = ("properties", "items", "$ref", "oneOf")


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def bodies(operation):
    for ct, media in operation.get("requestBody", {}).get("content", {}).items():
        yield "request", ct, media
    for code, answer in operation["responses"].items():
        for ct, media in answer.get("content", {}).items():
            yield code, ct, media


def numbers_in(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers_in(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_the_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_the_schema_declares_the_x_dash_key_scheme_on_every_keyed_operation(schema):
    scheme = schema["components"]["securitySchemes"]["dashKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Dash-Key")
    keyed = [(m, p) for m, p, op in operations(schema) if (m, p) not in PUBLIC]
    missing = [(m, p) for m, p, op in operations(schema) if (m, p) in keyed and {"dashKey": []} not in op["security"]]
    assert keyed and missing == []


def test_every_json_body_is_described_not_free_form(schema):
    free = [
        (method, path, where, ct)
        for method, path, operation in operations(schema)
        for where, ct, media in bodies(operation)
        if ct == "application/json" and not any(key in media.get("schema", {}) for key in SHAPED)
    ]
    assert free == []


def test_the_ingest_body_names_the_sample_fields(schema):
    body = schema["paths"]["/api/slo/ingest"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    sample = body["properties"]["samples"]["items"]
    assert set(sample["properties"]) == {"ts", "latency_ms", "status", "route", "service"}
    assert "additionalProp1" not in str(body)


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/costs/authorize"),
        ("post", "/api/costs/usage"),
        ("post", "/api/costs/set-cap"),
        ("post", "/api/costs/override"),
        ("post", "/api/slo/ingest"),
        ("post", "/api/incidents/raise"),
    ],
)
def test_the_main_request_bodies_come_with_a_realistic_example(schema, method, path):
    examples = [
        example["value"]
        for media in schema["paths"][path][method]["requestBody"]["content"].values()
        for example in media.get("examples", {}).values()
    ]
    assert examples, f"{method} {path} shows no example"


def test_no_example_carries_an_absurd_number(schema):
    absurd = [
        (method, path, number)
        for method, path, operation in operations(schema)
        for _, _, media in bodies(operation)
        for example in media.get("examples", {}).values()
        for number in numbers_in(example.get("value"))
        if abs(number) >= 1e10
    ]
    assert absurd == []


def test_the_browsable_api_page_is_titled_with_the_endpoint_and_shows_no_markdown(api):
    page = api.get("/api/incidents/summarize", HTTP_ACCEPT="text/html").content.decode()
    assert "<title>/api/incidents/summarize" in page and "<h1>/api/incidents/summarize</h1>" in page
    assert "Summarize View" not in page
    assert "<p>The last 24 h (or ?hours=) grouped by fingerprint, with totals by severity.</p>" in page


def test_a_path_with_an_id_is_titled_as_the_docs_write_it(api):
    page = api.get("/api/incidents/1/acknowledge", HTTP_ACCEPT="text/html").content.decode()
    assert "<title>/api/incidents/{pk}/acknowledge" in page
