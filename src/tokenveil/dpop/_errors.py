"""DPoP failures, under :class:`tokenveil.errors.DPoPError`.

::

    DPoPError                  code "invalid_dpop_proof"  (RFC 9449 §7.1)
    ├── InvalidDPoPProof       the proof itself fails a check; ``reason`` says which
    ├── UseDPoPNonce           code "use_dpop_nonce": retry with the nonce in ``nonce`` (§8, §9)
    └── DPoPBindingMismatch    code "invalid_token": the access token is bound to another key

``reason`` is a short fixed word for logs and metrics (``htu_mismatch``, ``replayed`` ...); the
message never holds the proof, the token or a claim value.
"""

from __future__ import annotations

from tokenveil.errors import DPoPError

__all__ = ["DPoPBindingMismatch", "InvalidDPoPProof", "UseDPoPNonce"]


class InvalidDPoPProof(DPoPError):
    """The DPoP proof is invalid."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or f"DPoP proof rejected: {reason}")


class UseDPoPNonce(DPoPError):
    """The server requires a fresh DPoP nonce; ``nonce`` goes in the ``DPoP-Nonce`` header."""

    code = "use_dpop_nonce"
    reason = "nonce"

    def __init__(self, nonce: str | None) -> None:
        self.nonce = nonce
        super().__init__("DPoP proof must carry a current server nonce")


class DPoPBindingMismatch(DPoPError):
    """The access token is DPoP-bound and the proof is missing or made with another key."""

    # RFC 9449 §7.1: a binding failure is an invalid token, not an invalid proof.
    code = "invalid_token"
    reason = "binding_mismatch"

    def __init__(self) -> None:
        super().__init__("the access token is not bound to the key of this DPoP proof")
