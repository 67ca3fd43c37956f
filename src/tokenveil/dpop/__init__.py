"""DPoP (RFC 9449): sender-constrained tokens, so a stolen access token is useless on its own.

Server side: :func:`verify_proof` checks the ``DPoP`` header of a request; :func:`check_binding`
checks that a bound token (``cnf.jkt``) is presented with a proof by its own key;
:class:`NonceManager` issues server nonces; a :class:`ReplayCache` remembers proof ``jti`` values
(:class:`InMemoryReplayCache` here, ``RedisReplayCache`` in :mod:`tokenveil.store.redis`).
Client side: :class:`DPoPAuth` for httpx.
"""

from tokenveil.dpop._client import DPoPAuth
from tokenveil.dpop._errors import DPoPBindingMismatch, InvalidDPoPProof, UseDPoPNonce
from tokenveil.dpop._htu import normalize_htu
from tokenveil.dpop._jwk import jwk_thumbprint
from tokenveil.dpop._nonce import NonceManager
from tokenveil.dpop._proof import (
    DPOP_ALGORITHMS,
    DPoPProof,
    access_token_hash,
    check_binding,
    create_proof,
    verify_proof,
)
from tokenveil.dpop._replay import InMemoryReplayCache, ReplayCache
from tokenveil.errors import DPoPError

__all__ = [
    "DPOP_ALGORITHMS",
    "DPoPAuth",
    "DPoPBindingMismatch",
    "DPoPError",
    "DPoPProof",
    "InMemoryReplayCache",
    "InvalidDPoPProof",
    "NonceManager",
    "ReplayCache",
    "UseDPoPNonce",
    "access_token_hash",
    "check_binding",
    "create_proof",
    "jwk_thumbprint",
    "normalize_htu",
    "verify_proof",
]
