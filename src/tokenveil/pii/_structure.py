"""Structure-aware scanning: JSON documents and Python objects, with keys as evidence.

Every string value (and every integer long enough to be a card, phone or identifier) becomes a
*segment*. Segments are joined with ``\\x00`` and scanned in one pass by the engine, so a body of
hundreds of small values costs one regex scan plus one list append per value. Findings carry the
JSONPath-like location of their value (``$.user.emails[0]``) and offsets *inside that value*; for
a JSON number, inside its decimal spelling.

The per-value loops (collecting the leaves, joining them) run in C when the optional
``_speedups`` module was built; the Python functions here are the reference it must match
(``tests/pii/test_pii_speedups.py``) and what runs without a compiler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from itertools import accumulate, compress
from operator import add, attrgetter, not_
from typing import Any

import orjson

from tokenveil.pii import _engine
from tokenveil.pii._engine import SEP, Raw
from tokenveil.pii._evidence import NO_HINT, Hint, key_hint
from tokenveil.pii._finding import Finding

try:
    from tokenveil.pii import _speedups
except ImportError:  # installed without a C compiler: the pure-Python loops below run
    _speedups = None  # type: ignore[assignment]

__all__ = [
    "Collected",
    "Loc",
    "collect",
    "collect_json",
    "collect_py",
    "findings_of",
    "has_long_integer",
    "has_speedups",
    "is_not_json",
    "json_or_none",
    "loc_path",
    "path_steps",
    "scan_collected",
    "value_at",
    "walk_replace",
]

#: A location: ``None`` for the root, else (parent location, dict key or list index).
Loc = tuple["Loc", str | int] | None

#: Integers shorter than this are counts, prices, ports and years; never scanned without a key.
_MIN_SCANNED_INT = 100_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IS_NEGATIVE = attrgetter("negative")


class Collected:
    """The scannable leaves of a document, in depth-first order."""

    __slots__ = ("hints", "keyed", "negative", "parents", "steps", "values")

    def __init__(
        self,
        values: list[str] | None = None,
        parents: list[Loc] | None = None,
        steps: list[str | int | None] | None = None,
        hints: list[Hint] | None = None,
        keyed: list[int] | None = None,
        negative: bytes | None = None,
    ) -> None:
        self.values: list[str] = [] if values is None else values
        # Location of value i is (parents[i], steps[i]); kept apart so no tuple is allocated per
        # value (fewer tracked objects, fewer garbage-collector passes over a big document).
        self.parents: list[Loc] = [] if parents is None else parents
        self.steps: list[str | int | None] = [] if steps is None else steps
        self.hints: list[Hint] = [] if hints is None else hints
        #: Indices of values whose key alone can decide a finding (``Hint.decides``): names,
        #: addresses, birth dates, passwords, opaque tokens (see ``_engine.whole_value``).
        self.keyed: list[int] = [] if keyed is None else keyed
        #: One byte per value, 1 when its key argues against PII (set by the C collectors only).
        self.negative = negative

    def loc(self, index: int) -> Loc:
        """The location of value ``index``."""
        step = self.steps[index]
        return self.parents[index] if step is None else (self.parents[index], step)


#: Shorter strings hold nothing a pattern can find ("a@b.co" is 6); they are scanned only when
#: their key names a kind (a 3-letter first name under "first_name").
_MIN_SCANNED_STR = 6

# Hints of every key of a dict, per key tuple: API lists repeat one record shape thousands of
# times, so evidence is computed once per shape instead of once per key per record.
_SHAPE_HINTS: dict[tuple[tuple[object, ...], bool], tuple[Hint, ...]] = {}
_SHAPE_HINTS_MAX = 4096


def _hints_of(node: dict[object, object], parent: Hint) -> tuple[Hint, ...]:
    keys = tuple(node)
    cache_key = (keys, parent.person_container)
    hints = _SHAPE_HINTS.get(cache_key)
    if hints is None:
        hints = tuple(key_hint(k, parent) if type(k) is str else NO_HINT for k in keys)
        if len(_SHAPE_HINTS) < _SHAPE_HINTS_MAX:
            _SHAPE_HINTS[cache_key] = hints
    return hints


def _leaf_text(node: object, hint: Hint) -> str | None:
    """The text scanned for a leaf, or None when the leaf is never scanned."""
    if type(node) is str:
        return node if len(node) >= _MIN_SCANNED_STR or hint.kinds else None
    if type(node) is int and (node >= _MIN_SCANNED_INT or node <= -_MIN_SCANNED_INT or hint.kinds):
        return str(node)
    return None


def has_speedups() -> bool:
    """True when the C loops (``_speedups``) were built and are in use."""
    return _speedups is not None


# The C collector's memo of key evidence: key -> (hint, flags), one dict per parent kind (a
# person container or not), bounded like key_hint's own cache.
_C_HINTS: tuple[dict[str, tuple[Hint, int]], dict[str, tuple[Hint, int]]] = ({}, {})


def collect(root: object, root_hint: Hint = NO_HINT) -> Collected:
    """Gather the scannable leaves of ``root`` (dicts, lists, tuples, str, int)."""
    if _speedups is None:
        return collect_py(root, root_hint)
    values, parents, steps, hints, keyed, negative = _speedups.collect(
        root,
        root_hint,
        key_hint,
        NO_HINT,
        _C_HINTS,
        _SHAPE_HINTS_MAX,
        _MIN_SCANNED_STR,
        _MIN_SCANNED_INT,
    )
    return Collected(values, parents, steps, hints, keyed, negative)


#: Nesting the C tokenizer follows; a deeper document takes the Python path (parse, then walk).
_MAX_DEPTH = 256


def collect_json(data: bytes) -> Collected | None:
    """:func:`collect` of the document :func:`json_or_none` would return for ``data``, read
    straight from the bytes by the C tokenizer (no dict, list or unscanned string is built).

    None when the extension is missing, or when the bytes are anything the tokenizer does not
    read exactly as :func:`json.loads` does (invalid JSON, a BOM, surrogates, NaN, integers of
    19 digits or more, duplicate keys, nesting past ``_MAX_DEPTH``), or whose keys would cost
    its key table more than a linear probe budget: the caller then takes the Python path,
    which decides.
    """
    if _speedups is None:
        return None
    leaves = _speedups.leaves(
        data,
        NO_HINT,
        key_hint,
        NO_HINT,
        _C_HINTS,
        _SHAPE_HINTS_MAX,
        _MIN_SCANNED_STR,
        _MIN_SCANNED_INT,
        _MAX_DEPTH,
    )
    return None if leaves is None else Collected(*leaves)


def collect_py(root: object, root_hint: Hint = NO_HINT) -> Collected:
    """:func:`collect` in pure Python: the reference for the C collector, and the fallback."""
    out = Collected()
    # Bound methods and inlined type tests: this loop runs once per value of every document.
    add_value, add_hint = out.values.append, out.hints.append
    add_parent, add_step = out.parents.append, out.steps.append
    add_keyed = out.keyed.append
    values = out.values
    min_str, min_int = _MIN_SCANNED_STR, _MIN_SCANNED_INT

    def leaf(text: str, parent: Loc, step: str | int | None, hint: Hint) -> None:
        if hint.decides:
            add_keyed(len(values))
        add_value(text)
        add_parent(parent)
        add_step(step)
        add_hint(hint)

    def visit(node: object, loc: Loc, hint: Hint) -> None:
        if type(node) is dict:
            # zip(strict=False): _hints_of returns exactly one hint per key of this dict.
            for (key, child), child_hint in zip(node.items(), _hints_of(node, hint), strict=False):
                kind = type(child)
                if kind is str:
                    if child_hint.kinds:
                        if child_hint.decides:
                            add_keyed(len(values))
                    elif len(child) < min_str:
                        continue
                    add_value(child)
                    add_parent(loc)
                    add_step(key)
                    add_hint(child_hint)
                elif kind is dict or kind is list or kind is tuple:
                    visit(child, (loc, key), child_hint)
                elif kind is int and (child >= min_int or child <= -min_int or child_hint.kinds):
                    leaf(str(child), loc, key, child_hint)
        elif type(node) is list or type(node) is tuple:
            # List items inherit the evidence of the list's key: "emails": ["...", "..."].
            for index, child in enumerate(node):
                kind = type(child)
                if kind is str:
                    if len(child) >= min_str or hint.kinds:
                        leaf(child, loc, index, hint)
                elif kind is dict or kind is list or kind is tuple:
                    visit(child, (loc, index), hint)
                elif kind is int and (child >= min_int or child <= -min_int or hint.kinds):
                    leaf(str(child), loc, index, hint)
        else:
            text = _leaf_text(node, hint)
            if text is not None:
                leaf(text, loc, None, hint)

    visit(root, None, root_hint)
    return out


def _step_text(step: object) -> str:
    """``[3]`` for a list index (or an int dict key), ``.name`` for an identifier key, else the
    key JSON-quoted: ``["first name"]``. Keys of other types, which only Python objects have,
    are quoted as JSON would spell them (``true``, ``null``, ``1.5``) or by ``str``."""
    if type(step) is int:
        return f"[{step}]"
    if type(step) is str:
        if _IDENTIFIER.fullmatch(step):
            return f".{step}"
        return f"[{json.dumps(step, ensure_ascii=False)}]"
    if step is True or step is False or step is None:
        spelled = json.dumps(step)
    elif type(step) is float:
        spelled = json.dumps(step)  # 1.5, NaN, Infinity: what json.dumps writes for such a key
    else:
        spelled = str(step)
    return f"[{json.dumps(spelled, ensure_ascii=False)}]"


def loc_path(loc: Loc, root: str = "$") -> str:
    """``$.user.emails[0]``; keys that are not identifiers are quoted: ``$['first name']``."""
    parts: list[str] = []
    while loc is not None:
        loc, step = loc
        parts.append(_step_text(step))
    return root + "".join(reversed(parts))


def path_steps(path: str) -> list[str | int]:
    """The keys and indices of a path written by :func:`loc_path` (``$.a["b c"][0]``)."""
    steps: list[str | int] = []
    decoder = json.JSONDecoder()
    i = 1  # after "$"
    while i < len(path):
        if path[i] == ".":
            j = i + 1
            while j < len(path) and path[j] not in ".[":
                j += 1
            steps.append(path[i + 1 : j])
            i = j
        else:  # "[...]": an index or a JSON-quoted key
            step, end = decoder.raw_decode(path, i + 1)
            steps.append(step)
            i = end + 1
    return steps


def value_at(document: object, path: str | None) -> str | None:
    """The scanned text of the leaf at ``path`` (a number as its spelling), None if absent."""
    if path is None:
        return None
    node = document
    for step in path_steps(path):
        try:
            node = node[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, str):
        return node
    return str(node) if type(node) is int else None


def scan_collected(collected: Collected) -> list[Raw]:
    """Findings of every leaf: one joined pass for patterns, then key-only evidence."""
    values, hints = collected.values, collected.hints
    if not values:
        return []
    starts: Sequence[int]
    order: Sequence[int]
    if collected.negative is not None and _speedups is not None:
        # starts and order come back as int64 arrays: no int object per value.
        text, starts_raw, joined_hints, order_raw, runs_count = _speedups.join(
            values, hints, collected.negative
        )
        starts = memoryview(starts_raw).cast("q")
        order = memoryview(order_raw).cast("q") if order_raw is not None else []
    else:
        text, starts, joined_hints, order, runs_count = _join_py(values, hints)
    runs_end = starts[runs_count] - 1 if runs_count < len(values) else len(text)
    raws = _engine.scan(text, starts, joined_hints, runs_end)
    if order:
        for found in raws:
            found.seg = order[found.seg]
    for seg in collected.keyed:
        raw = _engine.whole_value(values[seg], hints[seg], seg)
        if raw is not None:
            raws.append(raw)
    return _engine.resolve(raws)


def _join_py(
    values: list[str], hints: list[Hint]
) -> tuple[str, list[int], list[Hint], list[int], int]:
    """The joined text, segment starts and hints, the collected index of each joined value (empty
    when the order is unchanged) and how many values come before the negative ones."""
    # Values under negative keys (order_id, tracking_number, created_at, sha256...) go last, so
    # the digit-run search, which never reports a number under such a key, stops before them: on
    # API bodies they hold most of the digits. Every other detector still reads them.
    # (map/compress keep the per-value work in C: this runs over every value of the body.)
    flags = list(map(_IS_NEGATIVE, hints))
    order: list[int] = []
    if any(flags):
        order = list(compress(range(len(flags)), map(not_, flags)))
        runs_count = len(order)
        order += compress(range(len(flags)), flags)
        joined = list(map(values.__getitem__, order))
        joined_hints = list(map(hints.__getitem__, order))
    else:
        joined, joined_hints, runs_count = values, hints, len(values)
    # start of value i = total length of the values before it + one separator each (all in C).
    starts = list(map(add, accumulate(map(len, joined), initial=0), range(len(joined) + 1)))
    return SEP.join(joined), starts, joined_hints, order, runs_count


def findings_of(
    collected: Collected,
    raws: list[Raw],
    *,
    kinds: Collection[str] | None,
    min_confidence: float,
    path_of: Callable[[Loc], str] = loc_path,
) -> list[Finding]:
    """Bind raw findings to paths, keeping the requested kinds above the threshold."""
    if not raws:
        return []
    wanted = None if kinds is None else frozenset(kinds)
    if _speedups is not None and path_of is loc_path:
        # The same loop in C: a finding's Python objects cost more than finding it did.
        return _speedups.bind(
            raws,
            collected.parents,
            collected.steps,
            min_confidence,
            wanted,
            Finding,
            _step_text,
            round,
        )
    return _findings_py(collected, raws, wanted, min_confidence, path_of)


def _findings_py(
    collected: Collected,
    raws: list[Raw],
    wanted: frozenset[str] | None,
    min_confidence: float,
    path_of: Callable[[Loc], str],
) -> list[Finding]:
    """:func:`findings_of` in Python: the reference of the C ``bind``, and the fallback."""
    out: list[Finding] = []
    add = out.append
    # Findings of one record share its parent: its path is written once per call, keyed by the
    # parent's identity (collected holds every parent alive until we return). Records repeat
    # their keys, so each str key's path step is also written once per call (str keys only: 1,
    # 1.0 and True are one dict key but three different steps).
    parent_paths: dict[int, str] = {}
    step_texts: dict[str, str] = {}
    parents, steps = collected.parents, collected.steps
    fast_paths = path_of is loc_path
    for raw in raws:
        if raw.confidence < min_confidence or (wanted is not None and raw.kind not in wanted):
            continue
        step = steps[raw.seg]
        if fast_paths and step is not None:
            parent = parents[raw.seg]
            base = parent_paths.get(id(parent))
            if base is None:
                base = parent_paths[id(parent)] = loc_path(parent)
            if type(step) is str:
                text = step_texts.get(step)
                if text is None:
                    text = step_texts[step] = _step_text(step)
            else:
                text = _step_text(step)
            path = base + text
        else:
            path = path_of(collected.loc(raw.seg))
        add(Finding(str(raw.kind), raw.start, raw.end, round(raw.confidence, 2), path))
    return out


_NOT_JSON = object()


#: Digits -> "0", everything else kept: finds integers too long for orjson with a literal search.
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
# orjson reads integers in [-2**63, 2**64) exactly: at most 19 digits negative, 20 positive.
# (bytes.__contains__, a two-way search, is ~40x faster than re.search here.)
_LONG_DIGITS = b"0" * 20
_LONG_NEGATIVE = b"-" + b"0" * 19


def has_long_integer(raw: bytes) -> bool:
    """True when ``raw`` holds 20 digits in a row (19 after a minus): orjson would read that
    integer as a float."""
    if _speedups is not None:
        return _speedups.long_digit_run(raw)
    shape = raw.translate(_DIGITS_TO_ZERO)
    return _LONG_DIGITS in shape or _LONG_NEGATIVE in shape


def json_or_none(data: bytes | str) -> Any:
    """The parsed document, or a sentinel that :func:`is_not_json` recognises.

    orjson parses 2-3x faster than :mod:`json`; whatever it refuses (NaN, a UTF-8 BOM, lone
    surrogates, nesting past 1024, numbers out of range) goes to :func:`json.loads`, so the
    documents accepted and the values read are exactly those of :mod:`json`. orjson reads an
    integer beyond 64 bits as a float, which would hide a long number from the scan, so a body
    with 20 digits in a row (19 after a minus) anywhere is parsed by :mod:`json` alone.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not has_long_integer(raw):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _NOT_JSON


def is_not_json(value: object) -> bool:
    """True for the sentinel :func:`json_or_none` returns on invalid JSON."""
    return value is _NOT_JSON


def walk_replace(
    root: object,
    replace: Callable[[int, object], object],
    drop: object,
    root_hint: Hint = NO_HINT,
) -> object:
    """Rebuild ``root``, passing every scanned leaf (same order as :func:`collect`) to
    ``replace(segment_index, leaf)``; a leaf replaced by ``drop`` loses its key or list slot."""
    counter: Iterator[int] = iter(range(1 << 62))

    def visit(node: object, hint: Hint) -> object:
        if type(node) is dict:
            new: dict[object, object] = {}
            for key, child in node.items():
                child_hint = key_hint(key, hint) if type(key) is str else NO_HINT
                result = visit(child, child_hint)
                if result is not drop:
                    new[key] = result
            return new
        if type(node) in (list, tuple):
            items = [visit(child, hint) for child in node]  # type: ignore[attr-defined]
            kept = [item for item in items if item is not drop]
            return kept if type(node) is list else tuple(kept)
        if _leaf_text(node, hint) is not None:
            return replace(next(counter), node)
        return node

    return visit(root, root_hint)
