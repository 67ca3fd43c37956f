"""The demo API served by ``tokenveil serve``: a few resources that hold personal data.

It exists so that every PII control has something real to protect: a profile (name, email,
phone, address, birth date) and an orders list (shipping addresses, card last digits). The
values are fictional and fixed per user; a user's email is the one given at ``users add``.
"""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from tokenveil._principal import Principal
from tokenveil.service import TokenService
from tokenveil.web.deps import Authenticator
from tokenveil.web.fields import PII, Present

__all__ = ["DEMO_SCOPES", "Order", "Profile", "demo_router"]

DEMO_SCOPES: dict[str, str] = {
    "profile": "Read your own profile",
    "orders": "Read your own orders",
    "pii:email:read": "See unmasked email addresses (on explicit request)",
    "pii:phone:read": "See unmasked phone numbers (on explicit request)",
    "pii:address:read": "See unmasked postal addresses (on explicit request)",
    "pii:name:read": "See unmasked names (on explicit request)",
    "admin:users": "Read any user's profile",
}

# Fictional values. 01632 960xxx is Ofcom's range reserved for drama; the street is invented.
_PHONES = ("+44 1632 960983", "+44 1632 960521", "+44 1632 960167")
_STREETS = ("14 Larkspur Lane, Bristol BS1 4DJ", "9 Quillon Road, Leeds LS2 7EW")
_NAMES = ("Ada Marchetti", "Bram Okonkwo", "Celia Varga")


class Profile(BaseModel):
    """A user's profile. Every personal field is declared; the field policy masks it."""

    __pii_owner__ = "id"

    id: str
    full_name: Annotated[str, PII("PERSON", reveal="pii:name:read", mask="partial")]
    email: Annotated[str | None, PII("EMAIL", reveal="pii:email:read", mask="partial")]
    phone: Annotated[str, PII("PHONE", reveal="pii:phone:read", mask="partial")]
    address: Annotated[str, PII("ADDRESS", reveal="pii:address:read", mask="redact")]
    date_of_birth: Annotated[str, PII("DATE_OF_BIRTH", reveal=None, mask="redact")]


class Order(BaseModel):
    __pii_owner__ = "owner_id"

    id: str
    owner_id: str
    item: str
    amount: str
    shipping_address: Annotated[str, PII("ADDRESS", reveal="pii:address:read", mask="redact")]
    card_last4: str


def _pick(user_id: str, options: tuple[str, ...]) -> str:
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return options[digest[0] % len(options)]


async def _profile(service: TokenService, user_id: str) -> Profile:
    user = await service.store.get_user(user_id)
    if user is None:
        raise HTTPException(404, "Not found.")
    return Profile(
        id=user.id,
        full_name=_pick(user.id, _NAMES),
        email=user.email,
        phone=_pick(user.id, _PHONES),
        address=_pick(user.id, _STREETS),
        date_of_birth="1987-04-0" + str(1 + hashlib.sha256(user.id.encode()).digest()[1] % 9),
    )


def demo_router(auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["demo"])

    async def service(request: Request) -> TokenService:
        # async: FastAPI runs a sync dependency in the thread pool, one hop per request.
        found = request.app.state.tokenveil
        assert isinstance(found, TokenService)
        return found

    Service = Annotated[TokenService, Depends(service)]

    @router.get("/me", response_model=Profile, summary="Your profile (personal fields masked)")
    async def me(
        svc: Service,
        present: Present,
        principal: Annotated[Principal, auth.require_scopes("profile")],
    ) -> Response:
        return await present(await _profile(svc, principal.sub))

    @router.get("/users/{user_id}", response_model=Profile, summary="Any user's profile")
    async def user(
        user_id: str,
        svc: Service,
        present: Present,
        principal: Annotated[Principal, auth.require_scopes("admin:users")],
    ) -> Response:
        return await present(await _profile(svc, user_id))

    @router.get("/orders", response_model=list[Order], summary="Your orders")
    async def orders(
        present: Present, principal: Annotated[Principal, auth.require_scopes("orders")]
    ) -> Response:
        address = _pick(principal.sub, _STREETS)
        return await present(
            [
                Order(
                    id=f"ord_{n}",
                    owner_id=principal.sub,
                    item=item,
                    amount=amount,
                    shipping_address=address,
                    card_last4="4242",
                )
                for n, (item, amount) in enumerate((("Tea set", "34.90"), ("Lamp", "59.00")), 1)
            ]
        )

    return router
