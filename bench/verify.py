"""Access-token verification speed: tokenveil vs PyJWT vs the bare ``cryptography`` check.

For each algorithm the same token is verified by
- ``bare``: split, base64url-decode the signature (``base64.urlsafe_b64decode``, what a
  hand-written check uses), one ``cryptography`` verify call (the floor);
- ``tokenveil``: the full verifier (header rules, key by kid, signature, every claim), uncached;
- ``pyjwt``: ``jwt.decode`` with a key object, iss/aud/exp required;
- ``tokenveil repeat``: a token verified recently (still checked for expiry and revocation).

Measured in CPU time (``time.process_time``), in ROUNDS interleaved rounds: each round runs
every candidate for SLICE CPU-seconds, in an order that rotates from round to round, so every
candidate sees the same machine load. The tokenveil/bare ratio is taken per round (the two
slices ran back to back) and reported as median with min and max over the rounds; rates are
medians. On a busy shared machine the per-round ratio is steadier than either rate.

Run: ``python -m bench.verify`` (or ``make bench`` for every benchmark).
"""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tokenveil.keys import PrivateKey, PublicKey, SymmetricKey, generate_private_key
from tokenveil.tokens import AccessTokenVerifier
from tokenveil.tokens._jws import Signer, encode_compact

ISSUER, AUDIENCE = "https://issuer.bench", "bench-api"
ROUNDS = 21
SLICE = 0.06  # CPU-seconds per candidate per round


@dataclass(frozen=True)
class _Keys:
    key: PublicKey | SymmetricKey

    def public_key(self, kid: str) -> PublicKey | SymmetricKey | None:
        return self.key if kid == self.key.kid else None

    def is_revoked(self, kid: str) -> bool:
        return False


def _rates(candidates: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Per-round rates (calls per CPU-second) of each candidate, in interleaved slices.

    The order rotates every round: no candidate always runs right after the same other one.
    """
    rates: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():
        for _ in range(50):
            fn()
    names = list(candidates)
    for round_ in range(ROUNDS):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn = candidates[name]
            n, start = 0, time.process_time()
            deadline = start + SLICE
            while True:
                for _ in range(20):
                    fn()
                n += 20
                now = time.process_time()
                if now >= deadline:
                    break
            rates[name].append(n / (now - start))
    return rates


def _token(signer: Signer) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "usr_bench",
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "jti": "bench-jti",
        "client_id": "bench",
        "scope": "orders profile",
    }
    return encode_compact({"alg": signer.alg, "typ": "at+jwt", "kid": signer.kid}, claims, signer)


def _bare(key: PublicKey | SymmetricKey) -> Callable[[str], object]:
    """The floor: split, decode the signature, one cryptography call (ES256: R||S → DER too)."""
    if isinstance(key, PublicKey) and key.alg == "ES256":
        public = key.key
        assert isinstance(public, ec.EllipticCurvePublicKey)
        ecdsa = ec.ECDSA(hashes.SHA256())

        def es256(token: str) -> object:
            signing_input, sig64 = token.rsplit(".", 1)
            sig = base64.urlsafe_b64decode(sig64 + "=" * (-len(sig64) % 4))
            der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
            public.verify(der, signing_input.encode(), ecdsa)
            return None

        return es256

    def other(token: str) -> object:
        signing_input, sig64 = token.rsplit(".", 1)
        sig = base64.urlsafe_b64decode(sig64 + "=" * (-len(sig64) % 4))
        return key.verify(signing_input.encode(), sig)

    return other


def _measure(alg: str) -> str:
    signer: PrivateKey | SymmetricKey
    pyjwt_key: Any
    if alg == "HS256":
        signer = SymmetricKey("hs-bench", b"k" * 32)
        verify_key: PublicKey | SymmetricKey = signer
        pyjwt_key = signer.secret
    else:
        signer = generate_private_key(alg)
        verify_key = signer.public
        pyjwt_key = signer.public.key
    token = _token(signer)
    keys = _Keys(verify_key)
    uncached = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
    cached = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    bare = _bare(verify_key)
    options: Any = {"require": ["exp", "iss", "aud"]}

    def with_pyjwt() -> object:
        return pyjwt.decode(
            token, pyjwt_key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER, options=options
        )

    rates = _rates(
        {
            "bare": lambda: bare(token),
            "tv": lambda: uncached.verify(token),
            "pyjwt": with_pyjwt,
            "repeat": lambda: cached.verify(token),
        }
    )
    r_bare, r_tv, r_py, r_rep = (
        statistics.median(rates[k]) for k in ("bare", "tv", "pyjwt", "repeat")
    )
    # Per round: the two slices ran under the same machine load.
    ratios = [t / b for t, b in zip(rates["tv"], rates["bare"], strict=True)]
    py_ratios = [p / b for p, b in zip(rates["pyjwt"], rates["bare"], strict=True)]
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
    return (
        f"{alg:7} {r_bare:11,.0f} {r_tv:11,.0f} {r_py:11,.0f} {statistics.median(ratios):8.2f}"
        f" {spread:>10} {statistics.median(py_ratios):10.2f} {r_tv / r_py:9.2f} {r_rep:12,.0f}"
        f" {min(rates['repeat']):12,.0f}"
    )


def main() -> None:
    print(
        f"\n== access-token verification (calls per CPU-second; medians of {ROUNDS} interleaved"
        f" rounds of {SLICE * 1000:.0f} ms each) =="
    )
    header = f"{'alg':7} {'bare crypto':>11} {'tokenveil':>11} {'pyjwt':>11} {'tv/bare':>8} "
    print(
        header
        + f"{'(min-max)':>10} {'pyjwt/bare':>10} {'tv/pyjwt':>9} {'tv repeat':>12} {'(min)':>12}"
    )
    for alg in ("ES256", "RS256", "PS256", "EdDSA", "HS256"):
        print(_measure(alg))
    print(
        "targets: tokenveil >= 0.75x bare (median of per-round ratios) for ES256/RS256/PS256/EdDSA;"
        " repeat > 1,000,000/s"
    )


if __name__ == "__main__":
    main()
