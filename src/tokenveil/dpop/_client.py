"""``DPoPAuth``: an httpx auth flow that proves possession of a key on every request.

RFC 9449 §4.2: each request carries a fresh proof bound to its method and URI, and to the access
token (``ath``) when one is sent as ``Authorization: DPoP <token>`` (§7.1). When the server asks
for a nonce (§8: 400 from the token endpoint, §9: 401 with ``error="use_dpop_nonce"``) the request
is retried once with the nonce from ``DPoP-Nonce``; later nonces in any response are kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator

import httpx

from tokenveil.dpop._proof import create_proof
from tokenveil.keys import PrivateKey, generate_private_key

__all__ = ["DPoPAuth"]

_NONCE_CHALLENGE = re.compile(r'\bDPoP\b[^,]*?\berror\s*=\s*"?use_dpop_nonce"?', re.IGNORECASE)


class DPoPAuth(httpx.Auth):
    """Sign a DPoP proof for every request with ``key`` (a fresh ES256 key by default).

    ``access_token``, when set, is sent as ``Authorization: DPoP <token>`` and hashed into the
    proof. ``clock`` is injectable for tests. The key and the token never appear in ``repr``.
    """

    def __init__(
        self,
        key: PrivateKey | None = None,
        *,
        access_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key if key is not None else generate_private_key("ES256")
        self.access_token = access_token
        self.nonce: str | None = None
        self._clock = clock

    def __repr__(self) -> str:
        bound = "set" if self.access_token else "none"
        return f"DPoPAuth(alg={self._key.alg!r}, jkt={self.jkt!r}, access_token={bound})"

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint of the proof key: the ``dpop_jkt`` / ``cnf.jkt`` value."""
        return self._key.kid

    @property
    def public_jwk(self) -> dict[str, str]:
        return {k: v for k, v in self._key.public.to_jwk().items() if k not in ("kid", "use")}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        response = yield request
        fresh = response.headers.get("DPoP-Nonce")
        if fresh is None:
            return
        sent, self.nonce = self.nonce, fresh
        if fresh != sent and _asks_for_nonce(response):
            self._sign(request)
            yield request

    def _sign(self, request: httpx.Request) -> None:
        if self.access_token is not None:
            request.headers["Authorization"] = f"DPoP {self.access_token}"
        request.headers["DPoP"] = create_proof(
            self._key,
            htm=request.method,
            htu=str(request.url.copy_with(query=None, fragment=None)),
            now=self._clock(),
            access_token=self.access_token,
            nonce=self.nonce,
        )


def _asks_for_nonce(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return bool(_NONCE_CHALLENGE.search(response.headers.get("WWW-Authenticate", "")))
    # RFC 9449 §8: the authorization server answers 400 with error use_dpop_nonce and the
    # header; the fresh nonce in DPoP-Nonce (checked by the caller) is the signal, so the body
    # need not be read (streaming responses stay streaming).
    return response.status_code == 400
