"""Security review of client handling on the token, revocation and introspection endpoints.

One test per finding: DPoP checked only after client authentication, hashed client secrets with
one failure path, rate limits, introspection permission, one authentication method per request,
client id format, erasure seen from the token endpoint.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest
from fastapi import FastAPI

from tests.server._app import BASE, PASSWORD, login, make_settings, refresh, running
from tokenveil import _passwords
from tokenveil.dpop import create_proof
from tokenveil.errors import InvalidRequest, StoreError
from tokenveil.keys import generate_private_key
from tokenveil.server import DEMO_CLIENT_ID
from tokenveil.service import TokenService
from tokenveil.store import Client, MemoryStore
from tokenveil.web.oauth import TokenRateLimits, oauth_router

Env = tuple[httpx.AsyncClient, TokenService, FastAPI]
CC = {"grant_type": "client_credentials"}
INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed."}


@dataclasses.dataclass
class Secrets:
    reporting: str
    gateway: str


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Env, Secrets]]:
    async with running(make_settings(tmp_path), MemoryStore()) as found:
        service = found[1]
        await service.add_user("alice", PASSWORD, email="alice@example.com", scopes=["profile"])
        await service.add_client("mobile", scopes=["profile"], dpop_bound=True)
        _, reporting = await service.add_client(
            "reporting", scopes=["profile"], grant_types=["client_credentials"], confidential=True
        )
        _, gateway_secret = await service.add_client(
            "gateway", grant_types=["client_credentials"], confidential=True, introspect=True
        )
        assert reporting is not None
        assert gateway_secret is not None
        yield found, Secrets(reporting, gateway_secret)


def _basic(raw: bytes | str) -> dict[str, str]:
    data = raw.encode() if isinstance(raw, str) else raw
    return {"Authorization": "Basic " + base64.b64encode(data).decode()}


def _app(service: TokenService, **options: object) -> httpx.AsyncClient:
    """A bare app over ``service`` with its own router: exceptions surface instead of a 500."""
    app = FastAPI()
    app.state.tokenveil = service
    app.include_router(oauth_router(**options))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


# -- 1. DPoP after client authentication -----------------------------------------------------


async def test_dpop_proof_of_an_unauthenticated_request_is_not_spent(
    env: tuple[Env, Secrets],
) -> None:
    """A proof sent with a failing client is neither checked nor remembered (replay-cache DoS)."""
    (client, _, _), _ = env
    proof = create_proof(
        generate_private_key("ES256"), htm="POST", htu=f"{BASE}/oauth/token", now=time.time()
    )
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    refused = await client.post(
        "/oauth/token", data={**form, "client_id": "nobody"}, headers={"DPoP": proof}
    )
    assert refused.status_code == 401
    assert refused.json() == INVALID_CLIENT
    # The same proof is still fresh for the real client: nothing was put in the replay cache.
    ok = await client.post(
        "/oauth/token", data={**form, "client_id": "mobile"}, headers={"DPoP": proof}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"


async def test_bad_dpop_proof_from_unknown_client_is_invalid_client(
    env: tuple[Env, Secrets],
) -> None:
    """Client authentication is answered first: a garbage proof does not reach the verifier."""
    (client, _, _), _ = env
    answer = await client.post(
        "/oauth/token", data={**CC, "client_id": "nobody"}, headers={"DPoP": "garbage"}
    )
    assert answer.status_code == 401
    assert answer.json() == INVALID_CLIENT


# -- 2. hashed secrets, one failure path ---------------------------------------------------


async def test_client_secret_is_kept_only_as_sha256_after_first_use(
    env: tuple[Env, Secrets],
) -> None:
    """An argon2id hash (written by earlier versions) becomes sha256$ on first success."""
    (client, service, _), secrets = env
    before = await service.store.get_client("reporting")
    assert before is not None
    legacy = _passwords.hash_password_sync(secrets.reporting)
    await service.store.update_client(dataclasses.replace(before, secret_hash=legacy))
    first = await client.post("/oauth/token", data=CC, auth=("reporting", secrets.reporting))
    assert first.status_code == 200
    after = await service.store.get_client("reporting")
    assert after is not None
    digest = hashlib.sha256(secrets.reporting.encode()).hexdigest()
    assert after.secret_hash == f"sha256${digest}"
    assert secrets.reporting not in repr(after)
    again = await client.post("/oauth/token", data=CC, auth=("reporting", secrets.reporting))
    assert again.status_code == 200
    wrong = await client.post("/oauth/token", data=CC, auth=("reporting", secrets.gateway))
    assert wrong.status_code == 401


async def test_client_stored_by_an_earlier_version_keeps_working(
    env: tuple[Env, Secrets],
) -> None:
    """A client row holding an argon2id hash (no may_introspect yet) still authenticates."""
    (client, service, _), _ = env
    legacy = Client(
        client_id="legacy",
        secret_hash=_passwords.hash_password_sync("tvc_legacy-secret"),
        grant_types=("client_credentials",),
    )
    await service.store.add_client(legacy)
    ok = await client.post("/oauth/token", data=CC, auth=("legacy", "tvc_legacy-secret"))
    assert ok.status_code == 200


@pytest.mark.parametrize("via", ["basic", "form"])
async def test_unknown_public_and_wrong_secret_clients_get_one_answer(
    env: tuple[Env, Secrets], via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 6749 §5.2: every failure is 401 invalid_client with a Basic challenge, after exactly
    one constant-time comparison, whatever failed."""
    (client, _, _), secrets = env
    comparisons: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        comparisons.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    failures = {
        "unknown": ("nobody", "tvc_whatever"),
        "public_with_secret": (DEMO_CLIENT_ID, "tvc_whatever"),
        "wrong_secret": ("gateway", secrets.reporting),
        "malformed_id": ("usr_x y", "tvc_whatever"),
    }
    answers = []
    for client_id, secret in failures.values():
        comparisons.clear()
        if via == "basic":
            answer = await client.post("/oauth/token", data=CC, auth=(client_id, secret))
        else:
            form = {**CC, "client_id": client_id, "client_secret": secret}
            answer = await client.post("/oauth/token", data=form)
        assert comparisons == [1], client_id
        answers.append(answer)
    assert {a.status_code for a in answers} == {401}
    assert all(a.json() == INVALID_CLIENT for a in answers)
    assert {a.headers["www-authenticate"] for a in answers} == {'Basic realm="tokenveil"'}
    assert all(secrets.reporting not in a.text for a in answers)


async def test_confidential_client_without_secret_is_invalid_client(
    env: tuple[Env, Secrets],
) -> None:
    """Naming a confidential client without its secret fails like a wrong secret."""
    (client, _, _), _ = env
    answer = await client.post("/oauth/token", data={**CC, "client_id": "reporting"})
    assert answer.status_code == 401
    assert answer.json() == INVALID_CLIENT


# -- 3. rate limits ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_token_endpoint_limits_each_address(
    env: tuple[Env, Secrets], caplog: pytest.LogCaptureFixture
) -> None:
    """Past the per-address limit: 429 slow_down, Retry-After, no-store; the next window is open."""
    (_, service, _), _ = env
    clock = FakeClock()
    limits = TokenRateLimits(window=10.0, per_ip=3, per_client=None)
    caplog.set_level(logging.INFO)
    async with _app(service, rate_limits=limits, clock=clock) as http:
        for _ in range(3):
            answer = await login(http, password="wrong password 1")
            assert answer.status_code == 400
        clock.now += 4
        limited = await login(http, password="wrong password 2")
        assert limited.status_code == 429
        assert limited.json()["error"] == "slow_down"
        assert "Retry-After" in limited.json()["error_description"]
        assert limited.headers["retry-after"] == "6"
        assert limited.headers["cache-control"] == "no-store"
        assert (await login(http)).status_code == 429
        clock.now += 6
        assert (await login(http)).status_code == 200
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("tokenveil"))
    assert logged.count("rate limit reached") == 1
    for secret in ("wrong password", PASSWORD, "127.0.0.1", "alice"):
        assert secret not in logged


async def test_token_endpoint_limits_each_authenticated_client_only(
    env: tuple[Env, Secrets],
) -> None:
    """Per-client budget: spent by that client's authenticated requests only, so failed
    attempts naming it cannot lock it out, and other clients are unaffected."""
    (_, service, _), secrets = env
    limits = TokenRateLimits(window=10.0, per_ip=None, per_client=2)
    async with _app(service, rate_limits=limits, clock=FakeClock()) as http:
        for _ in range(5):
            wrong = await http.post("/oauth/token", data=CC, auth=("reporting", "tvc_wrong"))
            assert wrong.status_code == 401
        for _ in range(2):
            ok = await http.post("/oauth/token", data=CC, auth=("reporting", secrets.reporting))
            assert ok.status_code == 200
        third = await http.post("/oauth/token", data=CC, auth=("reporting", secrets.reporting))
        assert third.status_code == 429
        assert int(third.headers["retry-after"]) >= 1
        other = await http.post("/oauth/token", data=CC, auth=("gateway", secrets.gateway))
        assert other.status_code == 200


async def test_rate_limits_from_settings_apply_to_the_real_app(tmp_path: Path) -> None:
    """create_app passes Settings.token_rate_* to the router: a low per-address limit set
    through Settings (the environment) gives 429 slow_down with Retry-After on the real app."""
    settings = make_settings(tmp_path, token_rate_per_address=2, token_rate_window=30.0)
    async with running(settings, MemoryStore()) as (http, _, _):
        for _ in range(2):
            assert (await login(http, password="wrong password")).status_code == 400
        limited = await login(http)
        assert limited.status_code == 429
        assert limited.json()["error"] == "slow_down"
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        assert limited.headers["cache-control"] == "no-store"


async def test_per_client_rate_limit_from_settings_applies_to_the_real_app(
    tmp_path: Path,
) -> None:
    """Settings.token_rate_per_client reaches the real app's per-client limit."""
    # One window for both requests (fixed wall-clock windows; see test_failure_budget.py).
    settings = make_settings(tmp_path, token_rate_per_client=1, token_rate_window=3600.0)
    async with running(settings, MemoryStore()) as (http, service, _):
        _, secret = await service.add_client(
            "reporting", grant_types=["client_credentials"], confidential=True
        )
        assert secret is not None
        assert (
            await http.post("/oauth/token", data=CC, auth=("reporting", secret))
        ).status_code == 200
        again = await http.post("/oauth/token", data=CC, auth=("reporting", secret))
        assert again.status_code == 429
        assert "retry-after" in again.headers


async def test_revocation_and_introspection_spend_the_per_address_budget(
    env: tuple[Env, Secrets],
) -> None:
    """Revocation and introspection take client credentials too, so they share the token
    endpoint's per-address budget: past it, 429 slow_down with Retry-After on all three."""
    (_, service, _), secrets = env
    limits = TokenRateLimits(window=10.0, per_ip=2, per_client=None)
    async with _app(service, rate_limits=limits, clock=FakeClock()) as http:
        guess = ("gateway", "tvc_guess")
        assert (
            await http.post("/oauth/revoke", data={"token": "t"}, auth=guess)
        ).status_code == 401
        introspect = await http.post("/oauth/introspect", data={"token": "t"}, auth=guess)
        assert introspect.status_code == 401
        for path in ("/oauth/revoke", "/oauth/introspect", "/oauth/token"):
            limited = await http.post(
                path, data={**CC, "token": "t"}, auth=("gateway", secrets.gateway)
            )
            assert limited.status_code == 429, path
            assert limited.json()["error"] == "slow_down"
            assert limited.headers["retry-after"] == "10"
            assert limited.headers["cache-control"] == "no-store"


@pytest.mark.redis
async def test_rate_limits_are_shared_by_instances_with_redis(
    tmp_path: Path, redis_url: str, redis_namespace: str
) -> None:
    """With the scaled store the counters live in Redis: two instances share one budget."""
    settings = make_settings(tmp_path, redis_url=redis_url, redis_prefix=redis_namespace + "rl:")
    limits = TokenRateLimits(window=10.0, per_ip=2, per_client=None)
    clock = FakeClock()
    async with running(settings) as (_, service, _):
        one = _app(service, rate_limits=limits, clock=clock)
        two = _app(service, rate_limits=limits, clock=clock)
        async with one, two:
            assert (await one.post("/oauth/token", data=CC)).status_code == 401
            assert (await two.post("/oauth/token", data=CC)).status_code == 401
            assert (await one.post("/oauth/token", data=CC)).status_code == 429


# -- 4. introspection permission ---------------------------------------------------------------


async def test_introspection_refused_to_clients_not_registered_for_it(
    env: tuple[Env, Secrets],
) -> None:
    """A confidential client without may_introspect gets a generic 403 and no token data."""
    (client, _, _), secrets = env
    access = (await login(client)).json()["access_token"]
    denied = await client.post(
        "/oauth/introspect", data={"token": access}, auth=("reporting", secrets.reporting)
    )
    assert denied.status_code == 403
    assert denied.json() == {
        "error": "unauthorized_client",
        "error_description": "This client may not introspect tokens.",
    }
    public = await client.post(
        "/oauth/introspect", data={"token": access, "client_id": DEMO_CLIENT_ID}
    )
    assert public.status_code == 401
    allowed = await client.post(
        "/oauth/introspect", data={"token": access}, auth=("gateway", secrets.gateway)
    )
    assert allowed.status_code == 200
    minimal = {"active", "scope", "client_id", "sub", "exp", "iat", "token_type"}
    assert set(allowed.json()) == minimal
    assert "alice" not in allowed.text


# -- 5. one authentication method; Basic decoding ----------------------------------------------


async def test_basic_and_form_credentials_together_are_invalid_request(
    env: tuple[Env, Secrets],
) -> None:
    """RFC 6749 §2.3: Basic plus a form secret, or plus another form client_id, is refused."""
    (client, _, _), secrets = env
    both = await client.post(
        "/oauth/token",
        data={**CC, "client_id": "reporting", "client_secret": secrets.reporting},
        auth=("reporting", secrets.reporting),
    )
    assert both.status_code == 400
    assert both.json()["error"] == "invalid_request"
    two_ids = await client.post(
        "/oauth/token", data={**CC, "client_id": "gateway"}, auth=("reporting", secrets.reporting)
    )
    assert two_ids.status_code == 400
    assert two_ids.json()["error"] == "invalid_request"
    assert secrets.reporting not in both.text + two_ids.text


async def test_basic_credentials_are_form_urldecoded(env: tuple[Env, Secrets]) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic ("+" is a space)."""
    (client, service, _), _ = env
    secret = "two words+plus:colon"
    await service.store.add_client(
        Client(
            client_id="svc.a~b",
            secret_hash=_passwords.hash_client_secret(secret),
            grant_types=("client_credentials",),
        )
    )
    encoded = f"{quote_plus('svc.a~b')}:{quote_plus(secret)}"
    assert "+" in encoded
    answer = await client.post("/oauth/token", data=CC, headers=_basic(encoded))
    assert answer.status_code == 200, answer.text


MALFORMED_BASIC = [
    b"Basic",
    b"Basic ",
    b"Basic !!!notbase64",
    b"Basic " + base64.b64encode(b"no-colon"),
    b"Basic " + base64.b64encode(b"\xff\xfe:\xff"),
    b"Basic \xe9\xe9\xe9",
    b"Basic " + b"A" * 10_000,
    b"basic " + base64.b64encode(b":"),
]


async def test_malformed_basic_credentials_are_invalid_client_never_500(
    env: tuple[Env, Secrets],
) -> None:
    """Bad base64, bad UTF-8, non-ASCII or oversized headers: a generic 401, never a 500."""
    (_, service, _), _ = env
    async with _app(service) as http:
        for header in MALFORMED_BASIC:
            headers = [(b"authorization", header)]
            answer = await http.post("/oauth/token", data=CC, headers=headers)
            assert answer.status_code == 401, header
            assert answer.json() == INVALID_CLIENT


# -- 6. client id format ---------------------------------------------------------------------


async def test_user_like_or_malformed_client_ids_cannot_register(
    env: tuple[Env, Secrets],
) -> None:
    """Registration refuses usr_ ids (a client's sub would look like a user's) and odd ids."""
    (_, service, _), _ = env
    for client_id in ("usr_abcdefghijklmnop", "Usr_x", "has space", "x" * 65, "a/b"):
        with pytest.raises(InvalidRequest):
            await service.add_client(
                client_id, grant_types=["client_credentials"], confidential=True
            )
    assert {c.client_id for c in await service.store.list_clients()} == {
        DEMO_CLIENT_ID,
        "mobile",
        "reporting",
        "gateway",
    }


async def test_endpoint_refuses_user_like_client_ids_even_if_stored(
    env: tuple[Env, Secrets],
) -> None:
    """A usr_ client written by an earlier version is refused at the endpoint, without lookup,
    so no client_credentials token ever carries a user-shaped sub."""
    (client, service, _), _ = env
    store = service.store
    assert isinstance(store, MemoryStore)
    secret = "tvc_user-shaped"
    store._clients["usr_legacy"] = Client(
        client_id="usr_legacy",
        secret_hash=_passwords.hash_client_secret(secret),
        grant_types=("client_credentials",),
    )
    lookups: list[str] = []
    real = store.get_client

    async def counting(client_id: str) -> Client | None:
        lookups.append(client_id)
        return await real(client_id)

    store.get_client = counting  # type: ignore[method-assign]
    answer = await client.post("/oauth/token", data=CC, auth=("usr_legacy", secret))
    assert answer.status_code == 401
    assert answer.json() == INVALID_CLIENT
    assert lookups == []


# -- 7. erasure, seen from the token endpoint -------------------------------------------------


async def test_deleted_user_cannot_refresh_and_deleted_client_cannot_authenticate(
    env: tuple[Env, Secrets],
) -> None:
    """After erasure the user's refresh token is dead; a deleted client is invalid_client."""
    (client, service, _), secrets = env
    tokens = (await login(client)).json()
    user = await service.store.get_user_by_username("alice")
    assert user is not None
    assert await service.store.delete_user(user.id, time.time()) is True
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    assert await service.store.delete_client("reporting", time.time()) is True
    gone = await client.post("/oauth/token", data=CC, auth=("reporting", secrets.reporting))
    assert gone.status_code == 401
    assert gone.json() == INVALID_CLIENT


# -- no 500, no echo -------------------------------------------------------------------------


ODD_BODIES = [
    "client_id=%00%01&client_secret=s3cr3t-canary",
    "client_id=" + "x" * 4000 + "&client_secret=s3cr3t-canary",
    "client_id=caf%C3%A9&client_secret=s3cr3t-canary&token=t",
    "client_id=&client_secret=&token=t&grant_type=password",
    "client_id=gateway&client_secret=s3cr3t-canary&token=%ED%A0%80",
    "client_id=%FF%FE&client_secret=s3cr3t-canary&token=%FF",
    "client_id=web&client_id=web&client_secret=s3cr3t-canary",
]


async def test_odd_client_input_gets_generic_4xx_without_echo(env: tuple[Env, Secrets]) -> None:
    """Control characters, oversized, non-ASCII or invalid UTF-8 ids, empty values, repeats:
    a 4xx on every endpoint, nothing echoed."""
    (client, _, _), _ = env
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        for body in ODD_BODIES:
            content = f"grant_type=client_credentials&{body}"
            answer = await client.post(path, content=content, headers=headers)
            assert 400 <= answer.status_code < 500, (path, body)
            assert "s3cr3t-canary" not in answer.text
            assert "caf" not in answer.text


# -- store failures ----------------------------------------------------------------------------

STORE_CANARY = "s3cr3t-in-a-driver-message"


class RefusingStore(MemoryStore):
    """A store that answers but refuses (a plain StoreError, not an outage) once switched."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False

    async def get_client(self, client_id: str) -> Client | None:
        if self.refusing:
            raise StoreError(f"the database refused the operation: {STORE_CANARY}")
        return await super().get_client(client_id)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
async def test_store_error_on_an_endpoint_is_a_generic_503_never_a_500(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain StoreError inside the token, revocation or introspection endpoint is the
    endpoints' generic 503 body, even on a bare router (no app error handlers): no 500, no
    traceback, and neither the body nor the log holds the error's message or the secret."""
    store = RefusingStore()
    async with running(make_settings(tmp_path), store) as (_, service, _):
        store.refusing = True
        caplog.set_level(logging.INFO)
        async with _app(service) as http:
            answer = await http.post(
                path, data={**CC, "token": "t"}, auth=("gateway", "tvc_presented-secret")
            )
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "temporarily_unavailable",
        "error_description": "The service is temporarily unavailable.",
    }
    assert answer.headers["cache-control"] == "no-store"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "store error on an OAuth endpoint (StoreError)" in logged
    assert all(r.exc_info is None for r in caplog.records)
    for secret in (STORE_CANARY, "tvc_presented-secret"):
        assert secret not in answer.text
        assert secret not in logged
