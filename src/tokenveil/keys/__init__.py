"""Signing keys: generate, publish (JWKS), activate, retire, revoke; encrypted at rest.

The safe surface is :class:`KeyRing`. ``PrivateKey`` and ``PublicKey`` sign and verify raw bytes
and bind one algorithm to each key.
"""

from tokenveil.keys._algorithms import (
    ASYMMETRIC_ALGORITHMS,
    PrivateKey,
    PublicKey,
    SymmetricKey,
    generate_private_key,
    public_key_from_jwk,
)
from tokenveil.keys._jwk import jwk_thumbprint
from tokenveil.keys._kek import KeyEncryptor
from tokenveil.keys._ring import KeyInfo, KeyRing

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "KeyEncryptor",
    "KeyInfo",
    "KeyRing",
    "PrivateKey",
    "PublicKey",
    "SymmetricKey",
    "generate_private_key",
    "jwk_thumbprint",
    "public_key_from_jwk",
]
