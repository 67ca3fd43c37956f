"""Building the target model from what the API publishes: OpenAPI operations, RFC 8414 metadata,
and the tokens a login answer carries. Pure functions over parsed documents and responses."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from tokenveil.scan._checks._base import looks_like_jwt
from tokenveil.scan._checks._transport import parse_set_cookie
from tokenveil.scan._model import Endpoint, RecordedResponse, TokenSet

__all__ = [
    "COMMON_PATHS",
    "METADATA_PATHS",
    "OPENAPI_PATHS",
    "endpoints_from_openapi",
    "fill_template",
    "tokens_from_response",
]

OPENAPI_PATHS = (
    "/openapi.json",
    "/swagger.json",
    "/v3/api-docs",
    "/api/openapi.json",
    "/swagger/v1/swagger.json",
)
METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
#: Probed when no OpenAPI document is found, and always for the debug-ish ones.
COMMON_PATHS = (
    "/me",
    "/users/me",
    "/api/me",
    "/api/users/me",
    "/profile",
    "/api/profile",
    "/user",
    "/userinfo",
    "/account",
    "/whoami",
    "/users",
    "/api/users",
    "/admin",
    "/debug",
    "/debug/vars",
    "/debug/settings",
    "/debug/token",
    "/env",
    "/.env",
    "/config",
    "/actuator/env",
    "/server-info",
    "/trace",
    "/.well-known/jwks.json",
)
_DEBUG_ALWAYS = (
    "/debug",
    "/debug/vars",
    "/debug/settings",
    "/env",
    "/.env",
    "/config",
    "/actuator/env",
    "/server-info",
    "/trace",
)
DEBUG_PATHS = _DEBUG_ALWAYS
_METHODS = ("get", "head", "options", "post", "put", "patch", "delete")
_PARAM = re.compile(r"\{([^}/]+)\}")
_TOKEN_FIELDS = {
    "access_token": "access",
    "accesstoken": "access",
    "token": "access",
    "jwt": "access",
    "refresh_token": "refresh",
    "refreshtoken": "refresh",
    "id_token": "id",
    "idtoken": "id",
}


def _resolve(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with local ``$ref``s inlined (depth-bounded: recursive schemas stop open)."""
    if depth > 10:
        return {}
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = doc
            for part in ref[2:].split("/"):
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            return _resolve(doc, target, depth + 1)
        return {k: _resolve(doc, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(doc, v, depth + 1) for v in node]
    return node


def _example(param: dict[str, Any]) -> str:
    schema = param.get("schema") if isinstance(param.get("schema"), dict) else {}
    assert isinstance(schema, dict)
    for source in (param, schema):
        if "example" in source:
            return str(source["example"])
        examples = source.get("examples")
        if isinstance(examples, list) and examples:
            return str(examples[0])
        if isinstance(examples, dict) and examples:
            first = next(iter(examples.values()))
            if isinstance(first, dict) and "value" in first:
                return str(first["value"])
    if "default" in schema:
        return str(schema["default"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "1"
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000001"
    return "1"


def fill_template(template: str, values: dict[str, str]) -> str:
    """The template with each ``{name}`` replaced from ``values`` (``"1"`` when unknown)."""
    return _PARAM.sub(lambda m: values.get(m.group(1), "1"), template)


def _response_schema(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    responses = op.get("responses")
    if not isinstance(responses, dict):
        return None
    for status in sorted(str(s) for s in responses):
        if not status.startswith("2"):
            continue
        answer = _resolve(doc, responses.get(status) or responses.get(int(status)))
        if not isinstance(answer, dict):
            return None
        content = answer.get("content") or {}
        for media, body in content.items() if isinstance(content, dict) else []:
            if "json" in media and isinstance(body, dict) and isinstance(body.get("schema"), dict):
                schema: dict[str, Any] = body["schema"]
                return schema
        if isinstance(answer.get("schema"), dict):  # Swagger 2.0
            legacy: dict[str, Any] = answer["schema"]
            return legacy
        return None
    return None


def _server_prefix(doc: dict[str, Any]) -> str:
    """The path every operation hangs under: Swagger 2.0 ``basePath``, or the path of the first
    OpenAPI 3 ``servers`` URL (its host is ignored: the scan stays on the target)."""
    if "basePath" in doc:
        return str(doc["basePath"]).rstrip("/")
    servers = doc.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url", ""))
        if "{" in url:  # server variables: too ambiguous to guess
            return ""
        return urlsplit(url).path.rstrip("/")
    return ""


def endpoints_from_openapi(doc: dict[str, Any]) -> list[Endpoint]:
    """Every operation of an OpenAPI 3.x / Swagger 2.0 document, path parameters filled from
    examples, defaults, enums or type-based guesses."""
    out: list[Endpoint] = []
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return out
    prefix = _server_prefix(doc)
    for template, item in paths.items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters", []) if isinstance(item.get("parameters"), list) else []
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [_resolve(doc, p) for p in [*shared, *(op.get("parameters") or [])]]
            values = {
                str(p["name"]): _example(p)
                for p in params
                if isinstance(p, dict) and p.get("in") == "path" and "name" in p
            }
            # Required query parameters too, or the baseline only ever sees 422s.
            query = {
                str(p["name"]): _example(p)
                for p in params
                if isinstance(p, dict) and p.get("in") == "query" and p.get("required")
            }
            full = f"{prefix}{template}"
            concrete = fill_template(full, values)
            out.append(
                Endpoint(
                    method=method.upper(),
                    path=f"{concrete}?{urlencode(query)}" if query else concrete,
                    template=full,
                    response_schema=_response_schema(doc, op),
                    params=tuple(_PARAM.findall(full)),
                    source="openapi",
                )
            )
    return out


def _walk(obj: Any, depth: int = 0) -> list[tuple[str, str]]:
    """(key, string value) pairs of a JSON answer, three levels deep (``data.token`` answers)."""
    out: list[tuple[str, str]] = []
    if depth > 3:
        return out
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, str):
                out.append((str(key), value))
            else:
                out.extend(_walk(value, depth + 1))
    elif isinstance(obj, list):
        for value in obj:
            out.extend(_walk(value, depth + 1))
    return out


def tokens_from_response(body: Any, response: RecordedResponse) -> TokenSet:
    """The tokens a login or refresh answer carries: JSON fields (access_token, refresh_token,
    id_token, token, jwt, and camelCase spellings) and Set-Cookie values."""
    found = TokenSet()
    for key, value in _walk(body):
        role = _TOKEN_FIELDS.get(key.lower().replace("-", "_"))
        if not value:
            continue
        if role == "access" and found.access is None:
            found.access = value
        elif role == "refresh" and found.refresh is None:
            found.refresh = value
        elif role == "id" and found.id_token is None:
            found.id_token = value
        elif "token" in key.lower() and role is None:
            found.extra[key] = value  # e.g. reset_token: linted like the others
    for header in response.header_all("set-cookie"):
        parsed = parse_set_cookie(header)
        if parsed is None or not parsed[1]:
            continue
        name, value = parsed[0], parsed[1].strip('"')
        found.cookies[name] = value
        lowered = name.lower()
        if "refresh" in lowered and found.refresh is None:
            found.refresh = value
        elif found.access is None and (looks_like_jwt(value) or "token" in lowered):
            found.access = value
    return found
