"""The token service: a key ring, an issuer, a verifier and refresh families over one store.

:class:`TokenService` is what ``tokenveil serve`` runs and what the CLI drives. It keeps each
instance's in-memory view (keys, revoked ``jti``\\ s, the kill-switch cut-off) in step with the
store by polling a state version, so a change made by the CLI or by another instance takes
effect within ``state_poll_interval`` seconds. If the store cannot be read, the view goes stale
and verification fails closed (security invariant 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tokenveil._passwords import hash_password, verify_password
from tokenveil._principal import Principal
from tokenveil.config import Settings
from tokenveil.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    StoreError,
    StoreUnavailable,
    UnauthorizedClient,
)
from tokenveil.keys import KeyEncryptor, KeyRing
from tokenveil.store import Client, SecurityEvent, Store, User, open_store
from tokenveil.tokens import (
    AccessTokenVerifier,
    ClaimsPolicy,
    RefreshTokens,
    RevocationView,
    TokenIssuer,
)
from tokenveil.tokens._refresh import REFRESH_TOKEN_PATTERN

__all__ = ["TokenResponse", "TokenService"]

log = logging.getLogger("tokenveil.service")
Clock = Callable[[], float]
_KEY_MAINTENANCE_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """RFC 6749 §5.1 answer. ``repr`` hides both tokens."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"

    def as_dict(self) -> dict[str, str | int]:
        body: dict[str, str | int] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


class TokenService:
    """Everything an authorization server instance holds. Build it with :meth:`open`."""

    def __init__(self, settings: Settings, store: Store, keyring: KeyRing, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self._clock = clock
        self.revocations = RevocationView()
        self.verifier = AccessTokenVerifier(
            keyring,
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.leeway,
            max_bytes=settings.max_token_bytes,
            revocations=self.revocations,
            clock=clock,
        )
        self.issuer = TokenIssuer(
            keyring,
            issuer=settings.issuer,
            audience=settings.audience,
            ttl=settings.access_ttl,
            policy=ClaimsPolicy.with_extra(settings.extra_claims),
            clock=clock,
        )
        self.refresh = RefreshTokens(
            store,
            idle_ttl=settings.refresh_idle_ttl,
            absolute_ttl=settings.refresh_absolute_ttl,
            clock=clock,
        )
        self._task: asyncio.Task[None] | None = None
        self._last_maintenance = 0.0

    @classmethod
    async def open(
        cls, settings: Settings, *, store: Store | None = None, clock: Clock = time.time
    ) -> TokenService:
        """Open the store (creating the schema and the first keys when missing) and sync."""
        if store is None:
            if settings.database_url is None:
                settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            store = open_store(settings.sqlalchemy_url)
        await store.open()
        encryptor = KeyEncryptor.from_settings(settings.kek, settings.kek_path)
        keyring = KeyRing(
            store,
            encryptor,
            alg=settings.signing_alg,
            rotation_period=settings.key_rotation_period,
            max_token_lifetime=settings.access_ttl + settings.leeway,
            clock=clock,
        )
        service = cls(settings, store, keyring, clock)
        if not await store.list_keys():
            await keyring.ensure()
            await store.bump_state_version()
        await service.sync(force=True)
        return service

    # -- keeping in step with the store ---------------------------------------------------

    @property
    def staleness_limit(self) -> float:
        """How long a view may go unsynced before verification fails closed."""
        return max(5.0, 5 * self.settings.state_poll_interval)

    async def sync(self, *, force: bool = False) -> bool:
        """Reload keys and revocations when the store's state version moved. True if reloaded."""
        now = self._clock()
        version = await self.store.state_version()
        changed = force or version != self.revocations.version
        if changed:
            await self.keyring.load()
            self.revocations.jtis = await self.store.revoked_jtis(now)
            self.revocations.cutoff = await self.store.get_cutoff() or 0.0
            self.revocations.version = version
        self.revocations.fresh_until = now + self.staleness_limit
        return changed

    async def maintain_keys(self) -> bool:
        """Scheduled rotation and clean-up. True when the key set changed."""
        before = [k.state for k in self.keyring.list_keys()]
        rotated = await self.keyring.maybe_rotate()
        if rotated or before != [k.state for k in self.keyring.list_keys()]:
            await self.store.bump_state_version()
            return True
        return False

    async def rotate_keys(self) -> str:
        """Rotate now; every instance picks the change up at its next sync."""
        kid = await self.keyring.rotate()
        await self.store.bump_state_version()
        await self._event("key.rotated", kid=kid)
        return kid

    async def revoke_key(self, kid: str) -> None:
        """Revoke a key at once: this instance now, others at their next sync."""
        await self.keyring.revoke(kid)
        await self.store.bump_state_version()
        self.verifier.forget()
        await self._event("key.revoked", kid=kid)

    def start_background(self) -> None:
        """Poll the store and rotate keys on schedule until :meth:`close`."""
        if self._task is None:
            self._task = asyncio.create_task(self._background(), name="tokenveil-sync")

    async def _background(self) -> None:
        was_down = False
        while True:
            try:
                await self.sync()
                if self._clock() - self._last_maintenance >= _KEY_MAINTENANCE_EVERY:
                    self._last_maintenance = self._clock()
                    await self.maintain_keys()
                if was_down:
                    log.warning("store reachable again; token verification resumed")
                    was_down = False
            except StoreUnavailable:
                if not was_down:
                    log.error("store unreachable; token verification fails closed until it returns")
                    was_down = True
            await asyncio.sleep(self.settings.state_poll_interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.store.close()

    # -- verification ---------------------------------------------------------------------

    def verify(self, token: str) -> Principal:
        return self.verifier.verify(token)

    async def verify_async(self, token: str) -> Principal:
        """The FastAPI dependency's entry point (same check; keys are local)."""
        return self.verifier.verify(token)

    # -- users and clients ----------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        scopes: Iterable[str] = (),
    ) -> User:
        if not username or len(password) < 8:
            raise InvalidRequest("a username and a password of 8 characters or more are required")
        user = User(
            id="usr_" + secrets.token_urlsafe(12),
            username=username,
            password_hash=await hash_password(password),
            email=email,
            scopes=tuple(sorted(set(scopes))),
            created_at=self._clock(),
        )
        await self.store.add_user(user)
        return user

    async def add_client(
        self,
        client_id: str,
        *,
        name: str = "",
        scopes: Iterable[str] = (),
        grant_types: Iterable[str] = ("password", "refresh_token"),
        confidential: bool = False,
        dpop_bound: bool = False,
    ) -> tuple[Client, str | None]:
        """Register a client. Returns it and, for a confidential client, its secret (shown once)."""
        secret = "tvc_" + secrets.token_urlsafe(32) if confidential else None
        client = Client(
            client_id=client_id,
            name=name,
            secret_hash=await hash_password(secret) if secret else None,
            scopes=tuple(sorted(set(scopes))),
            grant_types=tuple(grant_types),
            dpop_bound=dpop_bound,
            created_at=self._clock(),
        )
        await self.store.add_client(client)
        return client, secret

    async def authenticate_client(
        self, client_id: str | None, client_secret: str | None, *, require_secret: bool = False
    ) -> Client:
        """RFC 6749 §2.3. Unknown client and wrong secret give the same error."""
        if not client_id:
            raise InvalidClient()
        client = await self.store.get_client(client_id)
        if client is None:
            await verify_password(None, client_secret or "")
            raise InvalidClient()
        if client.secret_hash is None:
            if require_secret or client_secret:
                raise InvalidClient()
            return client
        if not client_secret or not await verify_password(client.secret_hash, client_secret):
            raise InvalidClient()
        return client

    # -- grants (RFC 6749 §4.3, §6, §4.4) --------------------------------------------------

    async def password_grant(
        self, client: Client, username: str, password: str, scope: str | None
    ) -> TokenResponse:
        _require_grant(client, "password")
        user = await self.store.get_user_by_username(username) if username else None
        ok = await verify_password(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            raise InvalidGrant("invalid username or password")
        granted = _grant_scopes(scope, set(user.scopes) & set(client.scopes))
        access = self.issuer.issue(sub=user.id, client_id=client.client_id, scope=granted)
        refresh = None
        if "refresh_token" in client.grant_types:
            new = await self.refresh.start(sub=user.id, client_id=client.client_id, scope=granted)
            refresh = new.token
        await self._event("token.issued", grant="password", sub=user.id, client_id=client.client_id)
        return TokenResponse(access.token, access.expires_in, access.scope, refresh)

    async def refresh_grant(
        self, client: Client, refresh_token: str, scope: str | None
    ) -> TokenResponse:
        _require_grant(client, "refresh_token")
        new = await self.refresh.rotate(refresh_token, client_id=client.client_id)
        family = new.family
        user = await self.store.get_user(family.sub)
        if user is None or user.disabled:
            await self.store.revoke_family(family.id, self._clock(), "user_gone")
            raise InvalidGrant()
        # RFC 6749 §6: a refresh may narrow the scope, never widen it.
        granted = _grant_scopes(scope, set(family.scope))
        access = self.issuer.issue(sub=family.sub, client_id=client.client_id, scope=granted)
        return TokenResponse(access.token, access.expires_in, access.scope, new.token)

    async def client_credentials_grant(self, client: Client, scope: str | None) -> TokenResponse:
        _require_grant(client, "client_credentials")
        if client.secret_hash is None:
            raise UnauthorizedClient("client_credentials needs a confidential client")
        granted = _grant_scopes(scope, set(client.scopes))
        access = self.issuer.issue(sub=client.client_id, client_id=client.client_id, scope=granted)
        return TokenResponse(access.token, access.expires_in, access.scope)

    # -- revocation and introspection (RFC 7009, RFC 7662) ---------------------------------

    async def revoke_token(self, token: str, client: Client) -> None:
        """Revoke an access or a refresh token. Unknown or foreign tokens are ignored (§2.2)."""
        if REFRESH_TOKEN_PATTERN.fullmatch(token):
            await self.refresh.revoke(token, client_id=client.client_id)
            return
        try:
            principal = self.verifier.verify(token)
        except InvalidToken:
            return
        if principal.client_id != client.client_id:
            return
        await self.revoke_access(principal.jti, principal.expires_at)

    async def revoke_access(self, jti: str, expires_at: float) -> None:
        """Reject this access token everywhere from the next sync on (here: immediately)."""
        await self.store.revoke_jti(jti, expires_at)
        await self.store.bump_state_version()
        self.revocations.jtis.add(jti)
        await self._event("token.revoked", jti=jti)

    async def introspect(self, token: str) -> dict[str, object]:
        """RFC 7662 §2.2, minimal: active, scope, client_id, sub (opaque), exp, iat, token_type.

        Nothing about the user beyond the opaque ``sub``; never a PII claim.
        """
        if REFRESH_TOKEN_PATTERN.fullmatch(token):
            # §2.2 lets the server answer inactive for tokens the caller may not introspect.
            # Refresh tokens concern the authorization server alone; resource servers never
            # learn whether one is live.
            return {"active": False}
        try:
            p = self.verifier.verify(token)
        except (InvalidToken, StoreError):
            return {"active": False}
        return {
            "active": True,
            "scope": " ".join(sorted(p.scopes)),
            "client_id": p.client_id,
            "sub": p.sub,
            "exp": p.expires_at,
            "iat": p.issued_at,
            "token_type": "Bearer",
        }

    async def _event(self, kind: str, **details: str | int | float | None) -> None:
        await self.store.record_event(SecurityEvent(kind, self._clock(), details))


def _require_grant(client: Client, grant: str) -> None:
    if grant not in client.grant_types:
        raise UnauthorizedClient()


def _grant_scopes(requested: str | None, allowed: set[str]) -> set[str]:
    if requested is None or not requested.strip():
        return allowed
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise InvalidScope()
    return wanted
