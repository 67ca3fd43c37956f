"""``DPoPAuth`` end to end against a small ASGI resource server that uses ``verify_proof``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest

from tokenveil.dpop import (
    DPoPAuth,
    DPoPError,
    InMemoryReplayCache,
    NonceManager,
    UseDPoPNonce,
    access_token_hash,
    check_binding,
    verify_proof,
)
from tokenveil.keys import generate_private_key
from tokenveil.keys._b64 import b64url_decode

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

NOW = 1_800_000_000.0
BASE = "https://api.test"


class ResourceServer:
    """Requires a DPoP proof with a server nonce; ``tokens`` maps access tokens to cnf.jkt."""

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.nonces = NonceManager(b"q" * 32, period=300)
        self.replay = InMemoryReplayCache()
        self.tokens = tokens or {}
        self.seen: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], body))
        token = None
        if headers.get("authorization", "").startswith("DPoP "):
            token = headers["authorization"][5:]
        url = f"{scope['scheme']}://{headers['host']}{scope['path']}"
        try:
            proof = await verify_proof(
                headers.get("dpop", ""),
                htm=scope["method"],
                htu=url,
                now=NOW,
                access_token=token,
                nonce=self.nonces,
                replay=self.replay,
            )
            if token is not None:
                check_binding(self.tokens.get(token, "unknown"), proof)
        except UseDPoPNonce as exc:
            nonce = exc.nonce or ""
            await self._reply(
                send,
                401,
                {"error": exc.code},
                [
                    (b"www-authenticate", b'DPoP error="use_dpop_nonce", algs="ES256"'),
                    (b"dpop-nonce", nonce.encode()),
                ],
            )
            return
        except DPoPError as exc:
            await self._reply(send, 401, {"error": exc.code}, [])
            return
        await self._reply(send, 200, {"jkt": proof.jkt, "body": body.decode()}, [])

    @staticmethod
    async def _reply(
        send: Send, status: int, payload: dict[str, str], extra: list[tuple[bytes, bytes]]
    ) -> None:
        data = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _client(app: ResourceServer, auth: DPoPAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, auth=auth)


async def test_client_retries_once_with_the_server_nonce_and_succeeds() -> None:
    """First call gets use_dpop_nonce; DPoPAuth retries with the nonce, with the same body."""
    app = ResourceServer()
    auth = DPoPAuth(clock=lambda: NOW)
    async with _client(app, auth) as client:
        response = await client.post("/orders?x=1", content=b'{"n": 1}')
    assert response.status_code == 200
    assert response.json() == {"jkt": auth.jkt, "body": '{"n": 1}'}
    assert app.seen == [("POST", b'{"n": 1}'), ("POST", b'{"n": 1}')]


async def test_client_keeps_the_nonce_for_later_requests() -> None:
    """Once a nonce is known, the next requests pass at the first attempt."""
    app = ResourceServer()
    auth = DPoPAuth(clock=lambda: NOW)
    async with _client(app, auth) as client:
        await client.get("/a")
        responses = [await client.get(f"/b/{i}") for i in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len(app.seen) == 2 + 3


async def test_bound_access_token_is_sent_with_ath_and_accepted() -> None:
    """With access_token set, the request carries Authorization: DPoP and a matching ath."""
    key = generate_private_key("EdDSA")
    app = ResourceServer(tokens={"the.access.token": key.kid})
    auth = DPoPAuth(key, access_token="the.access.token", clock=lambda: NOW)
    async with _client(app, auth) as client:
        response = await client.get("/me")
    assert response.status_code == 200
    assert response.json()["jkt"] == key.kid


async def test_token_stolen_into_another_client_is_refused() -> None:
    """A thief with the token but not the key makes valid proofs that fail the binding."""
    owner = generate_private_key("ES256")
    app = ResourceServer(tokens={"the.access.token": owner.kid})
    thief = DPoPAuth(access_token="the.access.token", clock=lambda: NOW)
    async with _client(app, thief) as client:
        response = await client.get("/me")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}


async def test_client_does_not_loop_when_the_nonce_keeps_failing() -> None:
    """If the server rejects the nonce it just issued, the client stops after one retry."""
    app = ResourceServer()
    # The client's clock is far behind: every proof is stale, so the retry fails again.
    auth = DPoPAuth(clock=lambda: NOW - 3600)
    async with _client(app, auth) as client:
        response = await client.get("/a")
    assert response.status_code == 401
    assert len(app.seen) == 1


def test_repr_hides_the_key_and_the_token() -> None:
    """repr names the algorithm and thumbprint only, never the token or key material."""
    auth = DPoPAuth(access_token="secret.token.value")
    text = repr(auth)
    assert "secret" not in text
    assert auth.jkt in text
    assert "d" not in auth.public_jwk


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_sync_client_works_with_the_same_auth(alg: str) -> None:
    """DPoPAuth serves sync httpx clients too (one flow for both)."""
    key = generate_private_key(alg)
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200)

    auth = DPoPAuth(key, access_token="t.o.k", clock=lambda: NOW)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        client.get("https://api.test/x?secret=1")
    assert captured[0].headers["Authorization"] == "DPoP t.o.k"
    claims = json.loads(b64url_decode(captured[0].headers["DPoP"].split(".")[1]))
    assert claims["htu"] == "https://api.test/x"
    assert claims["htm"] == "GET"
    assert claims["ath"] == access_token_hash("t.o.k")


def _nonce_of(request: httpx.Request) -> object:
    return json.loads(b64url_decode(request.headers["DPoP"].split(".")[1])).get("nonce")


def test_token_endpoint_400_with_a_new_nonce_is_retried_once() -> None:
    """RFC 9449 §8: a 400 bringing DPoP-Nonce is retried with it; the retry carries the nonce."""
    proofs: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        # The auth flow re-signs the same Request object, so record the proof as it arrives.
        proofs.append(request.headers["DPoP"])
        if _nonce_of(request) != "srv-1":
            nonce = {"DPoP-Nonce": "srv-1"}
            return httpx.Response(400, json={"error": "use_dpop_nonce"}, headers=nonce)
        return httpx.Response(200, json={"access_token": "t"})

    auth = DPoPAuth(clock=lambda: NOW)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as c:
        response = c.post("https://as.test/oauth/token", data={"grant_type": "password"})
    assert response.status_code == 200
    nonces = [json.loads(b64url_decode(p.split(".")[1])).get("nonce") for p in proofs]
    assert nonces == [None, "srv-1"]
    assert proofs[0] != proofs[1]  # a fresh proof, new jti


def test_400_without_a_nonce_is_not_retried() -> None:
    """An ordinary 400 (bad credentials) is returned as is, never re-sent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json={"error": "invalid_grant"})

    with httpx.Client(
        transport=httpx.MockTransport(handler), auth=DPoPAuth(clock=lambda: NOW)
    ) as c:
        assert c.post("https://as.test/oauth/token").status_code == 400
    assert len(seen) == 1


def test_nonce_sent_with_a_success_is_used_next_time() -> None:
    """A DPoP-Nonce on a 200 is kept for the next request without any retry."""
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(_nonce_of(request))
        return httpx.Response(200, headers={"DPoP-Nonce": f"n{len(seen)}"})

    with httpx.Client(
        transport=httpx.MockTransport(handler), auth=DPoPAuth(clock=lambda: NOW)
    ) as c:
        c.get("https://api.test/a")
        c.get("https://api.test/b")
    assert seen == [None, "n1"]
