"""Shared hypothesis strategies, the optional C module and helpers for the C-versus-Python
tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tokenveil.pii import _structure
from tokenveil.pii._evidence import NO_HINT

try:
    from tokenveil.pii import _speedups as speedups
except ImportError:  # built without a compiler
    speedups = None  # type: ignore[assignment]

__all__ = ["KEYS", "LEAVES", "empty_the_kept_table", "leaf_fields", "speedups"]

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


def leaf_fields(collected: _structure.Collected) -> tuple[Any, ...]:
    """What a collector read, location tuples included: values, locations, steps, hints, keyed."""
    locs = [collected.loc(i) for i in range(len(collected.values))]
    return collected.values, locs, collected.steps, collected.hints, collected.keyed


def empty_the_kept_table() -> None:
    """A call with other key evidence empties the tokenizer's kept key table; the next ordinary
    call then starts from an empty one too."""
    speedups.leaves(b"{}", NO_HINT, lambda key, parent: NO_HINT, NO_HINT, ({}, {}), 0, 6, 1, 8)
