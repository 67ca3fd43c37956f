"""What every scan phase shares: the options, the target model, the driver and the clock."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin

from cryptography.hazmat.primitives.asymmetric import ec

from tokenveil.scan._checks import Observations
from tokenveil.scan._checks._base import protected_endpoints
from tokenveil.scan._driver import Driver
from tokenveil.scan._jose import ATTACKER_URL
from tokenveil.scan._model import Endpoint, Exchange, Target
from tokenveil.scan._options import ScanOptions

__all__ = ["Session"]


class Session:
    """State and helpers of one scan; the phase mixins (recon, probes) build on it."""

    options: ScanOptions
    target: Target
    driver: Driver | None
    notes: list[str]
    _clock: Callable[[], float]
    #: The attacker key of this scan (fresh each time, never stored) and, for loopback targets,
    #: the URLs where the scanner's key server publishes it for jku/x5u probes.
    _attacker: ec.EllipticCurvePrivateKey
    _key_urls: tuple[str, str] = (ATTACKER_URL, ATTACKER_URL)

    @property
    def _d(self) -> Driver:
        assert self.driver is not None
        return self.driver

    def _url(self, path: str) -> str:
        return urljoin(self.target.base_url + "/", path.lstrip("/"))

    async def _get(
        self, probe: str, endpoint: str, url: str, *, token: str | None = None, user: str = "user1"
    ) -> Exchange:
        return await self._d.send(probe, endpoint, "GET", url, headers=self._auth(token), user=user)

    def _auth(self, token: str | None) -> dict[str, str]:
        """How a token travels: the Authorization header, or the cookie the login set."""
        if token is None:
            return {}
        if self.target.auth_cookie:
            return {"Cookie": f"{self.target.auth_cookie}={token}"}
        return {"Authorization": f"Bearer {token}"}

    def _access(self, user: str = "user1") -> str | None:
        tokens = self.target.tokens.get(user)
        return tokens.access if tokens else None

    def _observations(self) -> Observations:
        return Observations(self.target, tuple(self._d.exchanges), self._clock())

    def _protected(self) -> list[Endpoint]:
        keys = protected_endpoints(self._observations())
        return [e for e in self.target.endpoints if e.key in keys and e.method == "GET"]
