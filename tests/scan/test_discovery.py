"""Target discovery: OpenAPI operations with filled parameters, and tokens in login answers."""

from __future__ import annotations

from typing import Any

import pytest

from tokenveil.scan import RecordedResponse
from tokenveil.scan._discovery import endpoints_from_openapi, fill_template, tokens_from_response

DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/users/{user_id}": {
            "get": {
                "parameters": [{"name": "user_id", "in": "path", "schema": {"type": "integer"}}],
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/User"}}
                        }
                    }
                },
            },
            "delete": {"responses": {"204": {"description": "gone"}}},
        },
        "/orders/{order_id}": {
            "parameters": [{"name": "order_id", "in": "path", "example": "ord-7"}],
            "get": {"responses": {"200": {"description": "ok"}}},
        },
        "/items/{sku}": {
            "get": {
                "parameters": [{"$ref": "#/components/parameters/Sku"}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
    "components": {
        "schemas": {
            "User": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            }
        },
        "parameters": {
            "Sku": {"name": "sku", "in": "path", "schema": {"type": "string", "enum": ["A1", "B2"]}}
        },
    },
}


def test_every_operation_becomes_an_endpoint_with_its_template() -> None:
    """GET and DELETE are listed; the endpoint key keeps the template."""
    keys = {e.key for e in endpoints_from_openapi(DOC)}
    assert keys == {
        "GET /users/{user_id}",
        "DELETE /users/{user_id}",
        "GET /orders/{order_id}",
        "GET /items/{sku}",
    }


def test_path_parameters_are_filled_from_examples_enums_and_types() -> None:
    """Example wins; then enum; then a type-based default; $ref parameters are resolved."""
    paths = {e.key: e.path for e in endpoints_from_openapi(DOC)}
    assert paths["GET /orders/{order_id}"] == "/orders/ord-7"
    assert paths["GET /items/{sku}"] == "/items/A1"
    assert paths["GET /users/{user_id}"] == "/users/1"


def test_response_schema_is_resolved_through_refs() -> None:
    """The 200 schema of GET /users/{user_id} is the User component, inlined."""
    ep = next(e for e in endpoints_from_openapi(DOC) if e.key == "GET /users/{user_id}")
    assert ep.response_schema is not None
    assert set(ep.response_schema["properties"]) == {"id", "name"}
    assert ep.params == ("user_id",)


def test_fill_template_defaults_unknown_names() -> None:
    """Unknown parameters become "1"."""
    assert fill_template("/a/{x}/b/{y}", {"x": "7"}) == "/a/7/b/1"


def test_tokens_are_found_in_oauth_fields_nested_fields_and_cookies() -> None:
    """access/refresh/id tokens by name, data.token nesting, reset tokens and Set-Cookie."""
    body = {
        "data": {"token": "acc-0123456789", "refreshToken": "ref-0123456789"},
        "id_token": "id-0123456789",
        "password_reset_token": "reset-0123456789",
    }
    response = RecordedResponse(200, (("set-cookie", "sid=cookie-0123; HttpOnly"),), b"")
    found = tokens_from_response(body, response)
    assert found.access == "acc-0123456789"
    assert found.refresh == "ref-0123456789"
    assert found.id_token == "id-0123456789"
    assert found.extra == {"password_reset_token": "reset-0123456789"}
    assert found.cookies == {"sid": "cookie-0123"}
    assert "0123456789" not in repr(found)


def test_a_cookie_only_login_yields_the_access_token_from_the_cookie() -> None:
    """APIs that answer with Set-Cookie only still give the scanner a token."""
    response = RecordedResponse(200, (("set-cookie", "access_token=eyJabc.eyJdef.sig; Secure"),))
    assert tokens_from_response(None, response).access == "eyJabc.eyJdef.sig"


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"servers": [{"url": "/api/v1"}]}, "/api/v1/items/A1"),
        ({"servers": [{"url": "https://elsewhere.example.test/v2/"}]}, "/v2/items/A1"),
        ({"servers": [{"url": "https://{region}.example.test/v3"}]}, "/items/A1"),
        ({"basePath": "/legacy"}, "/legacy/items/A1"),
        ({}, "/items/A1"),
    ],
)
def test_server_url_and_base_path_prefix_every_operation(extra: dict[str, Any], path: str) -> None:
    """OpenAPI 3 servers[0] path or Swagger 2 basePath; the server's host is never used."""
    doc = {**DOC, **extra}
    ep = next(e for e in endpoints_from_openapi(doc) if e.template.endswith("/items/{sku}"))
    assert ep.path == path


def test_required_query_parameters_are_filled_and_optional_ones_left_out() -> None:
    """A required ?q= gets its example; an optional ?page= is not sent."""
    doc: dict[str, Any] = {
        "paths": {
            "/search": {
                "get": {
                    "parameters": [
                        {"name": "q", "in": "query", "required": True, "example": "tea set"},
                        {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        }
    }
    (ep,) = endpoints_from_openapi(doc)
    assert ep.path == "/search?q=tea+set"
    assert ep.key == "GET /search"
