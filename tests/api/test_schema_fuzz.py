"""Schemathesis against the OpenAPI schema of a live server: whatever it sends, no answer is a 5xx, every status
is one the operation declares, and every body (errors included) matches the schema declared for its status — for
errors, the envelope ``{"error": {"code", "message"}}`` — with the headers declared (Retry-After on 429 and 503)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from arena.api.app import create_app
from arena.settings import Settings
from tests.api.test_service import admin_key

CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance]
ENVELOPE = "#/components/schemas/ErrorEnvelope"


def test_no_operation_answers_with_a_server_error_or_off_its_schema(api, tmp_path):
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    key = admin_key(url)  # as an admin every route is reachable, so the fuzz gets past authentication
    server = api(database_url=url, rate_limit=1_000_000)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    tried, errors_seen = [], set()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue  # a live stream never ends by design

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: schemathesis.Case) -> None:
            headers = {**(case.headers or {}), "X-API-Key": key}
            response = case.call(headers=headers, timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
            )
            case.validate_response(response, checks=CHECKS, headers=headers)
            if response.status_code >= 400:
                errors_seen.add(response.status_code)

        fuzz()
        tried.append(f"{operation.method.upper()} {operation.path}")
    assert len(tried) >= 10, tried
    assert {404, 422} <= errors_seen, errors_seen  # error bodies were among those checked


def test_a_bad_key_and_the_rate_limit_answer_with_their_declared_schema(api, tmp_path):
    """Errors the fuzz does not provoke (it sends a good key and the limit is high): checked the same way."""
    server = api(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}", rate_limit=3)  # the schema is the first request
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema["/api/v1/bots"]["GET"]
    statuses = []
    for _ in range(3):
        case = operation.Case(headers={"X-API-Key": "made-up"})
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        statuses.append(response.status_code)
    assert statuses == [401, 401, 429]


def test_a_form_that_cannot_be_parsed_is_an_invalid_request(api, tmp_path):
    """Found by the fuzz: a form over its field cap was 400 HTTP_ERROR, a status the upload route does not
    declare; it is 422 INVALID_REQUEST, as any other invalid request."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    key = admin_key(url)
    server = api(database_url=url)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    case = schema["/api/v1/bots/{name}/versions"]["POST"].Case(
        path_parameters={"name": "b"}, headers={"X-API-Key": key}, media_type="multipart/form-data",
        body={**{f"f{i}": "x" for i in range(11)}, "file": b"print(1)\n"})
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 422 and response.json()["error"]["code"] == "INVALID_REQUEST", response.text


def test_every_operation_declares_the_envelope_for_its_errors():
    document = create_app(Settings()).openapi()
    operations = [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    assert operations
    for method, path, op in operations:
        errors = {status: answer for status, answer in op["responses"].items() if status[0] in "45"}
        for status, answer in errors.items():
            assert answer["content"]["application/json"]["schema"] == {"$ref": ENVELOPE}, (method, path, status)
            if status in ("429", "503"):
                assert answer["headers"]["Retry-After"]["required"], (method, path, status)
        if path.startswith("/api/v1/"):  # the middleware's and FastAPI's errors are possible everywhere
            assert {"401", "413", "422", "429", "503"} <= set(errors), (method, path, sorted(errors))
    assert "HTTPValidationError" not in document["components"]["schemas"]  # /docs shows no {"detail": [...]}
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert detail["required"] == ["code", "message"] and detail["additionalProperties"] is False
