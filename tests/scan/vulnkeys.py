"""A deliberately vulnerable RS256 API: one key-handling bug per route, from real advisories.

NEVER reuse any of this. Keys are generated at import (never in source). Every route verifies
RS256 tokens correctly; each also has one planted bug:

- /confused  TV-VAL-003  alg taken from the header: HS256 is checked with the RSA public key PEM
- /jwk       TV-VAL-004  a ``jwk`` in the header is trusted (CVE-2018-0114 class)
- /kid       TV-VAL-006  ``kid`` used as a file path under /srv/keys (../../dev/null: empty key)
- /ecdsa     TV-VAL-011  ES256 signatures with r = s = 0 pass (CVE-2022-21449)
- /jku       TV-VAL-005 and TV-VAL-012  keys fetched from the token's jku/x5u URL (loopback only
             here, so this test app can never be made to fetch from anywhere else)
- /me        no bug: the control route
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import posixpath
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import FastAPI, HTTPException, Request

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = _KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
KID = "rsa-1"

app = FastAPI(title="vulnkeys")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(sub: str = "7", ttl: int = 300) -> str:
    """An honest RS256 access token."""
    now = int(time.time())
    header = {"alg": "RS256", "typ": "at+jwt", "kid": KID}
    claims = {"sub": sub, "iat": now, "exp": now + ttl, "aud": "vulnkeys", "iss": "vulnkeys"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = _KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(sig)}"


def _split(request: Request) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise HTTPException(401, "unauthorized")
    token = auth[7:]
    try:
        head, body, sig = token.split(".")
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(body))
        signature = _unb64(sig)
    except ValueError as exc:
        raise HTTPException(401, "unauthorized") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise HTTPException(401, "unauthorized")
    return header, claims, f"{head}.{body}".encode(), signature


def _check_claims(claims: dict[str, Any]) -> None:
    if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
        raise HTTPException(401, "unauthorized")
    if claims.get("aud") != "vulnkeys" or claims.get("iss") != "vulnkeys":
        raise HTTPException(401, "unauthorized")


def _rs256(header: dict[str, Any], signing_input: bytes, signature: bytes) -> None:
    if header.get("alg") != "RS256":
        raise HTTPException(401, "unauthorized")
    try:
        _KEY.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise HTTPException(401, "unauthorized") from exc


def _hs256(key: bytes, signing_input: bytes, signature: bytes) -> None:
    expected = hmac.new(key, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise HTTPException(401, "unauthorized")


@app.get("/.well-known/jwks.json")
def jwks() -> dict[str, Any]:
    numbers = _KEY.public_key().public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "kid": KID,
                "use": "sig",
                "alg": "RS256",
                "n": _b64(numbers.n.to_bytes(256, "big")),
                "e": _b64(numbers.e.to_bytes(3, "big")),
            }
        ]
    }


@app.get("/me")
def me(request: Request) -> dict[str, str]:
    header, claims, signing_input, signature = _split(request)
    _rs256(header, signing_input, signature)
    _check_claims(claims)
    return {"sub": str(claims["sub"])}


@app.get("/confused")
def confused(request: Request) -> dict[str, str]:
    header, claims, signing_input, signature = _split(request)
    if header.get("alg") == "HS256":
        _hs256(PUBLIC_PEM, signing_input, signature)  # planted: TV-VAL-003
    else:
        _rs256(header, signing_input, signature)
    _check_claims(claims)
    return {"sub": str(claims["sub"])}


@app.get("/jwk")
def embedded(request: Request) -> dict[str, str]:
    header, claims, signing_input, signature = _split(request)
    jwk = header.get("jwk")
    if isinstance(jwk, dict) and jwk.get("kty") == "EC":
        # planted: TV-VAL-004, the token brings its own key
        x = int.from_bytes(_unb64(str(jwk["x"])), "big")
        y = int.from_bytes(_unb64(str(jwk["y"])), "big")
        public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise HTTPException(401, "unauthorized") from exc
    else:
        _rs256(header, signing_input, signature)
    _check_claims(claims)
    return {"sub": str(claims["sub"])}


@app.get("/kid")
def kid_path(request: Request) -> dict[str, str]:
    header, claims, signing_input, signature = _split(request)
    if header.get("alg") == "HS256":
        # planted: TV-VAL-006, kid is a path under /srv/keys; /dev/null reads as b"".
        path = posixpath.normpath(posixpath.join("/srv/keys", str(header.get("kid", ""))))
        if path != "/dev/null":
            raise HTTPException(401, "unauthorized")
        _hs256(b"", signing_input, signature)
    else:
        _rs256(header, signing_input, signature)
    _check_claims(claims)
    return {"sub": str(claims["sub"])}


def _es256(public: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> None:
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise HTTPException(401, "unauthorized") from exc


def _fetch(url: str) -> bytes:
    if urlsplit(url).hostname != "127.0.0.1":
        raise HTTPException(401, "unauthorized")
    try:
        return httpx.get(url, timeout=5).content
    except httpx.HTTPError as exc:
        raise HTTPException(401, "unauthorized") from exc


@app.get("/jku")
def key_url(request: Request) -> dict[str, str]:
    header, claims, signing_input, signature = _split(request)
    if "jku" in header:
        # planted: TV-VAL-005, the key set comes from wherever the token says
        keys = json.loads(_fetch(str(header["jku"])))["keys"]
        jwk = next(k for k in keys if k.get("kid") == header.get("kid"))
        x = int.from_bytes(_unb64(str(jwk["x"])), "big")
        y = int.from_bytes(_unb64(str(jwk["y"])), "big")
        _es256(
            ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key(),
            signing_input,
            signature,
        )
    elif "x5u" in header:
        cert = x509.load_pem_x509_certificate(_fetch(str(header["x5u"])))
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise HTTPException(401, "unauthorized")
        _es256(public, signing_input, signature)
    else:
        _rs256(header, signing_input, signature)
    _check_claims(claims)
    return {"sub": str(claims["sub"])}


@app.get("/ecdsa")
def psychic(request: Request) -> dict[str, str]:
    header, claims, signing_input, signature = _split(request)
    if header.get("alg") == "ES256":
        # planted: TV-VAL-011, the Java 15-18 bug: r and s never range-checked, 0 = 0 passes.
        if len(signature) != 64 or any(signature):
            raise HTTPException(401, "unauthorized")
    else:
        _rs256(header, signing_input, signature)
    _check_claims(claims)
    return {"sub": str(claims["sub"])}
