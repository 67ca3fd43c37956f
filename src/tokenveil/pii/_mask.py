"""Masking: find, then replace every finding through an operator."""

from __future__ import annotations

import json
from collections.abc import Collection

from tokenveil.pii._engine import Raw
from tokenveil.pii._evidence import NO_HINT
from tokenveil.pii._find import text_raws
from tokenveil.pii._operators import Operator, operator_named
from tokenveil.pii._structure import (
    collect,
    is_not_json,
    json_or_none,
    scan_collected,
    walk_replace,
)

__all__ = ["mask", "mask_json", "mask_object"]

_DROP = object()


def _wanted(raws: list[Raw], kinds: Collection[str] | None, min_confidence: float) -> list[Raw]:
    wanted = None if kinds is None else frozenset(kinds)
    return [
        r for r in raws if r.confidence >= min_confidence and (wanted is None or r.kind in wanted)
    ]


def _apply(text: str, raws: list[Raw], op: Operator) -> str | None:
    """``text`` with each span replaced (spans do not overlap); None if the operator drops a
    value inside a structure, where the whole leaf goes."""
    parts: list[str] = []
    pos = 0
    for raw in sorted(raws, key=lambda r: r.start):
        replacement = op(text[raw.start : raw.end], raw.kind)
        if replacement is None:
            return None
        parts.append(text[pos : raw.start])
        parts.append(replacement)
        pos = raw.end
    parts.append(text[pos:])
    return "".join(parts)


def mask(
    text: str,
    *,
    operator: str | Operator = "redact",
    kinds: Collection[str] | None = None,
    min_confidence: float = 0.5,
    ner: bool = False,
) -> str:
    """``text`` with every finding replaced (``drop`` removes the span)."""
    op = operator_named(operator)
    raws = _wanted(text_raws(text, ner=ner), kinds, min_confidence)
    if not raws:
        return text
    parts: list[str] = []
    pos = 0
    for raw in raws:
        parts.append(text[pos : raw.start])
        parts.append(op(text[raw.start : raw.end], raw.kind) or "")
        pos = raw.end
    parts.append(text[pos:])
    return "".join(parts)


def _mask_structure(
    root: object, op: Operator, kinds: Collection[str] | None, min_confidence: float
) -> object:
    collected = collect(root, NO_HINT)
    raws = _wanted(scan_collected(collected), kinds, min_confidence)
    if not raws:
        return root
    by_seg: dict[int, list[Raw]] = {}
    for raw in raws:
        by_seg.setdefault(raw.seg, []).append(raw)

    def replace(seg: int, leaf: object) -> object:
        spans = by_seg.get(seg)
        if not spans:
            return leaf
        masked = _apply(collected.values[seg], spans, op)
        return _DROP if masked is None else masked

    return walk_replace(root, replace, _DROP, NO_HINT)


def mask_json(
    data: bytes | str,
    *,
    operator: str | Operator = "redact",
    kinds: Collection[str] | None = None,
    min_confidence: float = 0.5,
) -> bytes:
    """A JSON document with every finding masked; the output is always valid UTF-8 JSON.

    A masked number becomes a string (``"[CREDIT_CARD]"``); ``drop`` removes the key or list
    item. Input that is not valid JSON, or nests deeper than Python's recursion limit, is masked
    as text and returned as one JSON string.
    """
    op = operator_named(operator)
    document = json_or_none(data)
    if not is_not_json(document):
        try:
            result = _mask_structure(document, op, kinds, min_confidence)
            if result is _DROP:
                result = None
            return _dump(result, separators=(",", ":"))
        except RecursionError:
            pass  # nested deeper than the walk can follow: masked as text below
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    masked_text = mask(text, operator=op, kinds=kinds, min_confidence=min_confidence)
    return _dump(masked_text)


def _dump(value: object, separators: tuple[str, str] | None = None) -> bytes:
    """UTF-8 JSON; a lone surrogate ("\\ud800" in the input) cannot be UTF-8, so a document
    holding one is written with ASCII escapes instead, which read back to the same value."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=separators).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=separators).encode()


def mask_object(
    obj: object,
    *,
    operator: str | Operator = "redact",
    kinds: Collection[str] | None = None,
    min_confidence: float = 0.5,
) -> object:
    """A copy of ``obj`` (dicts, lists, tuples, str, int) with every finding masked."""
    result = _mask_structure(obj, operator_named(operator), kinds, min_confidence)
    return None if result is _DROP else result
