"""What to do about an anomaly: a policy maps each kind to actions, a responder carries them out.

The actions are injected async callables, so this module does no I/O of its own except the
webhook, which goes through an injected ``httpx.AsyncClient``. The server wires
``revoke_token`` to ``RevocationStore.revoke_jti``, ``revoke_family`` to
``RefreshStore.revoke_family`` and ``record_event`` to ``AuditStore.record_event``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final, Literal, get_args

import httpx

from tokenveil.errors import ConfigurationError
from tokenveil.monitor._detectors import Anomaly
from tokenveil.store._protocols import EventValue, SecurityEvent

__all__ = [
    "ACTIONS",
    "Action",
    "Policy",
    "Responder",
    "TokenUse",
    "WebhookSender",
]

_log = logging.getLogger("tokenveil.monitor")

Action = Literal[
    "record_event", "webhook", "revoke_token", "revoke_family", "require_reauth", "mark_suspect"
]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
#: Actions after which the request that triggered them should be refused too.
DENYING: Final = frozenset({"revoke_token", "revoke_family", "require_reauth"})
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class TokenUse:
    """One verified request, as the monitor is told of it. ``ip`` and ``user_agent`` are only
    read to locate and pseudonymize; they are never stored or repeated."""

    jti: str
    sub: str
    expires_at: float
    family_id: str | None = None
    ip: str | None = field(default=None, repr=False)
    user_agent: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Policy:
    """Anomaly kind → actions. Kinds not listed get ``default``."""

    actions: Mapping[str, tuple[Action, ...]] = field(
        default_factory=lambda: {
            "impossible_travel": ("record_event", "webhook", "revoke_family"),
            "concurrent_family_use": ("record_event", "webhook", "revoke_family"),
            "ip_spread": ("record_event", "revoke_token", "mark_suspect"),
            "burst": ("record_event", "mark_suspect"),
        }
    )
    default: tuple[Action, ...] = ("record_event",)

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Iterable[str]], *, default: Iterable[str] = ("record_event",)
    ) -> Policy:
        """Build from plain config (``{"burst": ["record_event", "webhook"]}``), validated."""
        return cls(
            {kind: _actions(kind, acts) for kind, acts in mapping.items()},
            _actions("default", default),
        )

    def actions_for(self, anomaly: Anomaly) -> tuple[Action, ...]:
        return self.actions.get(anomaly.kind, self.default)


def _actions(kind: str, names: Iterable[str]) -> tuple[Action, ...]:
    out: list[Action] = []
    for name in names:
        if name not in ACTIONS:
            raise ConfigurationError(
                f"monitor policy for {kind!r}: unknown action {name!r} "
                f"(one of {', '.join(ACTIONS)})"
            )
        out.append(name)
    return tuple(out)


class WebhookSender:
    """POSTs anomaly reports as JSON to one URL, signed with HMAC-SHA256 when a secret is set.

    The signature header is ``X-Tokenveil-Signature: sha256=<hex of HMAC(secret, body)>``, so the
    receiver can check the report came from us. The URL is not shown in ``repr`` (it may hold a
    token of the receiving service).
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        secret: bytes | None = None,
        timeout: float = 3.0,
    ) -> None:
        parsed = httpx.URL(url)
        loopback = parsed.scheme == "http" and parsed.host in _LOOPBACK
        if parsed.scheme != "https" and not loopback:
            # Invariant 8: reports carry pseudonyms only, but still never over plain HTTP.
            raise ConfigurationError("the monitor webhook URL must use https")
        self._url = url
        self._client = client
        self._secret = secret
        self._timeout = timeout

    def __repr__(self) -> str:
        return "WebhookSender(url=***)"

    async def send(self, payload: Mapping[str, object]) -> None:
        """Raises ``httpx.HTTPError`` when the receiver is unreachable or answers non-2xx."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            mac = hmac.new(self._secret, body, sha256).hexdigest()
            headers["X-Tokenveil-Signature"] = f"sha256={mac}"
        response = await self._client.post(
            self._url, content=body, headers=headers, timeout=self._timeout
        )
        response.raise_for_status()


RecordEvent = Callable[[SecurityEvent], Awaitable[None]]
RevokeToken = Callable[[str, float], Awaitable[None]]
RevokeFamily = Callable[[str, str], Awaitable[None]]
RequireReauth = Callable[[str], Awaitable[None]]
MarkSuspect = Callable[[str], Awaitable[None]]
ActionObserver = Callable[[str, str], None]


class Responder:
    """Runs a policy's actions for one anomaly. Actions not wired are skipped (and reported).

    - ``revoke_token(jti, expires_at)``
    - ``revoke_family(family_id, reason)``
    - ``require_reauth(sub)``: e.g. revoke every refresh family of the subject
    - ``mark_suspect(family_id)``: flag the family (``RefreshStore.mark_suspect``), so
      ``killswitch purge --revoke-families suspect`` can revoke it later
    - ``record_event(SecurityEvent)``
    - ``webhook``: a :class:`WebhookSender`

    One failing action never stops the others; failures are logged by action and error type only.
    ``on_action(action, outcome)`` (outcome ``ok``, ``error`` or ``skipped``) feeds metrics.
    """

    def __init__(
        self,
        *,
        record_event: RecordEvent | None = None,
        revoke_token: RevokeToken | None = None,
        revoke_family: RevokeFamily | None = None,
        require_reauth: RequireReauth | None = None,
        mark_suspect: MarkSuspect | None = None,
        webhook: WebhookSender | None = None,
        on_action: ActionObserver | None = None,
    ) -> None:
        self._record_event = record_event
        self._revoke_token = revoke_token
        self._revoke_family = revoke_family
        self._require_reauth = require_reauth
        self._mark_suspect = mark_suspect
        self._webhook = webhook
        self._on_action = on_action

    async def respond(
        self, anomaly: Anomaly, use: TokenUse, actions: tuple[Action, ...], *, now: float
    ) -> tuple[Action, ...]:
        """Run ``actions``; returns those that succeeded."""
        details: dict[str, EventValue] = {
            "severity": anomaly.severity,
            "subject": anomaly.subject_pseudonym,
            "family_id": use.family_id,
            "actions": ",".join(actions),
            **anomaly.details,
        }
        planned = [(name, self._call(name, anomaly, use, details, now)) for name in actions]
        runnable = [(name, call) for name, call in planned if call is not None]
        for name, call in planned:
            if call is None:
                self._observe(name, "skipped")
        results = await asyncio.gather(*(call for _, call in runnable), return_exceptions=True)
        done: list[Action] = []
        for (name, _), result in zip(runnable, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                # The type only: a foreign error message may quote a URL or a value.
                _log.warning(
                    "monitor action %s failed for %s: %s", name, anomaly.kind, type(result).__name__
                )
                self._observe(name, "error")
            else:
                done.append(name)
                self._observe(name, "ok")
        return tuple(done)

    def _call(
        self,
        name: Action,
        anomaly: Anomaly,
        use: TokenUse,
        details: Mapping[str, EventValue],
        now: float,
    ) -> Awaitable[None] | None:
        reason = f"monitor:{anomaly.kind}"
        if name == "record_event" and self._record_event:
            return self._record_event(SecurityEvent(f"anomaly.{anomaly.kind}", now, details))
        if name == "revoke_token" and self._revoke_token:
            return self._revoke_token(use.jti, use.expires_at)
        if name == "revoke_family" and self._revoke_family and use.family_id:
            return self._revoke_family(use.family_id, reason)
        if name == "require_reauth" and self._require_reauth:
            return self._require_reauth(use.sub)
        if name == "mark_suspect" and self._mark_suspect and use.family_id:
            return self._mark_suspect(use.family_id)
        if name == "webhook" and self._webhook:
            payload = {"type": "tokenveil.anomaly", "kind": anomaly.kind, "at": now, **details}
            return self._webhook.send(payload)
        return None

    def _observe(self, action: str, outcome: str) -> None:
        if self._on_action is not None:
            self._on_action(action, outcome)
