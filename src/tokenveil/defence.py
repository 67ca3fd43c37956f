"""The stolen-token defences of one server instance: DPoP proofs, token-use monitoring, metrics.

:class:`Defence` adapts :mod:`tokenveil.dpop` and :mod:`tokenveil.monitor` to the server: it
knows the public base URL (``settings.issuer``, so ``htu`` survives TLS-terminating proxies,
RFC 9449 §4.3 check 9), the replay cache (in memory, or Redis shared by every instance), the
optional server nonces (§8, §9), and the monitor with its actions wired to the token service.
The HTTP edge (:mod:`tokenveil.web.deps`, :mod:`tokenveil.web.oauth`) calls it; it does no HTTP
of its own.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from tokenveil._principal import Principal
from tokenveil.config import Settings
from tokenveil.dpop import (
    DPoPProof,
    InMemoryReplayCache,
    NonceManager,
    ReplayCache,
    check_binding,
    verify_proof,
)
from tokenveil.dpop._errors import DPoPBindingMismatch, InvalidDPoPProof
from tokenveil.errors import ConfigurationError, StoreUnavailable
from tokenveil.keys._b64 import b64url_decode
from tokenveil.monitor import MonitorMetrics, TokenMonitor, TokenUse, client_ip
from tokenveil.store import Store

if TYPE_CHECKING:
    from tokenveil.store.redis import Redis

__all__ = ["TOKEN_PATH", "Defence", "DefenceHost", "build_defence"]

_log = logging.getLogger("tokenveil.defence")
TOKEN_PATH = "/oauth/token"
Clock = Callable[[], float]
MarkSuspect = Callable[[str], Awaitable[None]]
RevokeAccess = Callable[[str, float], Awaitable[None]]


class Defence:
    """DPoP checks, token-use monitoring and the Prometheus registry of one instance."""

    def __init__(
        self,
        *,
        base_url: str,
        replay: ReplayCache | None = None,
        nonces: NonceManager | None = None,
        monitor: TokenMonitor | None = None,
        metrics: MonitorMetrics | None = None,
        trusted_proxies: tuple[str, ...] = (),
        mark_suspect: MarkSuspect | None = None,
        revoke_access: RevokeAccess | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.replay: ReplayCache = replay if replay is not None else InMemoryReplayCache()
        self.nonces = nonces
        self.monitor = monitor
        self.metrics = metrics or MonitorMetrics(CollectorRegistry())
        self._trusted = trusted_proxies
        self._mark_suspect = mark_suspect
        self._revoke_access = revoke_access
        self._clock = clock
        self._monitor_down = False

    def __repr__(self) -> str:
        return f"Defence(nonces={self.nonces is not None}, monitor={self.monitor is not None})"

    # -- DPoP (RFC 9449) ----------------------------------------------------------------------

    def nonce(self) -> str | None:
        """A fresh server nonce for ``DPoP-Nonce``, when nonces are on."""
        return self.nonces.issue(self._clock()) if self.nonces is not None else None

    async def token_proof(self, proof: str | None) -> DPoPProof | None:
        """§5: the proof sent to the token endpoint, verified; None when there is none."""
        if proof is None:
            return None
        return await verify_proof(
            proof,
            htm="POST",
            htu=self.base_url + TOKEN_PATH,
            now=self._clock(),
            access_token=None,
            nonce=self.nonces,
            replay=self.replay,
        )

    async def resource_proof(
        self, proof: str | None, principal: Principal, *, method: str, path: str, token: str
    ) -> DPoPProof:
        """§7.1: a request made with ``Authorization: DPoP``: the proof, ``ath`` and binding."""
        if principal.jkt is None:
            # An unbound token under the DPoP scheme: nothing to prove possession of.
            raise DPoPBindingMismatch()
        if proof is None:
            raise InvalidDPoPProof("missing")
        verified = await verify_proof(
            proof,
            htm=method,
            htu=self.base_url + path,
            now=self._clock(),
            access_token=token,
            nonce=self.nonces,
            replay=self.replay,
        )
        check_binding(principal.jkt, verified)
        return verified

    # -- monitoring -----------------------------------------------------------------------------

    async def observe(self, principal: Principal, scope: Mapping[str, Any]) -> bool:
        """Feed one verified use to the monitor. True when the request must be refused."""
        monitor = self.monitor
        if monitor is None:
            return False
        client = scope.get("client")
        peer = client[0] if client else None
        headers = dict(scope.get("headers") or ())
        agent = headers.get(b"user-agent")
        sid = principal.claims.get("sid")
        use = TokenUse(
            jti=principal.jti,
            sub=principal.sub,
            expires_at=principal.expires_at,
            family_id=sid if isinstance(sid, str) else None,
            ip=client_ip(scope, peer, self._trusted),
            user_agent=agent.decode("latin-1") if agent else None,
        )
        try:
            assessment = await monitor.observe(use, now=self._clock())
        except StoreUnavailable:
            # Monitoring is advisory: verification already passed against a fresh revocation
            # view (which itself fails closed when the store is gone). Say so once per outage.
            if not self._monitor_down:
                _log.error("monitor windows unreachable; requests go on unmonitored")
                self._monitor_down = True
            return False
        if self._monitor_down:
            _log.warning("monitor windows reachable again")
            self._monitor_down = False
        family_signs = [a for a in assessment.anomalies if a.kind != "burst"]
        if family_signs and use.family_id and self._mark_suspect is not None:
            # Flagged families are what `killswitch purge --revoke-families suspect` revokes. A
            # burst is about the subject's volume, not a sign that this login was stolen.
            try:
                await self._mark_suspect(use.family_id)
            except StoreUnavailable:
                _log.error("could not flag a suspect refresh family: store unreachable")
        revoke = self._revoke_access
        if assessment.deny and "revoke_token" not in assessment.actions and revoke is not None:
            # The family or the sessions are gone; the access token in hand must die with them,
            # not live on until it expires.
            try:
                await revoke(principal.jti, principal.expires_at)
            except StoreUnavailable:
                _log.error("could not revoke a denied access token: store unreachable")
        return assessment.deny


class DefenceHost(Protocol):
    """What the monitor's actions need from the token service."""

    store: Store

    async def revoke_access(self, jti: str, expires_at: float) -> None: ...


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` derived from the key-encryption key.

    Every instance of a deployment shares the KEK (it must decrypt the shared signing keys), so
    keys derived from it agree across instances with no extra secret to distribute: DPoP nonces
    minted by one instance verify on another, and pseudonyms match in shared monitor windows.
    HMAC with a purpose label keeps the derived keys independent of the KEK and of each other.
    """
    try:
        raw = settings.kek or settings.kek_path.read_text("ascii")
        kek = b64url_decode(raw.strip())
    except (OSError, ValueError) as exc:
        raise ConfigurationError("the key-encryption key cannot be read") from exc
    return hmac.new(kek, b"tokenveil derived key\x00" + purpose.encode(), sha256).digest()


def build_defence(
    settings: Settings,
    host: DefenceHost,
    *,
    redis: Redis | None = None,
    clock: Clock = time.time,
) -> Defence:
    """The defences ``settings`` ask for, with shared state in Redis when ``redis`` is given."""
    metrics = MonitorMetrics(CollectorRegistry())
    replay: ReplayCache
    if redis is not None:
        from tokenveil.store.redis import RedisReplayCache

        replay = RedisReplayCache(redis, prefix=settings.redis_prefix)
    else:
        replay = InMemoryReplayCache()
    nonces = NonceManager(derived_key(settings, "dpop-nonce")) if settings.dpop_nonces else None
    monitor = _monitor(settings, host, metrics, redis, clock) if settings.monitoring else None
    return Defence(
        base_url=settings.issuer,
        replay=replay,
        nonces=nonces,
        monitor=monitor,
        metrics=metrics,
        trusted_proxies=settings.trusted_proxies,
        mark_suspect=host.store.mark_suspect,
        revoke_access=host.revoke_access,
        clock=clock,
    )


def _monitor(
    settings: Settings,
    host: DefenceHost,
    metrics: MonitorMetrics,
    redis: Redis | None,
    clock: Clock,
) -> TokenMonitor:
    from tokenveil.monitor import (
        GeoIP2FastLookup,
        InMemoryWindowStore,
        Pseudonymizer,
        Responder,
        WindowStore,
    )

    store = host.store
    windows: WindowStore
    if redis is not None:
        from tokenveil.store.redis import RedisWindowStore

        windows = RedisWindowStore(redis, prefix=settings.redis_prefix)
    else:
        windows = InMemoryWindowStore()

    async def revoke_family(family_id: str, reason: str) -> None:
        await store.mark_suspect(family_id)
        await store.revoke_family(family_id, clock(), reason)

    async def require_reauth(sub: str) -> None:
        await store.revoke_families(clock(), "monitor:reauth", sub=sub)

    responder = Responder(
        record_event=store.record_event,
        revoke_token=host.revoke_access,
        revoke_family=revoke_family,
        require_reauth=require_reauth,
        on_action=metrics.action,
    )
    return TokenMonitor(
        windows=windows,
        geo=GeoIP2FastLookup(),
        pseudonymizer=Pseudonymizer(derived_key(settings, "monitor-pseudonyms")),
        responder=responder,
        metrics=metrics,
    )
