"""The runnable token server: ``create_app(settings)`` builds the FastAPI app ``serve`` runs.

It mounts the OAuth endpoints, the JWKS and metadata, the demo API, the kill switch
(``POST /admin/killswitch``, scope ``admin:killswitch``) and Prometheus metrics
(``GET /metrics``), and keeps the :class:`TokenService` in step with the store in the background
(key rotation on schedule, revocations, purges and key changes made by the CLI or by other
instances; pushed over Redis pub/sub when Redis is configured).
"""

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict

from tokenveil._principal import Principal
from tokenveil.config import Settings
from tokenveil.demo import DEMO_SCOPES, demo_router
from tokenveil.errors import InvalidRequest, StoreError, StoreUnavailable
from tokenveil.service import TokenService
from tokenveil.store import SecurityEvent, Store
from tokenveil.web.deps import Authenticator
from tokenveil.web.harden import harden
from tokenveil.web.oauth import TokenRateLimits, oauth_router

__all__ = ["DEMO_CLIENT_ID", "SERVER_SCOPES", "create_app", "ensure_demo_client"]

DEMO_CLIENT_ID = "tokenveil-demo"
#: The demo scopes plus the kill switch's, as the OpenAPI document lists them.
SERVER_SCOPES: dict[str, str] = {
    **DEMO_SCOPES,
    "admin:killswitch": "Fire the kill switch (confidential clients, client_credentials only)",
}
_NO_STORE = {"Cache-Control": "no-store"}


class PurgeRequest(BaseModel):
    """Body of ``POST /admin/killswitch``."""

    model_config = ConfigDict(extra="forbid")

    rotate_keys: bool = False
    #: none | suspect | unbound | all | a login name
    revoke_families: str = "none"


def admin_router(auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["admin"])

    def service(request: Request) -> TokenService:
        found = request.app.state.tokenveil
        assert isinstance(found, TokenService)
        return found

    @router.post("/admin/killswitch", summary="Kill switch: reject every access token issued")
    async def killswitch(
        body: PurgeRequest,
        svc: Annotated[TokenService, Depends(service)],
        principal: Annotated[Principal, auth.require_scopes("admin:killswitch")],
    ) -> Response:
        # Defence in depth: the scope is only ever granted through client_credentials, where
        # the subject is the client itself; a user token carrying it would be a bug elsewhere.
        if principal.sub != principal.client_id:
            raise HTTPException(403, "This operation needs a client credentials token.")
        try:
            report = await svc.purge(
                rotate_keys=body.rotate_keys,
                revoke_families=body.revoke_families,
                actor=f"client:{principal.client_id}",
            )
        except InvalidRequest:
            raise HTTPException(400, "revoke_families is not a known choice or user.") from None
        except StoreUnavailable:
            raise HTTPException(503, "Service temporarily unavailable.") from None
        return JSONResponse(report.as_dict(), headers=_NO_STORE)

    @router.get("/metrics", summary="Prometheus metrics (counters only, no personal data)")
    async def metrics(svc: Annotated[TokenService, Depends(service)]) -> Response:
        registry = svc.defence.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


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
    auth = Authenticator(scopes=SERVER_SCOPES)
    limits = TokenRateLimits(
        window=settings.token_rate_window,
        per_ip=settings.token_rate_per_address,
        per_client=settings.token_rate_per_client,
    )
    app.include_router(oauth_router(rate_limits=limits))
    app.include_router(demo_router(auth))
    app.include_router(admin_router(auth))

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
