"""``TokenMonitor``: locate, pseudonymize, window, detect, respond, for each verified request."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from tokenveil.monitor._detectors import Anomaly, DetectorConfig, detect_anomalies
from tokenveil.monitor._geo import GeoInfo, GeoLookup
from tokenveil.monitor._metrics import MonitorMetrics
from tokenveil.monitor._policy import DENYING, Action, Policy, Responder, TokenUse
from tokenveil.monitor._pseudonym import Pseudonymizer
from tokenveil.monitor._window import UsageRecord, WindowStore

__all__ = ["Assessment", "TokenMonitor"]

_NO_GEO = GeoInfo()


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the monitor found for one request. ``deny`` is True when a response revoked the
    token, its family or the subject's sessions: the request itself should then be refused."""

    anomalies: tuple[Anomaly, ...] = ()
    actions: tuple[Action, ...] = ()
    deny: bool = False


class TokenMonitor:
    """Watches verified token uses for signs of theft and answers them per ``policy``.

    The same anomaly (kind and token, family or subject) is reported at most once per
    ``cooldown`` seconds per instance, so one stolen token does not fire on every request.
    Store failures (:class:`tokenveil.errors.StoreUnavailable`) propagate: the caller decides
    whether a request goes on without monitoring.
    """

    def __init__(
        self,
        *,
        windows: WindowStore,
        geo: GeoLookup,
        pseudonymizer: Pseudonymizer,
        detectors: DetectorConfig | None = None,
        policy: Policy | None = None,
        responder: Responder | None = None,
        metrics: MonitorMetrics | None = None,
        cooldown: float = 300.0,
        max_cooldown_keys: int = 10_000,
    ) -> None:
        self._windows = windows
        self._geo = geo
        self._pseudo = pseudonymizer
        self._detectors = detectors or DetectorConfig()
        self._policy = policy or Policy()
        self._responder = responder or Responder()
        self._metrics = metrics
        self._cooldown = cooldown
        self._max_cooldown_keys = max_cooldown_keys
        self._quiet_until: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __repr__(self) -> str:
        return f"TokenMonitor(windows={self._windows!r}, policy={self._policy!r})"

    def record(self, use: TokenUse, *, now: float) -> UsageRecord:
        """The stored form of a use: located, and with pseudonyms in place of personal data."""
        geo = self._geo.lookup(use.ip) if use.ip else _NO_GEO
        pseudo = self._pseudo
        return UsageRecord(
            jti=use.jti,
            family_id=use.family_id,
            sub=pseudo.subject(use.sub),
            ip=pseudo.ip(use.ip) if use.ip else None,
            country=geo.country,
            asn=geo.asn,
            user_agent=pseudo.user_agent(use.user_agent) if use.user_agent else None,
            at=now,
            lat=geo.lat,
            lon=geo.lon,
        )

    async def observe(self, use: TokenUse, *, now: float) -> Assessment:
        """Record one verified use, detect anomalies, run the policy's responses."""
        windows = await self._windows.append(self.record(use, now=now), now=now)
        fresh = [a for a in detect_anomalies(windows, self._detectors) if self._first(a, use, now)]
        if not fresh:
            return Assessment()
        done: list[Action] = []
        for anomaly in fresh:
            if self._metrics is not None:
                self._metrics.anomaly(anomaly.kind, anomaly.severity)
            actions = self._policy.actions_for(anomaly)
            done.extend(await self._responder.respond(anomaly, use, actions, now=now))
        return Assessment(tuple(fresh), tuple(done), deny=bool(DENYING.intersection(done)))

    def _first(self, anomaly: Anomaly, use: TokenUse, now: float) -> bool:
        if anomaly.kind == "burst":
            scope = f"s:{anomaly.subject_pseudonym}"
        elif anomaly.kind == "ip_spread" or not use.family_id:
            scope = f"j:{use.jti}"
        else:
            scope = f"f:{use.family_id}"
        key = (anomaly.kind, scope)
        until = self._quiet_until.get(key)
        if until is not None and until > now:
            return False
        self._quiet_until[key] = now + self._cooldown
        self._quiet_until.move_to_end(key)
        while len(self._quiet_until) > self._max_cooldown_keys:
            self._quiet_until.popitem(last=False)
        return True
