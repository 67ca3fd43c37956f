"""Two versions of the same small API: one leaking by every usual path, one hardened."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel

from tokenveil._principal import Principal
from tokenveil.store._protocols import SecurityEvent
from tokenveil.testing import Canaries
from tokenveil.web.fields import PII, Present
from tokenveil.web.harden import harden

logger = logging.getLogger("tests.edge.shop")


class Signup(BaseModel):
    email: str
    password: str
    age: int


class User(BaseModel):
    id: str
    name: Annotated[str, PII("PERSON", reveal="pii:name:read")]
    email: Annotated[str, PII("EMAIL", reveal="pii:email:read", mask="partial")]
    phone: Annotated[str, PII("PHONE", reveal="pii:phone:read", mask="drop")]


async def bearer_principal(request: Request) -> Principal:
    """Accepts any bearer token: enough to exercise the edge, not an auth implementation."""
    principal = Principal("u1", frozenset({"profile"}), "shop", "j", 0, 1)
    request.state.tokenveil_principal = principal
    return principal


Auth = Annotated[Principal, Depends(bearer_principal)]


def leaky_app(canaries: Canaries) -> FastAPI:
    """Everything the seed articles warn about, on purpose."""
    app = FastAPI()
    users = {
        "u1": {"id": "u1", "name": canaries.name, "email": canaries.email, "phone": canaries.phone}
    }

    @app.get("/users/{user_id}")
    async def get_user(user_id: str, request: Request, response: Response, _: Auth) -> Any:
        logger.info("request headers %s", dict(request.headers))  # logs the bearer token
        found = users.get(user_id)
        if found is None:
            return Response(f"no user {user_id}", status_code=404)  # echoes input
        response.headers["X-Debug-User"] = found["email"]
        return found

    @app.post("/signup")
    async def signup(body: Signup) -> dict[str, str]:
        logger.info("signup %s", body)  # logs email and password
        return {"status": "ok"}

    @app.get("/search")
    async def search(q: str) -> dict[str, str]:
        raise ValueError(f"no match for {q}")  # traceback with input

    return app


def hardened_app(canaries: Canaries, events: list[SecurityEvent] | None = None) -> FastAPI:
    """The same API with declared PII, Present, and harden(app)."""
    app = FastAPI()
    users = {"u1": User(id="u1", name=canaries.name, email=canaries.email, phone=canaries.phone)}

    async def audit(event: SecurityEvent) -> None:
        if events is not None:
            events.append(event)

    @app.get("/users/{user_id}", response_model=User)
    async def get_user(user_id: str, request: Request, present: Present, _: Auth) -> Any:
        logger.info("request headers %s", dict(request.headers))
        found = users.get(user_id)
        if found is None:
            return Response(status_code=404)
        response = await present(found)
        response.headers["X-Debug-User"] = found.email  # same mistake: egress masks it
        return response

    @app.post("/signup")
    async def signup(body: Signup) -> dict[str, str]:
        logger.info("signup %s", body)
        return {"status": "ok"}

    @app.get("/search")
    async def search(q: str) -> dict[str, str]:
        raise ValueError(f"no match for {q}")

    harden(app, audit=audit)
    return app
