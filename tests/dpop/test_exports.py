"""The public surface of ``tokenveil.dpop`` is exactly what the module promises."""

from __future__ import annotations

import tokenveil.dpop


def test_exported_names_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change that edits this list."""
    assert sorted(tokenveil.dpop.__all__) == [
        "DPOP_ALGORITHMS",
        "DPoPAuth",
        "DPoPBindingMismatch",
        "DPoPError",
        "DPoPProof",
        "InMemoryReplayCache",
        "InvalidDPoPProof",
        "NonceManager",
        "ReplayCache",
        "UseDPoPNonce",
        "access_token_hash",
        "check_binding",
        "create_proof",
        "jwk_thumbprint",
        "normalize_htu",
        "verify_proof",
    ]
    for name in tokenveil.dpop.__all__:
        assert getattr(tokenveil.dpop, name) is not None
