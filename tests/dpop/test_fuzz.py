"""Arbitrary input to ``verify_proof`` is refused with a DPoPError, never another exception."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenveil.dpop import InMemoryReplayCache, verify_proof
from tokenveil.errors import DPoPError
from tokenveil.keys._b64 import b64url_encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "typ": st.sampled_from(["dpop+jwt", "JWT"]) | st.text(max_size=5),
        "alg": st.sampled_from(["ES256", "EdDSA", "RS256", "PS256", "none", "HS256"]),
        "jwk": json_values,
        "crit": json_values,
    },
)


def _refused(proof: str) -> bool:
    async def run() -> None:
        await verify_proof(
            proof,
            htm="GET",
            htu="https://api.test/x",
            now=1_800_000_000.0,
            access_token="a.b.c",
            nonce=None,
            replay=InMemoryReplayCache(),
        )

    try:
        asyncio.run(run())
    except DPoPError:
        return True
    return False


@settings(max_examples=60, deadline=None)
@given(proof=st.text(max_size=200))
def test_random_text_is_refused(proof: str) -> None:
    """Any text is refused cleanly."""
    assert _refused(proof)


@settings(max_examples=60, deadline=None)
@given(header=headers, claims=json_values, signature=st.binary(max_size=80))
def test_random_well_formed_jws_is_refused(
    header: dict[str, object], claims: object, signature: bytes
) -> None:
    """Structurally valid JWS with random header, claims and signature is refused cleanly."""
    parts = [b64url_encode(json.dumps(part).encode()) for part in (header, claims)]
    assert _refused(".".join([*parts, b64url_encode(signature)]))
