"""``harden(app)``: every PII-safe edge control installed on a FastAPI app, in the right order.

Request path, outermost first::

    TransportSecurity   HTTPS only, no token in the URL, no-store / HSTS / nosniff headers
    ErrorBoundary       any crash → generic 500 + one scrubbed log line
    CSRFProtection      cookie-authenticated writes must be same-origin
    EgressFilter        undeclared PII in response bodies: monitor / mask / block
    (FastAPI)           exception handlers → generic errors; routes → field policy (Present)

Transport is outermost so that even refusals and 500s get its headers; the egress filter is
inside the error boundary and outside the exception handlers, so it sees every body a handler
produced, error bodies included. Call ``harden`` after the routers are included: routes that
return PII models without :data:`tokenveil.web.fields.Present` are refused at that point.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Literal

from fastapi import FastAPI

from tokenveil import logs
from tokenveil.errors import ConfigurationError
from tokenveil.store._protocols import SecurityEvent
from tokenveil.web.egress import EgressFilter, EgressMode
from tokenveil.web.errors import ErrorBoundary, install_error_handlers
from tokenveil.web.fields import FieldPolicy, routes_missing_presenter, use_field_policy
from tokenveil.web.transport import TOKENVEIL_COOKIES, CSRFProtection, TransportSecurity

__all__ = ["UnpresentedPIIWarning", "harden"]

_MARK = "tokenveil_hardened"


class UnpresentedPIIWarning(UserWarning):
    """A route returns a PII-annotated model without going through the field policy."""


def harden(
    app: FastAPI,
    *,
    egress_mode: EgressMode = "mask",
    egress_routes: Mapping[str, EgressMode] | None = None,
    egress_ignore_kinds: Iterable[str] = (),
    audit: Callable[[SecurityEvent], Awaitable[None]] | None = None,
    field_policy: FieldPolicy | None = None,
    development: bool = False,
    trusted_proxies: Iterable[str] = (),
    token_paths: Iterable[str] = ("/oauth/token", "/oauth/revoke", "/oauth/introspect"),
    auth_cookie_names: Iterable[str] = TOKENVEIL_COOKIES,
    csrf_allowed_origins: Iterable[str] = (),
    install_logging: bool = True,
    check_routes: Literal["error", "warn", "off"] = "error",
) -> None:
    """Install transport rules, error handlers, CSRF check, egress filter, field policy, logs.

    ``audit`` receives ``pii.reveal`` and ``pii.egress`` security events (in the server:
    ``store.record_event``); without it, reveals are never approved. ``development`` allows
    plain HTTP from loopback clients only. Idempotent.
    """
    if getattr(app.state, _MARK, False):
        return
    token_paths = tuple(token_paths)
    cookies = tuple(auth_cookie_names)

    if check_routes != "off":
        missing = routes_missing_presenter(app)
        if missing:
            message = "routes return PII models without Present: " + ", ".join(missing)
            if check_routes == "error":
                raise ConfigurationError(message)
            warnings.warn(message, UnpresentedPIIWarning, stacklevel=2)

    if install_logging:
        logs.install()
    use_field_policy(app, field_policy or FieldPolicy(audit=audit))
    install_error_handlers(app)
    # add_middleware puts each new layer outside the previous ones: innermost first.
    app.add_middleware(
        EgressFilter,
        mode=egress_mode,
        routes=egress_routes,
        ignore_kinds=egress_ignore_kinds,
        # Only the endpoint that issues tokens may return them (not revoke or introspect).
        token_paths=tuple(p for p in token_paths if p.endswith("/token")),
        audit=audit,
    )
    app.add_middleware(
        CSRFProtection, auth_cookie_names=cookies, allowed_origins=csrf_allowed_origins
    )
    app.add_middleware(ErrorBoundary)
    app.add_middleware(
        TransportSecurity,
        development=development,
        trusted_proxies=trusted_proxies,
        token_paths=token_paths,
        auth_cookie_names=cookies,
    )
    setattr(app.state, _MARK, True)
