"""JWK thumbprints (RFC 7638), used as ``kid`` for signing keys and as ``jkt`` for DPoP keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from tokenveil.keys._b64 import b64url_encode

__all__ = ["jwk_thumbprint"]

# RFC 7638 §3.2: only the required members of each key type, in lexicographic order.
_REQUIRED = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """Base64url SHA-256 thumbprint of a public JWK."""
    members = _REQUIRED.get(jwk.get("kty", ""))
    if members is None or any(m not in jwk for m in members):
        raise ValueError("unsupported or incomplete JWK")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())
