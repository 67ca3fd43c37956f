"""Builders for recorded exchanges: the checks' unit tests feed these instead of a network."""

from __future__ import annotations

import json
import time
from typing import Any

from tokenveil.scan import Exchange, Observations, RecordedRequest, RecordedResponse, Target
from tokenveil.scan._jose import sign_hmac

BASE = "http://127.0.0.1:9"
SECRET = b"tests-only-hmac-key-not-in-any-wordlist-0123456789"


def token(claims: dict[str, Any] | None = None, *, key: bytes = SECRET, **header: Any) -> str:
    """An HS256 token with sensible claims, overridable."""
    now = int(time.time())
    base = {"sub": "42", "iat": now, "exp": now + 300, "aud": "api", "iss": "https://issuer"}
    return sign_hmac({"alg": "HS256", "typ": "at+jwt", **header}, {**base, **(claims or {})}, key)


def exchange(
    probe: str,
    endpoint: str = "GET /me",
    *,
    status: int = 200,
    body: Any = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    bearer: str | None = None,
    url: str | None = None,
    user: str = "user1",
) -> Exchange:
    """One recorded exchange; ``body`` may be JSON-able data, text or bytes."""
    method, _, path = endpoint.partition(" ")
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode()
    elif body is None:
        raw = b""
    else:
        raw = json.dumps(body).encode()
    response_headers = [("content-type", "application/json"), *(headers or {}).items()]
    response_headers += [("set-cookie", c) for c in cookies or []]
    request_headers = [("authorization", f"Bearer {bearer}")] if bearer else []
    return Exchange(
        probe=probe,
        endpoint=endpoint,
        request=RecordedRequest(method, url or f"{BASE}{path}", tuple(request_headers)),
        response=RecordedResponse(status, tuple(response_headers), raw),
        user=user,
    )


def protected(endpoint: str = "GET /me", access: str = "tok") -> list[Exchange]:
    """The baseline pair that proves ``endpoint`` needs a token: 401 without, 200 with."""
    return [
        exchange("baseline:none", endpoint, status=401, body={"detail": "unauthorized"}),
        exchange("baseline:access", endpoint, body={"ok": True}, bearer=access),
    ]


def observe(*exchanges: Exchange, target: Target | None = None) -> Observations:
    return Observations(target or Target(BASE), tuple(exchanges), time.time())
