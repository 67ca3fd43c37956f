"""The three finders: free text, JSON documents and Python objects."""

from __future__ import annotations

from collections.abc import Collection

from tokenveil.pii import _engine, _ner
from tokenveil.pii._engine import Raw
from tokenveil.pii._evidence import NO_HINT, Hint
from tokenveil.pii._finding import Finding
from tokenveil.pii._structure import (
    collect,
    collect_json,
    findings_of,
    is_not_json,
    json_or_none,
    scan_collected,
)

__all__ = ["find", "find_in_json", "find_in_object", "text_raws"]


def text_raws(text: str, *, ner: bool = False) -> list[Raw]:
    """Resolved raw findings of free text (segment 0)."""
    raws = _engine.scan(text)
    if ner:
        raws.extend(_ner.person_raws(text))
    return _engine.resolve(raws)


def _filter(raws: list[Raw], kinds: Collection[str] | None, min_confidence: float) -> list[Finding]:
    wanted = None if kinds is None else frozenset(kinds)
    return [
        Finding(str(r.kind), r.start, r.end, round(r.confidence, 2))
        for r in raws
        if r.confidence >= min_confidence and (wanted is None or r.kind in wanted)
    ]


def find(
    text: str,
    *,
    kinds: Collection[str] | None = None,
    min_confidence: float = 0.5,
    ner: bool = False,
) -> list[Finding]:
    """Personal data and secrets in free text, sorted by position.

    Ambiguous kinds need context words just before the value: a national-format phone number
    needs "phone", "tel", "call me"...; a bare nine-digit SSN needs "SSN"; a birth date needs
    "born", "date of birth"...; a name needs "my name is", "Dear"... Words such as "order",
    "invoice", "version" or "sha" just before a number lower its confidence.

    ``ner=True`` adds person names from spaCy when it is installed with a model (optional; raises
    :class:`~tokenveil.errors.ConfigurationError` otherwise).
    """
    return _filter(text_raws(text, ner=ner), kinds, min_confidence)


def _structured(
    root: object, kinds: Collection[str] | None, min_confidence: float, root_hint: Hint
) -> list[Finding]:
    collected = collect(root, root_hint)
    raws = scan_collected(collected)
    return findings_of(collected, raws, kinds=kinds, min_confidence=min_confidence)


def find_in_json(
    data: bytes | str,
    *,
    kinds: Collection[str] | None = None,
    min_confidence: float = 0.5,
) -> list[Finding]:
    """Personal data and secrets in a JSON document, located by path.

    ``path`` is JSONPath-like (``$.user.emails[0]``, ``$["first name"]``); ``start``/``end``
    are offsets inside the *decoded string value* at that path (for a number, inside its
    decimal spelling), not offsets into the raw document. Keys are evidence: ``email``,
    ``dob``, ``full_name``, ``address``, ``ssn`` make a finding more likely (names, addresses and
    birth dates are only ever found through their key), ``order_id``, ``sha256``, ``request_id``,
    ``version``, ``amount`` make it less likely. Text that is not valid JSON (or nests deeper
    than Python's recursion limit) is scanned as free text and its findings have ``path=None``.
    """
    if type(data) is bytes:
        # The C tokenizer reads the leaves straight from the bytes; None sends anything it does
        # not read exactly as json.loads does down the Python path below.
        collected = collect_json(data)
        if collected is not None:
            raws = scan_collected(collected)
            return findings_of(collected, raws, kinds=kinds, min_confidence=min_confidence)
    document = json_or_none(data)
    if not is_not_json(document):
        try:
            return _structured(document, kinds, min_confidence, NO_HINT)
        except RecursionError:
            pass  # nested deeper than the walk can follow: an attack shape, scanned as text
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return find(text, kinds=kinds, min_confidence=min_confidence)


def find_in_object(
    obj: object,
    *,
    kinds: Collection[str] | None = None,
    min_confidence: float = 0.5,
) -> list[Finding]:
    """Like :func:`find_in_json` for Python data: dicts, lists, tuples, str and int, nested.

    Other leaf types (floats, bools, None, arbitrary objects) are not scanned.
    """
    return _structured(obj, kinds, min_confidence, NO_HINT)
