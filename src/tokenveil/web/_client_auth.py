"""Client authentication and rate limits for the OAuth endpoints (RFC 6749 §2.3, §5.2).

:func:`authenticate` reads HTTP Basic (``client_secret_basic``, id and secret form-urlencoded
inside, §2.3.1) or ``client_id``/``client_secret`` in the form, never both. Unknown id,
malformed id or Basic header, public client presenting or lacking a required secret, wrong
secret: one code path, one constant-time comparison, one :class:`InvalidClient`. An argon2id
hash from an earlier version is replaced by the ``sha256$`` one after its first successful check.

:class:`RateLimiter` applies :class:`TokenRateLimits`: fixed windows counted in this process, or
in Redis with the scaled store, raising :class:`RateLimited` (``429 slow_down``).

:class:`FailureBudget` is one request's spend of the failed-authentication budgets. Before a
password grant's argon2 check it checks the failures of the caller's address; before every
client authentication that presents a secret, and before the client is even looked up, those
of the address and of the submitted client id, whether that id exists or not, refusing with
:class:`RateLimited` when a budget is spent. So the answer never depends on whether an id
exists or which kind of hash it holds. Nothing is held while argon2 runs (concurrent good
logins from one address are never refused); a failure is counted under the same keys when it
happens, and a request without a secret is counted against its address when it fails. The
per-client-id budget refuses only addresses that have failed in the window themselves, so
failures sent from many addresses cannot lock a legitimate client out.
A password grant likewise checks and counts the submitted username,
whether that user exists or not, under the same rule: password guessing against one user spread
over many addresses gets one check per address and window once the username's budget is spent,
while the user, from an address without failures of its own, still logs in. The username is
counted under a keyed pseudonym (HMAC-SHA256 under a key derived from the key-encryption key,
which every instance shares), never as itself. A request with no known address (a Unix socket,
no trusted forwarding header) counts against one shared "unknown" address (docs/store.md).

No exception, no log line and no counter key here holds a submitted secret, username, client
id or address (client ids, not personal data, are the keys of their own budget).
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import logging
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, NoReturn
from urllib.parse import unquote_plus

from fastapi import Request

from tokenveil._passwords import (
    client_secret_needs_rehash,
    hash_client_secret,
    verify_client_secret,
)
from tokenveil.defence import derived_key
from tokenveil.errors import (
    ConfigurationError,
    InvalidClient,
    InvalidRequest,
    OAuthError,
    StoreError,
)
from tokenveil.monitor import Pseudonymizer, client_ip
from tokenveil.service import TokenService
from tokenveil.store import Client
from tokenveil.store._protocols import valid_client_id
from tokenveil.store._ratelimit import Hit, MemoryRateCounter, RateCounter
from tokenveil.store.scaled import ScaledStore

__all__ = [
    "FROM_SETTINGS",
    "FailureBudget",
    "RateLimited",
    "RateLimiter",
    "TokenRateLimits",
    "authenticate",
]

# The endpoints' logger: these lines belong to them.
log = logging.getLogger("tokenveil.web.oauth")

_MAX_BASIC = 4096
Clock = Callable[[], float]


class _FromSettings(enum.Enum):
    SETTINGS = "settings"


#: A :class:`TokenRateLimits` failure budget left to the service's :class:`Settings`.
FROM_SETTINGS: Final = _FromSettings.SETTINGS
Budget = int | None | Literal[_FromSettings.SETTINGS]

#: The failure-budget address of every request whose address is not known: one shared key.
UNKNOWN_ADDRESS: Final = "unknown"
#: What the per-username budget's pseudonym key is derived for (:func:`derived_key`).
USERNAME_KEY_PURPOSE: Final = "failure-budget-usernames"


@dataclass(frozen=True, slots=True)
class TokenRateLimits:
    """OAuth endpoint requests allowed per fixed window of ``window`` seconds.

    ``per_ip`` counts every request to the token, revocation and introspection endpoints from
    one client address (an IPv6 address by its /64, which
    one host usually holds whole), before anything else is read; ``per_client`` counts the
    requests of one authenticated client, so an anonymous caller cannot spend a confidential
    client's budget. ``None`` turns a limit off. Behind a reverse proxy, set the server's
    ``trusted_proxies``, or every caller shares the proxy's address.

    ``failures_per_ip``, ``failures_per_client`` and ``failures_per_username`` are the
    failed-authentication budgets of :class:`FailureBudget`, counted in the same windows; by
    default they come from the service's settings (``token_rate_failures_per_address``,
    ``token_rate_failures_per_client``, ``token_rate_failures_per_username``).
    """

    window: float = 10.0
    per_ip: int | None = 200
    per_client: int | None = 1000
    failures_per_ip: Budget = FROM_SETTINGS
    failures_per_client: Budget = FROM_SETTINGS
    failures_per_username: Budget = FROM_SETTINGS


class RateLimited(OAuthError):
    """Too many requests; retry after the window ends."""

    # Registered for token endpoint answers in the IANA OAuth Extensions Error Registry
    # (RFC 8628 §3.5); RFC 6749 itself defines no rate-limit error.
    code = "slow_down"
    status_code = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__()


class RateLimiter:
    """Counts requests against :class:`TokenRateLimits`; one counter per service unless
    ``rate_counter`` says where counts live."""

    def __init__(
        self, limits: TokenRateLimits, rate_counter: RateCounter | None, clock: Clock = time.time
    ) -> None:
        self.limits = limits
        self._fixed = rate_counter
        self._clock = clock
        self._counters: weakref.WeakKeyDictionary[TokenService, RateCounter] = (
            weakref.WeakKeyDictionary()
        )
        self._pseudonymizers: weakref.WeakKeyDictionary[TokenService, Pseudonymizer] = (
            weakref.WeakKeyDictionary()
        )

    async def address(self, request: Request, service: TokenService) -> None:
        """Spend one request of the caller's address; :class:`RateLimited` past the limit."""
        # One budget per address across the three endpoints that take client credentials:
        # revocation and introspection guess secrets as well as the token endpoint does.
        address = _address_key(request, service)
        if address is not None:
            await self._limit(service, "ip", address, self.limits.per_ip)

    async def client(self, service: TokenService, client_id: str) -> None:
        """Spend one request of an authenticated client."""
        await self._limit(service, "client", client_id, self.limits.per_client)

    def failures(self, request: Request, service: TokenService) -> FailureBudget:
        """The failed-authentication budgets of this request's caller."""
        settings = service.settings
        per_ip, per_client = self.limits.failures_per_ip, self.limits.failures_per_client
        per_user = self.limits.failures_per_username
        return FailureBudget(
            self._counter(service),
            _address_key(request, service) or UNKNOWN_ADDRESS,
            settings.token_rate_failures_per_address if per_ip is FROM_SETTINGS else per_ip,
            settings.token_rate_failures_per_client if per_client is FROM_SETTINGS else per_client,
            self._clock,
            per_username=(
                settings.token_rate_failures_per_username if per_user is FROM_SETTINGS else per_user
            ),
            pseudonymizer=self._pseudonymizer(service),
        )

    def _pseudonymizer(self, service: TokenService) -> Pseudonymizer:
        """The per-username budget's keyed pseudonyms: the same on every instance sharing the
        key-encryption key, so the scaled store's instances count one username under one key."""
        found = self._pseudonymizers.get(service)
        if found is None:
            try:
                key = derived_key(service.settings, USERNAME_KEY_PURPOSE)
            except ConfigurationError:  # a service built without a readable KEK: this process
                key = secrets.token_bytes(32)
                if isinstance(service.store, ScaledStore):
                    log.warning(
                        "no key-encryption key: each instance counts failed password grants "
                        "per username on its own"
                    )
            found = Pseudonymizer(key)
            self._pseudonymizers[service] = found
        return found

    def _counter(self, service: TokenService) -> RateCounter:
        if self._fixed is not None:
            return self._fixed
        found = self._counters.get(service)
        if found is None:
            found = _default_counter(service, self.limits.window)
            self._counters[service] = found
        return found

    async def _limit(self, service: TokenService, kind: str, key: str, allowed: int | None) -> None:
        if allowed is None:
            return
        hit = await self._counter(service).hit(f"{kind}:{key}", now=self._clock())
        if hit.count > allowed:
            if hit.count == allowed + 1:  # once per key and window: a flood is not a log flood
                log.warning("token endpoint rate limit reached (per %s)", kind)
            raise RateLimited(hit.retry_after)


class FailureBudget:
    """One request's spend of the failed-authentication budgets (see the module docstring).

    Use :meth:`reserve` before an argon2 check (it reads every budget without counting and
    refuses when one is spent), then :meth:`failed` when the credentials were wrong (it
    counts the failure under the same keys; with no check before, a cheap failure against the
    address). A success spends nothing.

    Nothing is reserved while argon2 runs: a reservation held across the check would cap the
    number of concurrent logins from one address (a NAT, a backend-for-frontend) at the budget,
    refusing users whose credentials are right. The price is a bounded overshoot: attempts that
    pass the check together and then fail are all counted, past the budget by at most their
    number, itself capped by the per-address request limit.
    """

    def __init__(
        self,
        counter: RateCounter,
        address: str,
        per_ip: int | None,
        per_client: int | None,
        clock: Clock,
        *,
        per_username: int | None = None,
        pseudonymizer: Pseudonymizer | None = None,
    ) -> None:
        self._counter = counter
        self._address = address
        self._per_ip = per_ip
        self._per_client = per_client
        self._per_username = per_username
        self._pseudonymizer = pseudonymizer or Pseudonymizer()
        self._clock = clock
        #: (key, kind, budget) a failure of this request is counted under, set by :meth:`reserve`.
        self._failure_keys: list[tuple[str, str, int]] = []

    def __repr__(self) -> str:
        return f"FailureBudget(checked={len(self._failure_keys)})"  # never the address or id

    async def reserve(self, client_id: str | None = None, *, username: str | None = None) -> None:
        """Check the budgets before a credential check (read, not counted); :class:`RateLimited`
        when one is spent.

        ``client_id`` is the submitted client id, ``username`` the submitted username (a password
        grant), existing or not: their own budgets apply too, but only to addresses that have
        failed in this window. A username is counted under its keyed pseudonym only.
        """
        now = self._clock()
        self._failure_keys = []
        clean = False  # an address not limited gets no exemption
        if self._per_ip is not None:
            seen = await self._check(f"fail-ip:{self._address}", "address", self._per_ip, now)
            if seen.count >= self._per_ip:
                self._refuse(seen)
            clean = seen.count == 0  # no failure of its own in this window
        if client_id is not None and self._per_client is not None:
            seen = await self._check(f"fail-client:{client_id}", "client", self._per_client, now)
            if seen.count >= self._per_client and not clean:
                self._refuse(seen)
        if username is not None and self._per_username is not None:
            # Never the username itself: a keyed pseudonym, so Redis keys, memory keys and
            # dumps of either hold no personal data (and cannot be reversed by guessing).
            user_key = self._pseudonymizer.pseudonym("failure-budget-username", username)
            seen = await self._check(f"fail-user:{user_key}", "username", self._per_username, now)
            if seen.count >= self._per_username and not clean:
                self._refuse(seen)

    async def failed(self) -> None:
        """The credentials were wrong: count the failure under the keys checked before it (or,
        with no check before, against the address); the failure that spends a budget is
        logged (once per key and window)."""
        now = self._clock()
        checked, self._failure_keys = self._failure_keys, []
        if not checked and self._per_ip is not None:
            checked = [(f"fail-ip:{self._address}", "address", self._per_ip)]
        for key, kind, allowed in checked:
            if (await self._counter.hit(key, now=now)).count == allowed:
                log.warning("failed-authentication budget spent (per %s)", kind)

    async def _check(self, key: str, kind: str, allowed: int, now: float) -> Hit:
        self._failure_keys.append((key, kind, allowed))
        return await self._counter.peek(key, now=now)

    def _refuse(self, seen: Hit) -> NoReturn:
        self._failure_keys = []  # a refused attempt checks nothing, so it counts nothing
        raise RateLimited(seen.retry_after)


def _default_counter(service: TokenService, window: float) -> RateCounter:
    if isinstance(service.store, ScaledStore):
        from tokenveil.store.redis import RedisRateCounter

        return RedisRateCounter(service.store.redis, window, prefix=service.store.prefix)
    return MemoryRateCounter(window)


def _address_key(request: Request, service: TokenService) -> str | None:
    """The caller's address as a rate-limit key; an IPv6 address stands for its /64."""
    peer = request.client.host if request.client else None
    found = client_ip(request.scope, peer, service.settings.trusted_proxies)
    if found is None:
        return None
    try:
        ip = ipaddress.ip_address(found)
    except ValueError:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """The client id and secret, from HTTP Basic or from the form (RFC 6749 §2.3.1)."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return client_id, secret or None
    if secret is not None:
        raise InvalidRequest()  # §2.3: a client MUST NOT use more than one method per request
    value = value.strip()
    try:
        if len(value) > _MAX_BASIC:
            raise ValueError
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # bad base64, bad UTF-8, non-ASCII header: say nothing of which
        raise InvalidClient() from None
    basic_id, sep, basic_secret = decoded.partition(":")
    if not sep:
        raise InvalidClient()
    # §2.3.1: both are form-urlencoded before being joined, so "+" is a space and ":" is %3A.
    basic_id, basic_secret = unquote_plus(basic_id), unquote_plus(basic_secret)
    if client_id is not None and client_id != basic_id:
        raise InvalidRequest()  # two different client ids in one request
    return basic_id, basic_secret or None


async def authenticate(
    request: Request,
    service: TokenService,
    form: dict[str, str],
    *,
    require_secret: bool = False,
    failures: FailureBudget | None = None,
) -> Client:
    """The request's client, authenticated from HTTP Basic or the form (RFC 6749 §2.3).

    With ``failures``, a failure spends the caller's failed-authentication budget: a presented
    secret is checked, and the client looked up, only after the address's and the submitted
    id's budgets were checked (:class:`FailureBudget`), the same whatever the id.
    """
    client_id, secret = _credentials(request, form)
    if failures is None:
        return await _authenticate_client(service, client_id, secret, require_secret=require_secret)
    try:
        if secret is not None:
            # Before the lookup: the answer (429 or not) must not tell whether the id exists.
            await failures.reserve(client_id if client_id and valid_client_id(client_id) else None)
        return await _authenticate_client(service, client_id, secret, require_secret=require_secret)
    except InvalidClient:
        await failures.failed()
        raise


async def _authenticate_client(
    service: TokenService,
    client_id: str | None,
    secret: str | None,
    *,
    require_secret: bool = False,
) -> Client:
    """RFC 6749 §2.3 and §5.2: the client, or :class:`InvalidClient`, the same for every failure.

    Unknown or malformed id, public client with a secret (or without one when ``require_secret``),
    confidential client without or with a wrong secret: each runs one hash and one constant-time
    comparison and raises the same error.
    """
    known = client_id is not None and valid_client_id(client_id)
    client = await service.store.get_client(client_id) if known and client_id else None
    stored = client.secret_hash if client is not None else None
    # Without a secret there is nothing to check: never run argon2 (reserved only for a secret).
    matched = await verify_client_secret(stored if secret is not None else None, secret or "")
    if client is None:
        raise InvalidClient()
    if stored is None:
        if secret is not None or require_secret:
            raise InvalidClient()
        return client
    if secret is None or not matched:
        raise InvalidClient()
    if client_secret_needs_rehash(stored):
        await _rehash(service, client, stored, secret)
    return client


async def _rehash(service: TokenService, client: Client, old_hash: str, secret: str) -> None:
    """Replace an earlier version's argon2id hash by the SHA-256 one, once; best effort.

    Compare-and-set on the hash alone: ``client`` was read before the slow argon2 check, and an
    administrator may have rotated the secret (or changed scopes, may_introspect) meanwhile.
    Writing the whole client back would undo that and keep the old, maybe leaked, secret alive.
    """
    try:
        await service.store.replace_client_secret(
            client.client_id, old_hash, hash_client_secret(secret)
        )
    except StoreError:
        log.warning("could not upgrade a client secret hash; will retry on its next use")
