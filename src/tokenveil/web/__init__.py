"""The FastAPI / ASGI edge: who is calling, what they may see, and what may leave.

Safe surface: :func:`get_principal` / :func:`require_scopes` (or an :class:`Authenticator` of
your own), :class:`PII` and :data:`Present` for field-level policy, :func:`harden` for every edge
control at once, :func:`oauth_router` for the authorization server's endpoints.
"""

from tokenveil.web.deps import Authenticator, TokenVerifier, get_principal, require_scopes
from tokenveil.web.fields import PII, FieldPolicy, Present, Presenter
from tokenveil.web.harden import harden

__all__ = [
    "PII",
    "Authenticator",
    "FieldPolicy",
    "Present",
    "Presenter",
    "TokenVerifier",
    "get_principal",
    "harden",
    "require_scopes",
]
