"""Shared hypothesis strategies and the optional C module for the C-versus-Python tests."""

from __future__ import annotations

from hypothesis import strategies as st

try:
    from tokenveil.pii import _speedups as speedups
except ImportError:  # built without a compiler
    speedups = None  # type: ignore[assignment]

__all__ = ["KEYS", "LEAVES", "speedups"]

KEYS = st.text(max_size=8) | st.sampled_from(
    ["email", "name", "password", "dob", "user", "customer", "order_id", "phone", "ip", "sha256"]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["ana@example.org", "4111 1111 1111 1111", "+33 6 12 34 56 78", "Ana"])
)
