"""Compact JWS (RFC 7515 §7.1): split, decode and sign. No key or algorithm decisions here."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from tokenveil.errors import MalformedToken
from tokenveil.keys._b64 import b64url_decode, b64url_encode

__all__ = [
    "Signer",
    "decode_json_segment",
    "decode_signature",
    "decode_signed_payload",
    "encode_compact",
    "split_compact",
]


class Signer(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def alg(self) -> str: ...

    def sign(self, signing_input: bytes) -> bytes: ...


def encode_compact(header: Mapping[str, Any], payload: Mapping[str, Any], key: Signer) -> str:
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    p = b64url_encode(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{h}.{p}".encode("ascii")
    return f"{h}.{p}.{b64url_encode(key.sign(signing_input))}"


def split_compact(token: str, max_bytes: int) -> tuple[str, str, str]:
    """The three segments, after bounding the size (tokens over ``max_bytes`` are refused)."""
    if len(token) > max_bytes or not token.isascii():
        raise MalformedToken()
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise MalformedToken()
    return parts[0], parts[1], parts[2]


def decode_json_segment(segment: str) -> dict[str, Any]:
    """A base64url JSON object; anything else is malformed (RFC 7519 §7.2 step 10)."""
    try:
        # orjson: the hot path parses one payload per request (measured in bench/verify.py).
        value = orjson.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedToken() from exc
    if not isinstance(value, dict):
        raise MalformedToken()
    return value


def decode_signed_payload(segment: str) -> dict[str, Any]:
    """The payload of a token whose signature already verified over this exact segment.

    The spelling checks of :func:`b64url_decode` add nothing here: any other spelling would
    have changed the signing input and failed the signature. Strict decoding stays on.
    """
    try:
        raw = segment.encode("ascii").translate(_TO_STANDARD) + _PAD[len(segment) % 4]
        value = orjson.loads(binascii.a2b_base64(raw, strict_mode=True))
    except (ValueError, UnicodeDecodeError, RecursionError, binascii.Error) as exc:
        raise MalformedToken() from exc
    if type(value) is not dict:
        raise MalformedToken()
    return value


def decode_signature(segment: str) -> bytes:
    """The signature bytes of a compact JWS, as strictly as :func:`b64url_decode`.

    Same rules (base64url alphabet only, no padding, no whitespace, canonical last character)
    in one translation and one strict decode: ``+``, ``/`` and ``=`` are translated to ``!``,
    which the strict decoder refuses, so no separate scan is needed. On the hot path (one
    signature per new token; tests check it agrees with :func:`b64url_decode`).
    """
    size = len(segment)
    tail = size % 4
    if tail == 1:
        raise MalformedToken()
    try:
        raw = segment.encode("ascii")
        data = binascii.a2b_base64(raw.translate(_SIGNATURE) + _PAD[tail], strict_mode=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedToken() from exc
    # RFC 4648 §3.5: the unused low bits of the last character are zero (one spelling per
    # token: the repeat cache and the logs key on the string).
    if tail and _CANONICAL_TAIL[tail][raw[-1]]:
        raise MalformedToken()
    return data


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
#: base64url → base64, with the characters base64url never uses made invalid for the decoder.
_SIGNATURE = bytes.maketrans(b"-_+/=", b"+/!!!")
_PAD = (b"", b"=", b"==", b"=")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Per tail length (2 or 3 characters past the last full quantum): a byte → True when that
#: last character has non-zero unused bits (non-canonical). Other bytes fail the decoder.
_CANONICAL_TAIL: tuple[tuple[bool, ...], ...] = (
    (),
    (),
    tuple(c in _ALPHABET and bool(_ALPHABET.index(c) & 0x0F) for c in range(256)),
    tuple(c in _ALPHABET and bool(_ALPHABET.index(c) & 0x03) for c in range(256)),
)
