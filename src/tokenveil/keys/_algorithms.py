"""Signing and verification per JWS algorithm (RFC 7518 §3), directly on ``cryptography``.

This module is the sharp edge: it signs and verifies bytes, nothing more. The key ring binds one
algorithm to each key, and the verifier asks the key, never the token header, which algorithm to
use (RFC 8725 §3.1).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tokenveil.keys._b64 import b64url_decode, b64url_encode
from tokenveil.keys._jwk import jwk_thumbprint

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "PrivateKey",
    "PublicKey",
    "SymmetricKey",
    "generate_private_key",
    "load_private_key",
    "public_key_from_jwk",
]

ASYMMETRIC_ALGORITHMS: Final = ("ES256", "RS256", "PS256", "EdDSA")
_SHA256 = hashes.SHA256()
_PSS = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=padding.PSS.DIGEST_LENGTH)
_PKCS1 = padding.PKCS1v15()
_RSA_BITS: Final = 2048

AnyPublic = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
AnyPrivate = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verification key bound to exactly one algorithm."""

    kid: str
    alg: str
    key: AnyPublic = field(repr=False, compare=False)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``signing_input`` under this key's algorithm."""
        key = self.key
        try:
            if self.alg == "ES256":
                assert isinstance(key, ec.EllipticCurvePublicKey)
                # RFC 7518 §3.4: the JWS signature is R || S, 32 bytes each. A zero R or S is
                # refused by cryptography (CVE-2022-21449 was Java accepting it).
                if len(signature) != 64:
                    return False
                r = int.from_bytes(signature[:32], "big")
                s = int.from_bytes(signature[32:], "big")
                key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_SHA256))
            elif self.alg == "RS256":
                assert isinstance(key, rsa.RSAPublicKey)
                key.verify(signature, signing_input, _PKCS1, _SHA256)
            elif self.alg == "PS256":
                assert isinstance(key, rsa.RSAPublicKey)
                key.verify(signature, signing_input, _PSS, _SHA256)
            elif self.alg == "EdDSA":
                assert isinstance(key, ed25519.Ed25519PublicKey)
                key.verify(signature, signing_input)
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_jwk(self) -> dict[str, str]:
        """The public JWK (RFC 7517) with ``kid``, ``alg`` and ``use``; never a private member."""
        jwk = _public_members(self.key)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


@dataclass(frozen=True, slots=True)
class SymmetricKey:
    """An HMAC key (HS256) for verifying with a shared secret. Never issued by default."""

    kid: str
    secret: bytes = field(repr=False)
    alg: str = "HS256"

    def __post_init__(self) -> None:
        # RFC 7518 §3.2: a key of the same size as the hash output or larger.
        if len(self.secret) < 32:
            raise ValueError("HS256 secrets must be at least 32 bytes")

    def sign(self, signing_input: bytes) -> bytes:
        return hmac.new(self.secret, signing_input, sha256).digest()

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(signing_input), signature)


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A signing key. Its repr shows only ``kid`` and ``alg``."""

    kid: str
    alg: str
    key: AnyPrivate = field(repr=False, compare=False)

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.kid, self.alg, self.key.public_key())

    def sign(self, signing_input: bytes) -> bytes:
        key = self.key
        if self.alg == "ES256":
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_SHA256)))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if self.alg == "RS256":
            assert isinstance(key, rsa.RSAPrivateKey)
            return key.sign(signing_input, _PKCS1, _SHA256)
        if self.alg == "PS256":
            assert isinstance(key, rsa.RSAPrivateKey)
            return key.sign(signing_input, _PSS, _SHA256)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(signing_input)

    def private_bytes(self) -> bytes:
        """PKCS#8 DER, unencrypted: the caller must encrypt it before it touches a disk."""
        return self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_private_key(alg: str) -> PrivateKey:
    """A fresh key for ``alg``; its ``kid`` is the RFC 7638 thumbprint of its public JWK."""
    key: AnyPrivate
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg in ("RS256", "PS256"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return PrivateKey(jwk_thumbprint(_public_members(key.public_key())), alg, key)


def load_private_key(kid: str, alg: str, der: bytes) -> PrivateKey:
    """Rebuild a signing key from PKCS#8 DER, checking that the key type fits ``alg``."""
    key = serialization.load_der_private_key(der, password=None)
    expected: type | tuple[type, ...] = {
        "ES256": ec.EllipticCurvePrivateKey,
        "RS256": rsa.RSAPrivateKey,
        "PS256": rsa.RSAPrivateKey,
        "EdDSA": ed25519.Ed25519PrivateKey,
    }.get(alg, ())
    if not expected or not isinstance(key, expected):
        raise ValueError("stored key does not match its algorithm")
    return PrivateKey(kid, alg, key)  # type: ignore[arg-type]


def public_key_from_jwk(jwk: Mapping[str, str]) -> PublicKey:
    """Parse a public JWK published by an issuer. Its ``alg`` is required and binds the key.

    Refuses symmetric keys and any JWK that carries private members: a JWKS must never hold them.
    """
    if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise ValueError("a published JWK must not carry private or symmetric members")
    kty, alg = jwk.get("kty"), jwk.get("alg")
    key: AnyPublic
    if kty == "EC" and alg == "ES256" and jwk.get("crv") == "P-256":
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    elif kty == "RSA" and alg in ("RS256", "PS256"):
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        if n.bit_length() < _RSA_BITS:
            raise ValueError("RSA keys under 2048 bits are refused")
        key = rsa.RSAPublicNumbers(e, n).public_key()
    elif kty == "OKP" and alg == "EdDSA" and jwk.get("crv") == "Ed25519":
        key = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    else:
        raise ValueError(
            "unsupported JWK (kty, crv and alg must name ES256, RS256, PS256 or EdDSA)"
        )
    kid = jwk.get("kid") or jwk_thumbprint(_public_members(key))
    return PublicKey(kid, alg, key)


def _public_members(key: AnyPublic) -> dict[str, str]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        return {
            "kty": "RSA",
            "n": b64url_encode(_int_bytes(rsa_numbers.n)),
            "e": b64url_encode(_int_bytes(rsa_numbers.e)),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
