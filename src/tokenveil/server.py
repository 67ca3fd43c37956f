"""The runnable token server: ``create_app(settings)`` builds the FastAPI app ``serve`` runs.

It mounts the OAuth endpoints, the JWKS and metadata, and the demo API, and keeps the
:class:`TokenService` in step with the store in the background (key rotation on schedule,
revocations and key changes made by the CLI or by other instances).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tokenveil.config import Settings
from tokenveil.demo import DEMO_SCOPES, demo_router
from tokenveil.errors import StoreError
from tokenveil.service import TokenService
from tokenveil.store import SecurityEvent, Store
from tokenveil.web.deps import Authenticator
from tokenveil.web.harden import harden
from tokenveil.web.oauth import oauth_router

__all__ = ["DEMO_CLIENT_ID", "create_app", "ensure_demo_client"]

DEMO_CLIENT_ID = "tokenveil-demo"


async def ensure_demo_client(service: TokenService) -> None:
    """The public first-party client the quick start uses (password + refresh grants)."""
    if await service.store.get_client(DEMO_CLIENT_ID) is None:
        with contextlib.suppress(StoreError):  # another instance may have created it first
            await service.add_client(
                DEMO_CLIENT_ID,
                name="tokenveil demo (public, first-party)",
                scopes=DEMO_SCOPES,
            )


def create_app(
    settings: Settings | None = None, *, store: Store | None = None, background: bool = True
) -> FastAPI:
    """The token server with the demo API. ``store`` overrides the URL in settings (tests)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await TokenService.open(settings, store=store)
        await ensure_demo_client(service)
        app.state.tokenveil = service
        if background:
            service.start_background()
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="tokenveil demo API",
        version="0.1.0",
        lifespan=lifespan,
        # Interactive docs are for development; they are served but hold no secrets.
        swagger_ui_parameters={"persistAuthorization": False},
    )
    auth = Authenticator(scopes=DEMO_SCOPES)
    app.include_router(oauth_router())
    app.include_router(demo_router(auth))

    async def audit(event: SecurityEvent) -> None:
        service = app.state.tokenveil
        assert isinstance(service, TokenService)
        await service.store.record_event(event)

    harden(
        app,
        audit=audit,
        development=settings.development,
        trusted_proxies=settings.trusted_proxies,
    )
    return app
