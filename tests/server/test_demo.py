"""The demo API: personal fields masked by default, revealed only on request, scope and audit."""

from __future__ import annotations

from pathlib import Path

from tests.server._app import PASSWORD, login, make_settings, running
from tokenveil.store import MemoryStore

EMAIL = "ada.lovelace@example.org"


async def test_profile_is_masked_without_reveal(tmp_path: Path) -> None:
    """/api/me masks email, phone, name and address, and the response is not cacheable."""
    async with running(make_settings(tmp_path), MemoryStore()) as (client, service, _):
        await service.add_user("ada", PASSWORD, email=EMAIL, scopes=["profile"])
        access = (await login(client, username="ada")).json()["access_token"]
        answer = await client.get("/api/me", headers={"Authorization": f"Bearer {access}"})
        assert answer.status_code == 200
        body = answer.json()
        assert EMAIL not in answer.text
        assert body["email"] != EMAIL
        assert body["address"] == "[ADDRESS]"
        assert body["date_of_birth"] == "[DATE_OF_BIRTH]"
        assert "no-store" in answer.headers["cache-control"]


async def test_reveal_needs_scope_request_and_purpose_and_is_audited(tmp_path: Path) -> None:
    """An email comes unmasked only with its scope, ?reveal=email and a purpose; it is audited."""
    async with running(make_settings(tmp_path), MemoryStore()) as (client, service, _):
        await service.add_user("ada", PASSWORD, email=EMAIL, scopes=["profile", "pii:email:read"])
        access = (await login(client, username="ada")).json()["access_token"]
        headers = {"Authorization": f"Bearer {access}"}

        no_request = await client.get("/api/me", headers=headers)
        assert EMAIL not in no_request.text
        no_purpose = await client.get("/api/me?reveal=email", headers=headers)
        assert EMAIL not in no_purpose.text
        revealed = await client.get("/api/me?reveal=email&purpose=ticket-4711", headers=headers)
        assert revealed.json()["email"] == EMAIL
        assert revealed.json()["address"] == "[ADDRESS]"

        events = await service.store.list_events("pii.reveal")
        assert len(events) == 1
        details = dict(events[0].details)
        assert details["field"] == "email"
        assert details["purpose"] == "ticket-4711"
        assert EMAIL not in repr(details)


async def test_openapi_declares_pii_fields(tmp_path: Path) -> None:
    """OpenAPI marks each personal field with its kind and the scope that reveals it."""
    async with running(make_settings(tmp_path), MemoryStore()) as (client, _, _):
        schema = (await client.get("/openapi.json")).json()
        email = schema["components"]["schemas"]["Profile"]["properties"]["email"]
        assert email["x-pii"] == {
            "kind": "EMAIL",
            "reveal_scope": "pii:email:read",
            "mask": "partial",
        }
        assert "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]
