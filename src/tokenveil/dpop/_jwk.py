"""The ``jwk`` header of a DPoP proof: a public key, checked hard before it verifies anything.

The RFC 7638 thumbprint lives with the key ring (:mod:`tokenveil.keys`) so that ``kid`` and
``jkt`` are computed by one function; it is re-exported here for DPoP callers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from tokenveil.keys import PublicKey, jwk_thumbprint, public_key_from_jwk

__all__ = ["PRIVATE_MEMBERS", "dpop_public_key", "jwk_thumbprint"]

#: RFC 7518 §6.2.2, §6.3.2, §6.4: members that only a private or symmetric key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7518 §6.2.1, §6.3.1 and RFC 8037 §2: the public members that define the key.
_KEY_MEMBERS = frozenset({"kty", "crv", "x", "y", "n", "e"})


def dpop_public_key(jwk: object, alg: str) -> tuple[PublicKey, str]:
    """The verification key and its thumbprint for a proof header's ``jwk`` and ``alg``.

    Raises ``ValueError`` with a fixed reason word: ``private_key_in_jwk`` when the header leaks
    a private key (RFC 9449 §4.3 check 7: it MUST NOT), ``bad_jwk`` for anything malformed or a key
    type that does not fit ``alg``.
    """
    if not isinstance(jwk, Mapping):
        raise ValueError("bad_jwk")
    if PRIVATE_MEMBERS.intersection(jwk):
        raise ValueError("private_key_in_jwk")
    # Only the key's own members matter; optional ones (use, key_ops, x5c ...) are ignored.
    members = tuple(sorted((k, v) for k, v in jwk.items() if k in _KEY_MEMBERS))
    if not all(isinstance(v, str) for _, v in members):
        raise ValueError("bad_jwk")
    return _parse(members, alg)


# A client signs every proof with one key: parsing and validating the point once per key saves
# a third of a proof's verification. Public keys are immutable, so sharing them is safe.
@functools.lru_cache(maxsize=1024)
def _parse(members: tuple[tuple[str, str], ...], alg: str) -> tuple[PublicKey, str]:
    jwk = dict(members)
    # The header's alg binds the key; public_key_from_jwk checks that kty and crv fit it.
    try:
        key = public_key_from_jwk({**jwk, "alg": alg, "kid": "dpop"})
        thumbprint = jwk_thumbprint(jwk)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("bad_jwk") from exc
    return key, thumbprint
