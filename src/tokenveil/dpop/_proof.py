"""Create and verify DPoP proofs (RFC 9449 §4), and check a token's key binding (§7.1).

:func:`verify_proof` runs every check of RFC 9449 §4.3, in an order that spends nothing on a
forged proof: shape and header first, then the signature, then the claims, and only a proof that
passed all of them takes a slot in the replay cache.
"""

from __future__ import annotations

import functools
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from hashlib import sha256
from typing import Final

from tokenveil.dpop._errors import DPoPBindingMismatch, InvalidDPoPProof, UseDPoPNonce
from tokenveil.dpop._htu import normalize_htu
from tokenveil.dpop._jwk import dpop_public_key
from tokenveil.dpop._nonce import NonceManager
from tokenveil.dpop._replay import ReplayCache
from tokenveil.keys import PrivateKey, PublicKey
from tokenveil.keys._b64 import b64url_decode, b64url_encode

__all__ = [
    "DPOP_ALGORITHMS",
    "DPoPProof",
    "access_token_hash",
    "check_binding",
    "create_proof",
    "verify_proof",
]

#: RFC 9449 §4.3 check 5: asymmetric algorithms only. ``none`` and every HS* are never accepted.
DPOP_ALGORITHMS: Final = frozenset({"ES256", "EdDSA", "RS256", "PS256"})
#: A proof carries a public key and four short claims; anything larger is not a proof.
MAX_PROOF_BYTES: Final = 8192
_MAX_JTI: Final = 256


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A verified proof: the key thumbprint (``jkt``) it was made with, its ``jti`` and ``iat``."""

    jkt: str
    jti: str
    iat: float


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url SHA-256 of the ASCII access token."""
    return b64url_encode(sha256(access_token.encode("utf-8")).digest())


def create_proof(
    key: PrivateKey,
    *,
    htm: str,
    htu: str,
    now: float,
    access_token: str | None = None,
    nonce: str | None = None,
    jti: str | None = None,
) -> str:
    """A compact DPoP proof JWT signed with ``key`` (RFC 9449 §4.2). Clients and tests use it."""
    jwk = {k: v for k, v in key.public.to_jwk().items() if k not in ("kid", "alg", "use")}
    header = {"typ": "dpop+jwt", "alg": key.alg, "jwk": jwk}
    claims: dict[str, str | int] = {
        "jti": jti or b64url_encode(secrets.token_bytes(16)),
        "htm": htm,
        # §4.2: htu is the target URI without query and fragment.
        "htu": htu.split("#", 1)[0].split("?", 1)[0],
        "iat": int(now),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    signing_input = f"{_b64json(header)}.{_b64json(claims)}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


async def verify_proof(
    proof: str,
    *,
    htm: str,
    htu: str,
    now: float,
    access_token: str | None,
    nonce: str | NonceManager | None,
    replay: ReplayCache,
    max_age: float = 60.0,
    leeway: float = 5.0,
) -> DPoPProof:
    """Verify the ``DPoP`` header of one request, or raise a :class:`DPoPError` subclass.

    ``htm`` and ``htu`` describe the request as the server received it (``htu`` may carry a query;
    it is ignored). ``access_token`` is the token presented with the proof, when there is one:
    then ``ath`` is required. ``nonce`` is the exact nonce the server expects, or a
    :class:`NonceManager` that validates time-based ones, or None when nonces are not used.
    :class:`UseDPoPNonce` carries the nonce to send back. ``iat`` must lie within ``max_age``
    seconds in the past and ``leeway`` in the future. The ``jti`` is recorded in ``replay``.
    """
    head, claims, signing_input, signature = _split(proof)
    key, jkt = _check_header(head)
    # Check 6: the signature is made by the very key in the header.
    if not key.verify(signing_input, signature):
        raise InvalidDPoPProof("bad_signature")

    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI:
        raise InvalidDPoPProof("bad_jti")
    # Check 8: methods are case-sensitive (RFC 9110 §9.1).
    if claims.get("htm") != htm:
        raise InvalidDPoPProof("htm_mismatch")
    if not _same_htu(claims.get("htu"), htu):
        raise InvalidDPoPProof("htu_mismatch")

    # Check 11: a proof is fresh. A proof from the future may have been made in advance by an
    # attacker who held the key briefly (§11.1), so the future side gets only clock-skew leeway.
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise InvalidDPoPProof("bad_iat")
    if iat > now + leeway:
        raise InvalidDPoPProof("iat_in_future")
    if iat < now - max_age - leeway:
        raise InvalidDPoPProof("iat_too_old")

    # Check 12: the proof is bound to the presented access token (§4.2 ath).
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise InvalidDPoPProof("missing_ath")
        if not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
            raise InvalidDPoPProof("ath_mismatch")

    # Check 10: a server-provided nonce (§8, §9).
    if nonce is not None:
        got = claims.get("nonce")
        if isinstance(nonce, NonceManager):
            if not isinstance(got, str) or not nonce.is_valid(got, now):
                raise UseDPoPNonce(nonce.issue(now))
        elif not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise UseDPoPNonce(nonce)

    # §11.1: the jti is remembered per key for the whole window in which iat is acceptable.
    replay_key = sha256(f"{jkt}.{jti}".encode()).hexdigest()
    if not await replay.first_use(replay_key, now=now, ttl=max_age + 2 * leeway):
        raise InvalidDPoPProof("replayed")
    return DPoPProof(jkt=jkt, jti=jti, iat=float(iat))


def check_binding(principal_jkt: str | None, proof: DPoPProof | None) -> None:
    """RFC 9449 §7.1: a DPoP-bound token is only honoured with a proof made by its key.

    A token stolen and replayed with the thief's own proof key has a different thumbprint and is
    refused here. An unbound token (``principal_jkt`` None) passes.
    """
    if principal_jkt is None:
        return
    if proof is None or not hmac.compare_digest(principal_jkt.encode(), proof.jkt.encode()):
        raise DPoPBindingMismatch()


def _split(proof: str) -> tuple[str, dict[str, object], bytes, bytes]:
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_BYTES or proof.count(".") != 2:
        raise InvalidDPoPProof("malformed")
    head, body, sig = proof.split(".")
    try:
        claims = json.loads(b64url_decode(body).decode("utf-8"))
        signature = b64url_decode(sig)
        signing_input = f"{head}.{body}".encode("ascii")
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidDPoPProof("malformed") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("malformed")
    return head, claims, signing_input, signature


# A client sends the same header (typ, alg, jwk) on every proof: checking it and parsing its key
# once per client saves a JSON parse and a key import per request. Failures are not cached.
@functools.lru_cache(maxsize=1024)
def _check_header(head: str) -> tuple[PublicKey, str]:
    try:
        header = json.loads(b64url_decode(head).decode("utf-8"))
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidDPoPProof("malformed") from None
    if not isinstance(header, dict):
        raise InvalidDPoPProof("malformed")
    # RFC 7515 §4.1.11: an extension we do not understand must not be ignored.
    if "crit" in header:
        raise InvalidDPoPProof("bad_header")
    # RFC 9449 §4.3 check 4: the explicit type stops other JWTs being passed off as proofs.
    if header.get("typ") != "dpop+jwt":
        raise InvalidDPoPProof("bad_typ")
    alg = header.get("alg")
    # Check 5 (RFC 8725 §3.1): an allow-list of asymmetric algorithms; none and HS* never.
    if not isinstance(alg, str) or alg not in DPOP_ALGORITHMS:
        raise InvalidDPoPProof("bad_alg")
    # Check 7: the key is the public key in the header, and only a public key.
    try:
        return dpop_public_key(header.get("jwk"), alg)
    except ValueError as exc:
        raise InvalidDPoPProof(str(exc)) from None


def _same_htu(claimed: object, actual: str) -> bool:
    if not isinstance(claimed, str):
        return False
    try:
        return normalize_htu(claimed) == normalize_htu(actual)
    except ValueError:
        return False


def _b64json(value: object) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())
