"""What tokenveil needs from a backing store, as small Protocols on separate axes.

Every backend (in-memory test double, SQL on SQLite or PostgreSQL, Redis for revocations) passes
the same contract suite in ``tests/store``. Times are Unix seconds as floats. A backend that cannot
reach its service raises :class:`tokenveil.errors.StoreUnavailable`, never a driver exception.

Right to erasure (GDPR Art. 17): ``delete_user`` removes the user's row (username, email,
password hash) and revokes the user's refresh families in the same call; what remains (families,
audit events) names the user only by the opaque ``sub``, which no longer resolves to anyone.
``delete_client`` likewise revokes the client's families. ``add_client`` refuses a client id
that :func:`valid_client_id` rejects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "AuditStore",
    "Client",
    "ClientStore",
    "ConsumeResult",
    "KeyState",
    "KeyStore",
    "RefreshFamily",
    "RefreshRecord",
    "RefreshStore",
    "RevocationStore",
    "SecurityEvent",
    "Store",
    "StoredKey",
    "User",
    "UserStore",
    "token_live",
    "valid_client_id",
]

KeyState = Literal["next", "active", "retiring", "revoked"]
EventValue = str | int | float | bool | None

#: RFC 3986 unreserved characters only: a client id needs no escaping in a URL, a log line or
#: HTTP Basic credentials (RFC 6749 §2.3.1), and stays short.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")
#: User subjects start with this; a client's ``sub`` (client_credentials) must never equal one.
USER_ID_PREFIX = "usr_"


def valid_client_id(client_id: str) -> bool:
    """Whether ``client_id`` may be registered or presented: 1-64 unreserved characters, and
    not starting with ``usr_`` (any case), so a client's ``sub`` never collides with a user's."""
    return bool(_CLIENT_ID.fullmatch(client_id)) and not client_id.lower().startswith(
        USER_ID_PREFIX
    )


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as stored: public JWK in clear, private key only encrypted (AES-GCM)."""

    kid: str
    alg: str
    state: KeyState
    public_jwk: Mapping[str, str]
    private_blob: bytes = field(repr=False)
    created_at: float
    activated_at: float | None = None
    retired_at: float | None = None
    revoked_at: float | None = None
    #: After this instant a retiring key has outlived every token it signed and may be deleted.
    not_after: float | None = None


@dataclass(frozen=True, slots=True)
class User:
    """A resource owner. ``id`` is opaque and is what goes into ``sub``; the rest never does."""

    id: str
    username: str = field(repr=False)
    password_hash: str = field(repr=False)
    email: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    created_at: float = 0.0
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Client:
    """An OAuth client. Public clients have no secret; confidential ones store only its hash:
    ``sha256$<hex>`` (secrets are 256-bit random), or ``$argon2id$...`` from earlier versions."""

    client_id: str
    name: str = ""
    secret_hash: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("password", "refresh_token")
    #: RFC 9449: tokens issued to this client must be DPoP-bound.
    dpop_bound: bool = False
    created_at: float = 0.0
    #: RFC 7662 §2.1: only a client registered with this may call the introspection endpoint.
    may_introspect: bool = False


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """Every refresh token descending from one login. Reuse of any consumed member revokes it."""

    id: str
    sub: str
    client_id: str
    scope: tuple[str, ...]
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    revoke_reason: str | None = None
    #: RFC 9449 thumbprint the family is bound to, if the client uses DPoP.
    dpop_jkt: str | None = None
    #: Flagged by the monitor; ``killswitch purge --revoke-families suspect`` revokes these.
    suspect: bool = False


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """One refresh token, known only by the SHA-256 of its value."""

    token_hash: str = field(repr=False)
    family_id: str
    created_at: float
    idle_expires_at: float
    consumed_at: float | None = None


def token_live(family: RefreshFamily, record: RefreshRecord, now: float) -> bool:
    """Whether ``record`` may still be used at ``now``: its family neither revoked nor past its
    absolute lifetime, the token itself not past its idle lifetime."""
    return family.revoked_at is None and now < min(family.expires_at, record.idle_expires_at)


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    """Outcome of an atomic consume: ``ok`` exactly once per token; ``reused`` afterwards."""

    status: Literal["ok", "reused", "unknown"]
    record: RefreshRecord | None = None
    family: RefreshFamily | None = None


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """An audit-trail entry. ``details`` holds kinds, ids and pseudonyms, never PII or tokens."""

    kind: str
    at: float
    details: Mapping[str, EventValue]
    id: int = 0


class KeyStore(Protocol):
    async def list_keys(self) -> list[StoredKey]:
        """Every stored key, any state, oldest first."""
        ...

    async def put_key(self, key: StoredKey) -> None:
        """Insert a key, or replace the stored one with the same ``kid``.

        A revoked key is never replaced: revocation is terminal, whoever writes later.
        """
        ...

    async def delete_key(self, kid: str) -> None:
        """Remove a key; no error when it is already gone."""
        ...


class UserStore(Protocol):
    async def add_user(self, user: User) -> None:
        """Insert; raises :class:`tokenveil.errors.StoreError` when the username is taken."""
        ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def get_user_by_username(self, username: str) -> User | None: ...

    async def list_users(self) -> list[User]: ...

    async def update_user(self, user: User) -> bool:
        """Replace the stored user with the same ``id``; False when there is none.

        Raises :class:`tokenveil.errors.StoreError` when the new username is taken by another.
        """
        ...

    async def delete_user(self, user_id: str, now: float) -> bool:
        """Erase the user (no row, no username, email or hash left) and revoke every live
        refresh family of ``sub == user_id`` with reason ``user_deleted``, atomically.

        False when there is no such user (its families are revoked all the same).
        """
        ...


class ClientStore(Protocol):
    async def add_client(self, client: Client) -> None:
        """Insert; raises :class:`tokenveil.errors.StoreError` when the id is taken or is not a
        :func:`valid_client_id`."""
        ...

    async def get_client(self, client_id: str) -> Client | None: ...

    async def list_clients(self) -> list[Client]: ...

    async def update_client(self, client: Client) -> bool:
        """Replace the stored client with the same ``client_id``; False when there is none."""
        ...

    async def replace_client_secret(self, client_id: str, old_hash: str, new_hash: str) -> bool:
        """Compare-and-set of the secret hash: store ``new_hash`` only while the client's hash
        still equals ``old_hash``, atomically; every other field is left as it is. False when
        there is no such client or its hash has changed (an administrator's rotation wins over
        a hash upgrade computed from the old secret)."""
        ...

    async def delete_client(self, client_id: str, now: float) -> bool:
        """Remove the client and revoke every live refresh family it holds (reason
        ``client_deleted``), atomically. False when there is no such client."""
        ...


class RefreshStore(Protocol):
    async def create_family(self, family: RefreshFamily, first: RefreshRecord) -> None:
        """Store a new family with its first token, atomically."""
        ...

    async def add_token(self, record: RefreshRecord) -> None:
        """Store the successor token of a family."""
        ...

    async def consume(self, token_hash: str, now: float) -> ConsumeResult:
        """Mark the token consumed, atomically: of two concurrent calls exactly one gets ``ok``.

        ``reused`` when the token was already consumed (the caller revokes the family);
        ``unknown`` when no such token is stored. Expiry and revocation are the caller's checks,
        made on the returned record and family.
        """
        ...

    async def rotate(self, token_hash: str, successor: RefreshRecord, now: float) -> ConsumeResult:
        """Consume the token and store its ``successor`` in one step: both happen or neither.

        Same outcome and same exactly-one-``ok`` guarantee as :meth:`consume`. The successor is
        stored only on ``ok`` and only when the family is live (not revoked, ``now`` before the
        family's ``expires_at`` and the token's ``idle_expires_at``); ``reused`` and ``unknown``
        write nothing. A successor of another family, or one whose hash is taken, is a
        :class:`tokenveil.errors.StoreError` and leaves the token unconsumed; so does a store
        failure, so an outage can never burn a token without handing out the next (RFC 9700
        §4.14: the honest owner's retry would otherwise look like theft).
        """
        ...

    async def peek(self, token_hash: str) -> ConsumeResult:
        """Look a token up without consuming it: ``ok`` while unconsumed, ``reused`` after.

        Lets the caller refuse a mismatched client or DPoP key before the token is burnt, so a
        thief holding a token it cannot use cannot log its owner out.
        """
        ...

    async def get_family(self, family_id: str) -> RefreshFamily | None: ...

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        """Revoke one family; a family already revoked keeps its first reason."""
        ...

    async def revoke_families(
        self, now: float, reason: str, *, sub: str | None = None, only_suspect: bool = False
    ) -> int:
        """Revoke every live family (of ``sub`` when given; only suspect ones when asked).

        Returns how many were revoked.
        """
        ...

    async def mark_suspect(self, family_id: str) -> None: ...

    async def list_families(self, sub: str | None = None) -> list[RefreshFamily]: ...

    async def purge_expired(self, now: float) -> int:
        """Delete tokens and families past every lifetime; returns rows deleted."""
        ...


class RevocationStore(Protocol):
    async def revoke_jti(self, jti: str, expires_at: float) -> None:
        """Reject this access token until it would have expired anyway."""
        ...

    async def revoked_jtis(self, now: float) -> set[str]:
        """Every revoked jti whose token has not expired yet."""
        ...

    async def set_cutoff(self, cutoff: float) -> None:
        """Kill switch: reject every access token issued before ``cutoff``."""
        ...

    async def get_cutoff(self) -> float | None: ...

    async def state_version(self) -> int:
        """A counter every instance polls; it changes whenever keys or revocations change."""
        ...

    async def bump_state_version(self) -> int:
        """Increase the counter and return the new value."""
        ...


class AuditStore(Protocol):
    async def record_event(self, event: SecurityEvent) -> None: ...

    async def list_events(self, kind: str | None = None, limit: int = 100) -> list[SecurityEvent]:
        """Newest first."""
        ...


class Store(KeyStore, UserStore, ClientStore, RefreshStore, RevocationStore, AuditStore, Protocol):
    """Everything one backend provides. ``open`` creates the schema when missing."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...
