"""Field-level PII policy: masked by default, revealed only on scope + explicit audited request."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Request
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from tokenveil._principal import Principal
from tokenveil.pii import Partial, Pseudonymize
from tokenveil.store._protocols import SecurityEvent
from tokenveil.web.fields import (
    ALLOWED_PATHS_STATE_KEY,
    PII,
    FieldPolicy,
    Present,
    pii_fields,
    routes_missing_presenter,
    use_field_policy,
)

EMAIL = "zq.canary.fields@leak-test.example"
NAME = "Quorvina Tesselbrook"
PHONE = "+33 6 12 34 56 78"
STREET = "17 Canary Lane"


class Address(BaseModel):
    street: Annotated[str, PII("ADDRESS", reveal="pii:address:read")]
    city: str


class Customer(BaseModel):
    __pii_owner__ = "id"

    id: str
    name: Annotated[str, PII("PERSON", reveal="pii:name:read")]
    email: Annotated[str, PII("EMAIL", reveal="pii:email:read", mask="partial")]
    phone: Annotated[str | None, PII("PHONE", reveal="pii:phone:read", mask="drop")] = None
    address: Address | None = None
    tags: list[str] = []


class Page(BaseModel):
    items: list[Customer]


def _customer(cid: str = "u-1") -> Customer:
    return Customer(
        id=cid,
        name=NAME,
        email=EMAIL,
        phone=PHONE,
        address=Address(street=STREET, city="Lyon"),
        tags=["vip"],
    )


async def principal_from_headers(
    request: Request,
    x_sub: Annotated[str, Header()] = "support-7",
    x_scopes: Annotated[str, Header()] = "",
) -> Principal:
    """Stands in for tokenveil.web.get_principal, which stores the principal the same way."""
    principal = Principal(
        sub=x_sub,
        scopes=frozenset(x_scopes.split()),
        client_id="c",
        jti="j",
        issued_at=0,
        expires_at=1,
    )
    request.state.tokenveil_principal = principal
    return principal


Auth = Annotated[Principal, Depends(principal_from_headers)]


class StateSpy:
    """Records scope["state"] after the app ran, to see what the policy handed to egress."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.states: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        self.states.append(dict(scope.get("state", {})))


def _app(policy: FieldPolicy) -> FastAPI:
    app = FastAPI()
    use_field_policy(app, policy)

    @app.get("/customers/{cid}", response_model=Customer)
    async def get_customer(cid: str, present: Present, _: Auth) -> Any:
        return await present(_customer(cid))

    @app.get("/customers", response_model=Page)
    async def list_customers(present: Present, _: Auth) -> Any:
        return await present(Page(items=[_customer("u-1"), _customer("u-2")]))

    @app.get("/forgot", response_model=Customer)
    async def forgot(_: Auth) -> Customer:
        return _customer()

    return app


class AuditSink:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[SecurityEvent] = []
        self.fail = fail

    async def __call__(self, event: SecurityEvent) -> None:
        if self.fail:
            raise ConnectionError("audit store down")
        self.events.append(event)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.test")


@pytest.fixture
def audit() -> AuditSink:
    return AuditSink()


async def test_caller_without_scopes_gets_every_pii_field_masked(audit: AuditSink) -> None:
    """No reveal scope: redact, partial and drop apply, nested models included."""
    async with _client(_app(FieldPolicy(audit=audit))) as client:
        body = (await client.get("/customers/u-1")).json()
    assert body["name"] == "[PERSON]"
    assert body["email"] != EMAIL
    assert body["email"] == Partial()(EMAIL, "EMAIL")  # keeps a short tail only
    assert body["email"].endswith("mple")
    assert "phone" not in body
    assert body["address"] == {"street": "[ADDRESS]", "city": "Lyon"}
    assert body["tags"] == ["vip"]
    assert audit.events == []


async def test_scope_alone_does_not_reveal(audit: AuditSink) -> None:
    """Holding pii:email:read is not enough: the request must ask, with a purpose."""
    headers = {"X-Scopes": "pii:email:read"}
    async with _client(_app(FieldPolicy(audit=audit))) as client:
        plain = (await client.get("/customers/u-1", headers=headers)).json()
        no_purpose = (await client.get("/customers/u-1?reveal=email", headers=headers)).json()
    assert plain["email"] != EMAIL
    assert no_purpose["email"] != EMAIL
    assert audit.events == []


async def test_explicit_reveal_with_scope_is_audited_without_the_value(audit: AuditSink) -> None:
    """?reveal=email&purpose=... with the scope reveals that field only, and writes one event."""
    async with _client(_app(FieldPolicy(audit=audit, clock=lambda: 1234.0))) as client:
        response = await client.get(
            "/customers/u-9?reveal=email,name&purpose=support-ticket-123",
            headers={"X-Scopes": "pii:email:read", "X-Sub": "agent-4"},
        )
    body = response.json()
    assert body["email"] == EMAIL
    assert body["name"] == "[PERSON]"  # asked for, but no pii:name:read scope
    assert len(audit.events) == 1
    event = audit.events[0]
    assert event.kind == "pii.reveal"
    assert event.at == 1234.0
    assert event.details == {
        "sub": "agent-4",
        "client_id": "c",
        "model": "Customer",
        "field": "email",
        "kind": "EMAIL",
        "record_id": "u-9",
        "purpose": "support-ticket-123",
    }
    assert EMAIL not in repr(event)


async def test_reveal_fails_closed_when_audit_fails_or_is_missing() -> None:
    """No audit written (sink down or none configured) means nothing revealed."""
    url = "/customers/u-1?reveal=email&purpose=ticket-1"
    headers = {"X-Scopes": "pii:email:read"}
    async with _client(_app(FieldPolicy(audit=AuditSink(fail=True)))) as client:
        failing = (await client.get(url, headers=headers)).json()
    async with _client(_app(FieldPolicy())) as client:
        unconfigured = (await client.get(url, headers=headers)).json()
    assert failing["email"] != EMAIL
    assert unconfigured["email"] != EMAIL


async def test_purpose_holding_pii_is_not_accepted(audit: AuditSink) -> None:
    """The purpose goes to the audit trail, so a purpose that is itself PII is refused."""
    async with _client(_app(FieldPolicy(audit=audit))) as client:
        body = (
            await client.get(
                f"/customers/u-1?reveal=email&purpose={EMAIL}",
                headers={"X-Scopes": "pii:email:read"},
            )
        ).json()
    assert body["email"] != EMAIL
    assert audit.events == []


async def test_owner_sees_own_pii_only_when_enabled(audit: AuditSink) -> None:
    """__pii_owner__: with owner_sees_own the owner reads their record, not someone else's."""
    async with _client(_app(FieldPolicy(audit=audit, owner_sees_own=True))) as client:
        own = (await client.get("/customers/u-1", headers={"X-Sub": "u-1"})).json()
        other = (await client.get("/customers/u-2", headers={"X-Sub": "u-1"})).json()
    async with _client(_app(FieldPolicy(audit=audit))) as client:
        disabled = (await client.get("/customers/u-1", headers={"X-Sub": "u-1"})).json()
    assert own["email"] == EMAIL
    assert own["phone"] == PHONE
    assert other["email"] != EMAIL
    assert disabled["email"] != EMAIL
    assert audit.events == []


async def test_lists_are_filtered_and_reveals_capped(audit: AuditSink) -> None:
    """Every item of a list is filtered; reveals beyond max_reveals stay masked."""
    policy = FieldPolicy(audit=audit, max_reveals=1)
    async with _client(_app(policy)) as client:
        body = (
            await client.get(
                "/customers?reveal=email&purpose=ticket-9", headers={"X-Scopes": "pii:email:read"}
            )
        ).json()
    emails = [item["email"] for item in body["items"]]
    assert emails[0] == EMAIL
    assert emails[1] != EMAIL
    assert [e.details["record_id"] for e in audit.events] == ["u-1"]


async def test_revealed_paths_are_handed_to_egress_and_response_marked_sensitive(
    audit: AuditSink,
) -> None:
    """The policy records revealed JSON paths (engine spelling) and asks for no-store."""
    spy = StateSpy(_app(FieldPolicy(audit=audit)))
    async with _client(spy) as client:
        await client.get(
            "/customers?reveal=email&purpose=ticket-9", headers={"X-Scopes": "pii:email:read"}
        )
    state = spy.states[0]
    assert state[ALLOWED_PATHS_STATE_KEY] == {"$.items[0].email", "$.items[1].email"}
    assert state["tokenveil.sensitive"] is True


async def test_pseudonymize_uses_the_configured_key_else_redacts(audit: AuditSink) -> None:
    """mask="pseudonymize" gives a stable keyed pseudonym, or [KIND] without a key."""

    class Contact(BaseModel):
        email: Annotated[str, PII("EMAIL", mask="pseudonymize")]

    keyed = FieldPolicy(pseudonymizer=Pseudonymize({"k1": b"0123456789abcdef"}))
    app = FastAPI()

    @app.get("/c")
    async def contact(present: Present) -> Any:
        return await present(Contact(email=EMAIL))

    use_field_policy(app, keyed)
    async with _client(app) as client:
        first = (await client.get("/c")).json()["email"]
        second = (await client.get("/c")).json()["email"]
    use_field_policy(app, FieldPolicy())
    async with _client(app) as client:
        unkeyed = (await client.get("/c")).json()["email"]
    assert first == second
    assert first.startswith("[EMAIL:k1:")
    assert unkeyed == "[EMAIL]"


def test_openapi_shows_pii_kind_scope_and_mask() -> None:
    """x-pii tells API consumers which fields are personal data and which scope reveals them."""
    schema = _app(FieldPolicy()).openapi()
    props = schema["components"]["schemas"]["Customer"]["properties"]
    assert props["email"]["x-pii"] == {
        "kind": "EMAIL",
        "reveal_scope": "pii:email:read",
        "mask": "partial",
    }
    assert "x-pii" not in props["id"]
    parameters = schema["paths"]["/customers/{cid}"]["get"]["parameters"]
    assert {"reveal", "purpose"} <= {p["name"] for p in parameters}


def test_pii_fields_and_routes_missing_presenter() -> None:
    """pii_fields walks nested models; a PII route without Present is reported."""
    assert set(pii_fields(Customer)) == {"name", "email", "phone", "address.street"}
    assert routes_missing_presenter(_app(FieldPolicy())) == ["GET /forgot"]


def test_unknown_mask_is_a_configuration_error() -> None:
    """A typo in mask= fails at import time, not at request time."""
    from tokenveil.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        PII("EMAIL", mask="hide")  # type: ignore[arg-type]


async def test_scope_alone_reveals_when_explicit_reveal_is_off(audit: AuditSink) -> None:
    """explicit_reveal=False: the scope is enough, and the reveal is still audited."""
    async with _client(_app(FieldPolicy(audit=audit, explicit_reveal=False))) as client:
        body = (await client.get("/customers/u-3", headers={"X-Scopes": "pii:email:read"})).json()
    assert body["email"] == EMAIL
    assert body["name"] == "[PERSON]"
    assert [(e.details["field"], e.details["purpose"]) for e in audit.events] == [("email", None)]


async def test_an_id_declared_as_pii_stays_out_of_the_audit_trail(audit: AuditSink) -> None:
    """When the record id is itself PII (an email as key), the reveal event has no record_id."""

    class Subscriber(BaseModel):
        id: Annotated[str, PII("EMAIL", reveal="pii:email:read")]

    app = FastAPI()
    use_field_policy(app, FieldPolicy(audit=audit))

    @app.get("/s")
    async def subscriber(present: Present, _: Auth) -> Any:
        return await present(Subscriber(id=EMAIL))

    async with _client(app) as client:
        body = (
            await client.get(
                "/s?reveal=id&purpose=ticket-5", headers={"X-Scopes": "pii:email:read"}
            )
        ).json()
    assert body["id"] == EMAIL
    assert audit.events[0].details["record_id"] is None
    assert EMAIL not in repr(audit.events)
