"""What every check reads: the target model and the recorded exchanges. Checks are pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tokenveil.scan._model import Exchange, Finding, Target

__all__ = [
    "Check",
    "Observations",
    "json_body",
    "looks_like_jwt",
    "protected_endpoints",
    "sent_token",
]


@dataclass(frozen=True, slots=True)
class Observations:
    """A finished (or interrupted) scan's raw material. ``now`` is the scan's clock (epoch s)."""

    target: Target
    exchanges: tuple[Exchange, ...]
    now: float

    def probes(self, kind: str, *, user: str | None = None) -> Iterator[Exchange]:
        for ex in self.exchanges:
            if ex.kind == kind and (user is None or ex.user == user):
                yield ex

    def answered(self) -> Iterator[Exchange]:
        for ex in self.exchanges:
            if ex.response is not None:
                yield ex


Check = Callable[[Observations], list[Finding]]


def looks_like_jwt(value: object) -> bool:
    if not isinstance(value, str) or value.count(".") != 2 or len(value) < 20:
        return False
    return value.startswith("eyJ")


def sent_token(ex: Exchange) -> str:
    """The credential the request carried: the bearer token, or the auth cookie's value."""
    auth = ex.request.header("authorization") or ""
    if auth:
        return auth.partition(" ")[2]
    cookie = ex.request.header("cookie") or ""
    return cookie.partition("=")[2].split(";", 1)[0]


def json_body(ex: Exchange) -> Any:
    """The response body as JSON, or None."""
    if ex.response is None or not ex.response.body:
        return None
    try:
        return json.loads(ex.response.body)
    except (ValueError, UnicodeDecodeError):
        return None


def protected_endpoints(obs: Observations, user: str = "user1") -> set[str]:
    """Endpoints proven to need a token: refused without one, served with the user's token."""
    refused = {
        ex.endpoint
        for ex in obs.probes("baseline")
        if ex.variant == "none" and ex.status in (401, 403)
    }
    served = {
        ex.endpoint
        for ex in obs.probes("baseline", user=user)
        if ex.variant == "access" and ex.response is not None and ex.response.ok
    }
    return refused & served
