"""The token service: a key ring, an issuer, a verifier and refresh families over one store.

:class:`TokenService` is what ``tokenveil serve`` runs and what the CLI drives. It keeps each
instance's in-memory view (keys, revoked ``jti``\\ s, the kill-switch cut-off) in step with the
store by polling a state version, so a change made by the CLI or by another instance takes
effect within ``state_poll_interval`` seconds. With Redis (``settings.redis_url``) the shared
revocation state lives there and every change is pushed by pub/sub, so instances apply it at once
and polling is only the fallback.

Freshness (security invariant 9) depends on who keeps the view in step:

- With :meth:`TokenService.start_background` (what ``tokenveil serve`` does), the loop polls
  the store; if the view goes unsynced for ``staleness_limit`` seconds (the store cannot be
  read), verification fails closed.
- Without it (a library user with one process), :meth:`TokenService.verify_async` polls the
  store itself, at most once per ``state_poll_interval``, and fails closed while that poll
  fails. Every change made through this service (revocation, purge, key change) applies to its
  own view at once, so the synchronous :meth:`TokenService.verify` never goes stale by itself;
  it does not see changes made by other processes, though. See ``docs/tokens.md``.

The background task also deletes expired refresh tokens, families and revoked jtis every
``purge_expired_interval`` seconds, and rotates keys on schedule.

The kill switch is :meth:`TokenService.purge` (see :mod:`tokenveil.killswitch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokenveil._passwords import hash_client_secret, hash_password, verify_password
from tokenveil._principal import Principal
from tokenveil._tasks import stop_task
from tokenveil.config import Settings
from tokenveil.defence import Defence, build_defence
from tokenveil.dpop import InvalidDPoPProof
from tokenveil.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    StoreError,
    StoreUnavailable,
    UnauthorizedClient,
)
from tokenveil.keys import KeyEncryptor, KeyRing
from tokenveil.killswitch import (
    FamilySelection,
    PurgeReport,
    next_cutoff,
    parse_families,
    revoke_selected_families,
)
from tokenveil.store import Client, RefreshFamily, SecurityEvent, Store, User, open_store
from tokenveil.store._protocols import valid_client_id
from tokenveil.store.scaled import ScaledStore
from tokenveil.tokens import (
    AccessTokenVerifier,
    ClaimsPolicy,
    RefreshTokens,
    RevocationView,
    TokenIssuer,
)
from tokenveil.tokens._refresh import REFRESH_TOKEN_PATTERN

if TYPE_CHECKING:
    from tokenveil.store.redis import Invalidation, RedisInvalidationListener

__all__ = ["CLIENT_ONLY_SCOPES", "TokenResponse", "TokenService"]

log = logging.getLogger("tokenveil.service")
Clock = Callable[[], float]
_KEY_MAINTENANCE_EVERY = 60.0
#: Scopes only a confidential client can hold, through client_credentials, never a user login.
CLIENT_ONLY_SCOPES = frozenset({"admin:killswitch"})


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
        # The monitor ties uses of access tokens to their login through ``sid`` (the refresh
        # family id: random, no personal data), so it can flag or revoke the family.
        extra = (*settings.extra_claims, "sid") if settings.monitoring else settings.extra_claims
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
            policy=ClaimsPolicy.with_extra(extra),
            clock=clock,
            # Tokens issued after a purge must pass its cut-off even within the same second.
            not_before=lambda: self.revocations.cutoff,
        )
        self.refresh = RefreshTokens(
            store,
            idle_ttl=settings.refresh_idle_ttl,
            absolute_ttl=settings.refresh_absolute_ttl,
            clock=clock,
        )
        self.defence = Defence(base_url=settings.issuer, clock=clock)
        self._task: asyncio.Task[None] | None = None
        self._listener: RedisInvalidationListener | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()
        self._last_maintenance = -math.inf
        self._last_purge = -math.inf
        self._last_poll = -math.inf
        self._store_down = False

    @classmethod
    async def open(
        cls, settings: Settings, *, store: Store | None = None, clock: Clock = time.time
    ) -> TokenService:
        """Open the store (creating the schema and the first keys when missing) and sync."""
        if store is None:
            if settings.database_url is None:
                settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            store = open_store(settings.sqlalchemy_url)
            if settings.redis_url:
                from tokenveil.store.scaled import open_scaled

                store = open_scaled(store, settings.redis_url, prefix=settings.redis_prefix)
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
        redis = store.redis if isinstance(store, ScaledStore) else None
        service.defence = build_defence(settings, service, redis=redis, clock=clock)
        if not await store.list_keys():
            await keyring.ensure()
            with contextlib.suppress(StoreUnavailable):  # the first sync below reports it
                await store.bump_state_version()
        await keyring.load()
        # Until the first successful sync nothing is verified (invariant 9). A revocation store
        # that is down at start-up is not fatal: the background sync recovers by itself.
        service.revocations.fresh_until = 0.0
        try:
            await service.sync(force=True)
        except StoreUnavailable:
            service._mark_down()
        return service

    # -- keeping in step with the store ---------------------------------------------------

    @property
    def staleness_limit(self) -> float:
        """How long a view may go unsynced, while the background loop runs, before
        verification fails closed."""
        return max(5.0, 5 * self.settings.state_poll_interval)

    @property
    def background_running(self) -> bool:
        """True between :meth:`start_background` and :meth:`close`."""
        return self._task is not None

    async def sync(self, *, force: bool = False) -> bool:
        """Reload keys and revocations when the store's state version moved. True if reloaded."""
        async with self._sync_lock:
            now = self._clock()
            self._last_poll = now
            if isinstance(self.store, ScaledStore):
                await self.store.ping()  # the SQL side too: either one down fails closed
            version = await self.store.state_version()
            changed = force or version != self.revocations.version
            if changed:
                await self.keyring.load()
                jtis = await self.store.revoked_jtis(now)
                cutoff = await self.store.get_cutoff() or 0.0
                # Swap in complete state only: a half-read view would be worse than a stale one.
                self.revocations.jtis = jtis
                self.revocations.cutoff = cutoff
                self.revocations.version = version
            # Only a running loop keeps pushing this forward; without one, verify_async polls
            # on demand and local changes apply at once, so there is no deadline to enforce.
            self.revocations.fresh_until = (
                now + self.staleness_limit if self.background_running else math.inf
            )
            if self._store_down:
                log.warning("store reachable again; token verification resumed")
                self._store_down = False
            return changed

    def _mark_down(self) -> None:
        # One line per outage, whichever path (poll, push, token endpoint) notices it first.
        if not self._store_down:
            log.error("store unreachable; token verification fails closed until it returns")
            self._store_down = True

    async def _on_invalidation(self, message: Invalidation) -> None:
        """A change pushed by another instance (Redis pub/sub): apply it now.

        A jti or cut-off that follows the version we hold is applied from the message itself
        (no round trip); anything else (a key change, a gap, a reconnection) reloads.
        """
        view = self.revocations
        async with self._sync_lock:
            next_one = message.version is not None and message.version == view.version + 1
            if next_one and message.type == "revoke_jti" and message.jti:
                view.jtis.add(message.jti)
                view.version = message.version or view.version
                return
            if next_one and message.type == "cutoff" and message.cutoff is not None:
                view.cutoff = max(view.cutoff, message.cutoff)
                view.version = message.version or view.version
                return
        try:
            await self.sync(force=message.type == "resync")
        except StoreUnavailable:
            self._mark_down()  # the poll keeps trying; verification fails closed meanwhile

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
        """Poll the store, rotate keys and purge expired rows on schedule until :meth:`close`;
        with Redis, also listen for pushed invalidations.

        From now on the view must be re-synced within :attr:`staleness_limit`, or verification
        fails closed.
        """
        if self._task is None:
            view = self.revocations
            view.fresh_until = min(view.fresh_until, self._clock() + self.staleness_limit)
            self._task = asyncio.create_task(self._background(), name="tokenveil-sync")
        if self._listener is None and isinstance(self.store, ScaledStore):
            from tokenveil.store.redis import RedisInvalidationListener

            self._listener = RedisInvalidationListener(
                self.store.redis_url, self._on_invalidation, channel=self.store.channel
            )
            self._listener_task = asyncio.create_task(self._listener.start())

    async def _background(self) -> None:
        while True:
            await self._tick()
            await asyncio.sleep(self.settings.state_poll_interval)

    async def _tick(self) -> None:
        """One round of the background task; each job fails on its own, never the loop."""
        await self._guarded("state sync", self.sync)
        now = self._clock()
        if now - self._last_maintenance >= _KEY_MAINTENANCE_EVERY:
            self._last_maintenance = now
            await self._guarded("key maintenance", self.maintain_keys)
        if now - self._last_purge >= self.settings.purge_expired_interval:
            self._last_purge = now
            await self._guarded("expired-row purge", self.purge_expired)

    async def _guarded(self, job: str, run: Callable[[], Awaitable[object]]) -> None:
        try:
            await run()
        except StoreUnavailable:
            self._mark_down()
        except Exception as exc:
            # Any other failure must not end the loop: the view would go stale for good.
            # The type only: a driver message may quote a URL, a password or a value.
            log.error("%s failed (%s); retrying", job, type(exc).__name__)

    async def purge_expired(self) -> int:
        """Delete refresh tokens, families and revoked jtis past every lifetime; rows deleted.

        Consumed tokens of a live family stay (they reveal a later replay); a revoked jti stays
        until its token's ``exp`` plus the verification leeway.
        """
        deleted = await self.store.purge_expired(self._clock())
        if deleted:
            log.info("purged %d expired store row(s)", deleted)
        return deleted

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
        await self.store.close()

    # -- verification ---------------------------------------------------------------------

    def verify(self, token: str) -> Principal:
        """Verify against the view this instance holds (no I/O).

        Without :meth:`start_background`, changes made by other processes are not seen here;
        use :meth:`verify_async` or start the loop.
        """
        return self.verifier.verify(token)

    async def verify_async(self, token: str) -> Principal:
        """The FastAPI dependency's entry point (same check; keys are local).

        Without the background loop, the view is first brought up to date when it is older
        than ``state_poll_interval`` (one store read); while that read fails, every token is
        refused (invariant 9).
        """
        due = self._clock() - self._last_poll >= self.settings.state_poll_interval
        if due and self._task is None:
            await self._poll_on_demand()
        return self.verifier.verify(token)

    async def _poll_on_demand(self) -> None:
        self._last_poll = self._clock()  # one poll per interval, however many requests wait
        try:
            await self.sync()
        except Exception as exc:
            # Fail closed until a poll succeeds: the view may miss a revocation or a purge.
            self.revocations.fresh_until = -math.inf
            if isinstance(exc, StoreUnavailable):
                self._mark_down()
            else:
                log.error("state sync failed (%s); refusing tokens", type(exc).__name__)

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
        introspect: bool = False,
    ) -> tuple[Client, str | None]:
        """Register a client. Returns it and, for a confidential client, its secret (shown once).

        The secret is stored as ``sha256$<hex>`` (:func:`hash_client_secret`): it is 256 random
        bits, so a slow KDF adds nothing but a CPU cost any caller could make us pay.
        ``introspect`` lets the client call the introspection endpoint (RFC 7662 §2.1); it
        needs ``confidential``. A client id that :func:`valid_client_id` refuses is an
        :class:`InvalidRequest` that does not repeat it.
        """
        if not valid_client_id(client_id):
            raise InvalidRequest("a client id is 1-64 of A-Z a-z 0-9 . _ ~ - and not usr_...")
        if introspect and not confidential:
            raise InvalidRequest("only a confidential client may introspect tokens")
        secret = "tvc_" + secrets.token_urlsafe(32) if confidential else None
        client = Client(
            client_id=client_id,
            name=name,
            secret_hash=hash_client_secret(secret) if secret else None,
            scopes=tuple(sorted(set(scopes))),
            grant_types=tuple(grant_types),
            dpop_bound=dpop_bound,
            created_at=self._clock(),
            may_introspect=introspect,
        )
        await self.store.add_client(client)
        return client, secret

    # -- grants (RFC 6749 §4.3, §6, §4.4) --------------------------------------------------

    async def password_grant(
        self,
        client: Client,
        username: str,
        password: str,
        scope: str | None,
        *,
        jkt: str | None = None,
    ) -> TokenResponse:
        """RFC 6749 §4.3; with ``jkt`` (a verified DPoP proof's key) the tokens are bound."""
        _require_grant(client, "password")
        _require_dpop(client, jkt)
        user = await self.store.get_user_by_username(username) if username else None
        ok = await verify_password(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            raise InvalidGrant("invalid username or password")
        granted = _grant_scopes(scope, (set(user.scopes) & set(client.scopes)) - CLIENT_ONLY_SCOPES)
        await self._catch_up()
        refresh, sid = None, None
        if "refresh_token" in client.grant_types:
            new = await self.refresh.start(
                sub=user.id, client_id=client.client_id, scope=granted, dpop_jkt=jkt
            )
            refresh, sid = new.token, new.family.id
        access = self.issuer.issue(
            sub=user.id, client_id=client.client_id, scope=granted, jkt=jkt, extra=self._sid(sid)
        )
        await self._event("token.issued", grant="password", sub=user.id, client_id=client.client_id)
        return TokenResponse(
            access.token, access.expires_in, access.scope, refresh, _token_type(jkt)
        )

    async def refresh_grant(
        self, client: Client, refresh_token: str, scope: str | None, *, jkt: str | None = None
    ) -> TokenResponse:
        """RFC 6749 §6. A DPoP-bound family rotates only with a proof by its key (RFC 9449 §5)."""
        _require_grant(client, "refresh_token")
        _require_dpop(client, jkt)
        # Every check that can fail runs before the token is consumed: a token burnt by a
        # failed request comes back from its honest owner as a "reuse" and takes its family
        # down (RFC 9700 §4.14). First the store: an outage fails here, token intact.
        await self._catch_up()
        granted: set[str] | None = None

        async def check(family: RefreshFamily) -> None:
            nonlocal granted
            granted = await self._refresh_scopes(family, client, scope)

        new = await self.refresh.rotate(
            refresh_token, client_id=client.client_id, dpop_jkt=jkt, before_consume=check
        )
        family = new.family
        if granted is None:
            # The token changed state between peek and consume (a race with another request);
            # the checks still hold, only after the fact.
            granted = await self._refresh_scopes(family, client, scope)
        access = self.issuer.issue(
            sub=family.sub,
            client_id=client.client_id,
            scope=granted,
            jkt=jkt,
            extra=self._sid(family.id),
        )
        return TokenResponse(
            access.token, access.expires_in, access.scope, new.token, _token_type(jkt)
        )

    async def _refresh_scopes(
        self, family: RefreshFamily, client: Client, requested: str | None
    ) -> set[str]:
        """The user behind ``family`` may still refresh; returns the scopes to grant."""
        user = await self.store.get_user(family.sub)
        if user is None:
            # The account is gone for good, and so is every session it had.
            await self.store.revoke_family(family.id, self._clock(), "user_gone")
            raise InvalidGrant()
        if user.disabled:
            # Refused while disabled; the family stays, so re-enabling the account restores
            # the session. The kill switch (--revoke-families USER) ends it for good.
            raise InvalidGrant()
        # RFC 6749 §6: a refresh may narrow the scope, never widen it; and never beyond what
        # the user and the client hold today: a scope withdrawn since the login is not
        # granted again.
        allowed = set(family.scope) & set(user.scopes) & set(client.scopes)
        return _grant_scopes(requested, allowed - CLIENT_ONLY_SCOPES)

    async def client_credentials_grant(
        self, client: Client, scope: str | None, *, jkt: str | None = None
    ) -> TokenResponse:
        _require_grant(client, "client_credentials")
        _require_dpop(client, jkt)
        if client.secret_hash is None:
            raise UnauthorizedClient("client_credentials needs a confidential client")
        granted = _grant_scopes(scope, set(client.scopes))
        await self._catch_up()
        access = self.issuer.issue(
            sub=client.client_id, client_id=client.client_id, scope=granted, jkt=jkt
        )
        return TokenResponse(
            access.token, access.expires_in, access.scope, token_type=_token_type(jkt)
        )

    def _sid(self, family_id: str | None) -> dict[str, object] | None:
        if family_id is None or not self.settings.monitoring:
            return None
        return {"sid": family_id}

    async def _catch_up(self) -> None:
        """Before signing, learn of any purge or key change made elsewhere (one read), so a
        token issued after a kill switch is signed by the new key and stamped past the cut-off."""
        await self.sync()

    # -- the kill switch ------------------------------------------------------------------

    async def purge(
        self,
        *,
        rotate_keys: bool = False,
        revoke_families: str | FamilySelection = "none",
        actor: str = "api",
    ) -> PurgeReport:
        """Kill switch: reject every access token issued until now, on every instance.

        ``rotate_keys``: emergency rotation, every existing key revoked and a new active and
        next key created. ``revoke_families``: ``none``, ``suspect`` (flagged by the monitor),
        ``unbound`` (not DPoP-bound), ``all``, or a login name. Clients whose family survives
        renew silently with their refresh token; the others must log in again. ``actor`` (``cli``,
        a client id) goes to the audit event.
        """
        selection = (
            revoke_families
            if isinstance(revoke_families, FamilySelection)
            else parse_families(revoke_families)
        )
        sub = None
        if selection.kind == "user":
            user = await self.store.get_user_by_username(selection.username or "")
            if user is None:
                raise InvalidRequest("no such user")
            sub = user.id
        # Before the first change: no instance can reject an old token because of this purge
        # (a revoked key, a revoked family, the cut-off) before this instant.
        started_at = self._clock()
        active_kid, keys_revoked = None, 0
        if rotate_keys:
            active_kid, keys_revoked = await self.keyring.emergency_rotate()
            self.verifier.forget()
            # Instances reload keys on this bump, before the cut-off below sends clients to
            # refresh: the tokens they get then are signed by the new key.
            await self.store.bump_state_version()
        families = await revoke_selected_families(self.store, selection, self._clock(), sub=sub)
        # The cut-off is taken last: a token issued while the purge ran is rejected too.
        cutoff = next_cutoff(self._clock(), await self.store.get_cutoff())
        await self.store.set_cutoff(cutoff)  # bumps the version and, with Redis, publishes
        self.revocations.cutoff = max(self.revocations.cutoff, cutoff)
        report = PurgeReport(
            cutoff=cutoff,
            families=selection.kind,
            families_revoked=families,
            keys_rotated=rotate_keys,
            keys_revoked=keys_revoked,
            active_kid=active_kid,
            started_at=started_at,
        )
        await self._event(
            "killswitch.purge",
            by=actor,
            families=selection.kind,
            families_revoked=families,
            keys_rotated=int(rotate_keys),
            keys_revoked=keys_revoked,
        )
        log.warning(
            "kill switch fired: cut-off set, %d key(s) revoked, %d refresh family(ies) revoked",
            keys_revoked,
            families,
        )
        return report

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
        """Reject this access token everywhere from the next sync on (here: immediately).

        Kept until ``expires_at`` plus the verification leeway: the verifier accepts a token
        up to ``leeway`` seconds past its ``exp``, and a revocation dropped at ``exp`` would let
        the revoked token back in for that long.
        """
        await self.store.revoke_jti(jti, expires_at + self.settings.leeway)
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
        answer: dict[str, object] = {
            "active": True,
            "scope": " ".join(sorted(p.scopes)),
            "client_id": p.client_id,
            "sub": p.sub,
            "exp": p.expires_at,
            "iat": p.issued_at,
            "token_type": _token_type(p.jkt),
        }
        if p.jkt is not None:
            answer["cnf"] = {"jkt": p.jkt}  # RFC 9449 §6.2
        return answer

    async def _event(self, kind: str, **details: str | int | float | None) -> None:
        await self.store.record_event(SecurityEvent(kind, self._clock(), details))


def _require_grant(client: Client, grant: str) -> None:
    if grant not in client.grant_types:
        raise UnauthorizedClient()


def _require_dpop(client: Client, jkt: str | None) -> None:
    # RFC 9449 §5: a client registered as DPoP-bound gets no token without a proof.
    if client.dpop_bound and jkt is None:
        raise InvalidDPoPProof("missing")


def _token_type(jkt: str | None) -> str:
    return "DPoP" if jkt is not None else "Bearer"  # RFC 9449 §5


def _grant_scopes(requested: str | None, allowed: set[str]) -> set[str]:
    if requested is None or not requested.strip():
        return allowed
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise InvalidScope()
    return wanted
