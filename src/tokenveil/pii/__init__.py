"""Personal data and secrets: find them, mask them, keep them out of tokens.

Sans-I/O and fast: one screening pass over every string, validators (checksums, issuer ranges,
libphonenumber, python-stdnum) only on candidates, JSON keys and context words as evidence.

    >>> from tokenveil import pii
    >>> [f.kind for f in pii.find("write to jane.doe@example.com")]
    ['EMAIL']
    >>> pii.mask("write to jane.doe@example.com")
    'write to [EMAIL]'
"""

from __future__ import annotations

from tokenveil.pii._claims import lint_claims, lint_token
from tokenveil.pii._find import find, find_in_json, find_in_object
from tokenveil.pii._finding import Finding, Kind
from tokenveil.pii._mask import mask, mask_json, mask_object
from tokenveil.pii._operators import Drop, Operator, Partial, Pseudonymize, Redact
from tokenveil.pii._stream import StreamScanner

__all__ = [
    "Drop",
    "Finding",
    "Kind",
    "Operator",
    "Partial",
    "Pseudonymize",
    "Redact",
    "StreamScanner",
    "find",
    "find_in_json",
    "find_in_object",
    "lint_claims",
    "lint_token",
    "mask",
    "mask_json",
    "mask_object",
]
