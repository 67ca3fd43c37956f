"""A deliberately vulnerable FastAPI app: the seed articles' anti-patterns, one per route.

NEVER reuse any of this. Each flaw is planted for the scanner to find, and named by the finding
id the scanner must report:

- TV-JWT-001  email and phone in the token payload
- TV-JWT-003  access tokens that live 8 hours
- TV-JWT-007  HS256 with a secret from every wordlist ("changeme")
- TV-PII-002  /debug/token echoes the decoded token
- TV-PII-003  errors echo the token that was sent (and the user's email)
- TV-PII-004  /orders/{order_id} returns a stack trace on bad input
- TV-PII-005  /preferences returns an email its OpenAPI schema does not declare
- TV-PII-006  /users/{user_id} serves any user's record to any user (BOLA)
- TV-PII-007  /debug/settings dumps settings with secrets, unauthenticated
- TV-VAL-001  /profile never checks the signature
- TV-VAL-002  /legacy/me accepts alg "none"
- TV-VAL-010  /logout does nothing: the token keeps working (found with --active)
- TV-TRN-003  tokens accepted in ?access_token=
- TV-TRN-004  no Cache-Control on token and PII responses
- TV-TRN-006  the session cookie has no HttpOnly (nor Secure, SameSite)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import traceback
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

SECRET = "changeme"  # planted: TV-JWT-007
ALGORITHM = "HS256"
ACCESS_TTL = 8 * 3600  # planted: TV-JWT-003

# Synthetic people (RFC 2606 domains, NANP 555 fictional numbers).
USERS: dict[str, dict[str, Any]] = {
    "alice": {
        "id": 1,
        "name": "Alice Example",
        "email": "alice@example.com",
        "phone": "+1 415 555 2671",
        "password": "alice-pass",
    },
    "bob": {
        "id": 2,
        "name": "Bob Example",
        "email": "bob@example.org",
        "phone": "+1 212 555 0147",
        "password": "bob-pass",
    },
}
BY_ID = {str(u["id"]): u for u in USERS.values()}


class Preferences(BaseModel):
    theme: str
    language: str


app = FastAPI(title="vulnapp")


class BadToken(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode(claims: dict[str, Any]) -> str:
    # Hand-rolled HS256, as in many tutorials.
    head = _b64(json.dumps({"alg": ALGORITHM, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    try:
        head, body, sig = token.split(".")
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(body))
    except ValueError as exc:
        raise BadToken("malformed") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise BadToken("malformed")
    return header, claims, sig


def _decode_verified(token: str) -> dict[str, Any]:
    header, claims, sig = _parts(token)
    signing_input = token.rsplit(".", 1)[0].encode()
    expected = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(expected, _unb64(sig))
    except ValueError as exc:
        raise BadToken("bad signature") from exc
    if header.get("alg") != ALGORITHM or not valid:
        raise BadToken("bad signature")
    if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
        raise BadToken("expired")
    if "aud" in claims:
        raise BadToken("unexpected audience")  # iss is never checked
    return claims


def _issue(user: dict[str, Any], kind: str, ttl: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user["id"]),
        "email": user["email"],  # planted: TV-JWT-001
        "phone": user["phone"],
        "kind": kind,
        "iat": now,
        "exp": now + ttl,
    }
    return _encode(claims)


def _raw_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    # planted: TV-TRN-003, the token read from the query string
    query = request.query_params.get("access_token")
    if query:
        return query
    raise HTTPException(401, "missing token")


def _verify(request: Request) -> dict[str, Any]:
    token = _raw_token(request)
    try:
        claims = _decode_verified(token)
    except BadToken as exc:
        # planted: TV-PII-003, the error echoes the token it could not verify
        raise HTTPException(401, f"invalid token {token}: {exc}") from exc
    return claims


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header, claims, _ = _parts(token)
    except BadToken as exc:
        raise HTTPException(401, f"invalid token {token}: {exc}") from exc
    return header, claims


@app.post("/token")
def login(
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    grant_type: Annotated[str, Form()] = "password",
) -> JSONResponse:
    user = USERS.get(username)
    if user is None or user["password"] != password:
        raise HTTPException(400, "invalid_grant")
    access = _issue(user, "access", ACCESS_TTL)
    body = {
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": _issue(user, "refresh", 30 * 86400),
        "user": {"email": user["email"], "phone": user["phone"]},
    }
    response = JSONResponse(body)  # planted: TV-TRN-004, no Cache-Control
    response.set_cookie("session", access)  # planted: TV-TRN-006, no HttpOnly/Secure/SameSite
    return response


@app.post("/api/login")
async def json_login(request: Request) -> JSONResponse:
    """A JSON-only login that nests the token: {"data": {"token": ...}}."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(415, "JSON only") from exc
    user = USERS.get(str(body.get("username")))
    if user is None or user["password"] != body.get("password"):
        raise HTTPException(400, "invalid_grant")
    return JSONResponse({"data": {"token": _issue(user, "access", ACCESS_TTL)}})


@app.post("/logout")
def logout(request: Request) -> dict[str, str]:
    _verify(request)
    # planted: TV-VAL-010, "logout" with stateless JWTs: the token keeps working
    return {"status": "logged out"}


@app.get("/me")
def me(request: Request) -> dict[str, Any]:
    claims = _verify(request)
    user = BY_ID[claims["sub"]]
    return {"id": user["id"], "name": user["name"], "email": user["email"]}


@app.get("/debug/token")
def debug_token(request: Request) -> dict[str, Any]:
    return {"decoded": _verify(request)}  # planted: TV-PII-002


@app.get("/profile")
def profile(request: Request) -> dict[str, Any]:
    # planted: TV-VAL-001, the signature (and exp) are never checked
    _, claims = _unverified(_raw_token(request))
    return {"id": claims.get("sub"), "theme": "dark"}


@app.get("/legacy/me")
def legacy_me(request: Request) -> dict[str, Any]:
    header, claims = _unverified(_raw_token(request))
    if str(header.get("alg", "")).lower() != "none":
        # planted: TV-VAL-002, alg "none" skips this: "unsigned tokens are internal calls"
        claims = _verify(request)
    return {"id": claims.get("sub")}


@app.get("/users/{user_id}")
def get_user(user_id: int, request: Request) -> dict[str, Any]:
    _verify(request)  # planted: TV-PII-006, authenticated but never checks ownership
    user = BY_ID.get(str(user_id))
    if user is None:
        raise HTTPException(404, "no such user")
    return {"id": user["id"], "name": user["name"], "email": user["email"], "phone": user["phone"]}


@app.get("/orders/{order_id}")
def get_order(order_id: str, request: Request) -> JSONResponse:
    claims = _verify(request)
    try:
        number = int(order_id)
        return JSONResponse({"order": number, "owner": claims["sub"], "total": 12.5})
    except ValueError:
        # planted: TV-PII-004 and TV-PII-003, a debug error page with the trace and the caller
        return JSONResponse(
            {"error": "bad order id", "trace": traceback.format_exc(), "user": claims["email"]},
            status_code=500,
        )


@app.get("/preferences", responses={200: {"model": Preferences}})
def preferences(request: Request) -> JSONResponse:
    claims = _verify(request)
    # planted: TV-PII-005, a field the schema does not declare
    return JSONResponse({"theme": "dark", "language": "en", "recovery_email": claims["email"]})


@app.get("/debug/settings")
def debug_settings() -> dict[str, Any]:
    # planted: TV-PII-007, unauthenticated settings dump with secrets
    return {
        "SECRET_KEY": SECRET,
        "DATABASE_URL": "postgresql://app:hunter2@db.internal/app",
        "ADMIN_EMAIL": "ops@example.com",
        "DEBUG": True,
    }


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
