"""Adversarial differential tests of two C fast paths against their Python references.

* ``_speedups.gates``: every field but ``triggered`` equals ``_engine._gates_py`` (secret
  positions as a set), for texts of every str width, any valid segmentation (a first segment
  after 0, empty segments, join()'s ``len + 1`` end, list or int64 buffer) and any ``runs_end``;
  ``triggered`` is a superset of the segments whose ``lower()`` holds a trigger word.
* ``_speedups.leaves`` (``collect_json``): across many consecutive calls, which share the kept
  key table and its guesses, every body is either declined or read exactly as
  ``json.loads`` + ``_structure.collect_py`` read it; duplicate keys are always declined.
"""

from __future__ import annotations

import array
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pii._strategies import empty_the_kept_table, leaf_fields, speedups
from tokenveil.pii import _engine, _patterns, _structure
from tokenveil.pii._evidence import NO_HINT, Hint, key_hint

pytestmark = pytest.mark.skipif(speedups is None, reason="built without the C speedups")

_Gates = tuple[Any, ...]
_Caches = tuple[dict[str, tuple[Hint, int]], dict[str, tuple[Hint, int]]]

# ---- gates ----------------------------------------------------------------------------------

_GATE_PIECES = st.sampled_from(
    [
        *("0", "12", "4111111111111111", "+44 20 7946 0958", "1.2.3.4", "12345678Z", "X1234567L"),
        *("0000000-A", "DE89", "AA00", "AB", "ab", "a", "A", "Z", "x", "À", "×", "@", ":", "::"),
        *("ana@example.org", ":ab:", "fe80::1", ":12345:", "f:", " ", "-", ".", "/", "(", "_"),
        *("'", "%", "+", "eyJ", "earer", "AKIA", "AIza", "ghp_", "github_pat_", "xoxb-", "_live_"),
        *("live_", "sk_test_", "sk-", "$2b$", "$2$", "$2", "$argon2", "$scrypt$", "$7$", "$pbkdf2"),
        *("pbkdf2_", "-----BEGIN", "----", "name", "NAME", "Dear", "PaSs", "born", "d.o.b"),
        *("ship to", "ich bin", "nato il", "grüße", "né le", "na", "me", "\x00", "?", "é", "ÿ"),
        *("\xa0", "\u0100", "\u20ac", "\U0001f600", "\uff10", "٣", "\u212a", "ß", "İ", "\u0301"),
        *("\U0001d7ce", "\U00010400", "\ud800", "example", "com", "co", "c", "org1", "ab" * 12),
        *("ab" * 13, "x" * 63, "y" * 64, "mail-server", "-bad", "bad-", ".com", "a.a.a."),
    ]
)
_TEXTS = st.lists(_GATE_PIECES, max_size=24).map("".join)


def _gates_c(text: str, starts: Sequence[int] | memoryview, runs_end: int) -> _Gates | None:
    return speedups.gates(text, starts, runs_end, _patterns.ALL_TRIGGERS, _patterns.SHAPE)


def _packed(starts: list[int]) -> memoryview:
    """Starts as join() hands them over: an int64 buffer."""
    return memoryview(array.array("q", starts).tobytes()).cast("q")


@st.composite
def _segmented(draw: st.DrawFn) -> tuple[str, list[int], int]:
    """A text, strictly increasing starts within [0, len + 1] and a runs_end in [-2, len + 3]."""
    text = draw(_TEXTS)
    n = len(text)
    cuts = draw(st.lists(st.integers(0, n + 1), max_size=6))
    starts = sorted(set(cuts) | ({0} if draw(st.booleans()) or not cuts else set()))
    runs_end = draw(st.one_of(st.just(n), st.integers(-2, n + 3)))
    return text, starts, runs_end


_ASCII_TRIGGERS = tuple(word for word in _patterns.ALL_TRIGGERS if word.isascii())
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _may_hold_trigger(segment: str) -> bool:
    """What the C filter keeps, exactly: a non-ASCII character, or an ASCII trigger word once
    ASCII letters are lower-cased (a superset of the segments whose lower() holds a trigger)."""
    if not segment.isascii():
        return True
    lowered = segment.translate(_ASCII_LOWER)
    return any(word in lowered for word in _ASCII_TRIGGERS)


def _assert_gates_match(text: str, starts: list[int], runs_end: int, packed: bool) -> None:
    got = _gates_c(text, _packed(starts) if packed else starts, runs_end)
    segs = _engine._Segments(text, starts, None, min(max(runs_end, 0), len(text)))
    expected = _engine._gates_py(text, segs)
    if got is None or expected is None:
        # Only the phrase filters differ, so one side may still offer segments, nothing else.
        only = expected if got is None else got
        assert only is None or not any(only[1:8])
    else:
        assert got[:7] == expected[:7]
        assert sorted(set(got[7])) == sorted(set(expected[7]))
    triggered = [] if got is None else got[8]
    assert triggered == [
        index
        for index in range(len(starts))
        if _may_hold_trigger(text[slice(*segs.bounds(index)[:2])])
    ]
    for index in range(len(starts)):
        seg_start, seg_end, _hint = segs.bounds(index)
        lowered = text[seg_start:seg_end].lower()
        if any(word in lowered for word in _patterns.ALL_TRIGGERS):
            assert index in triggered, (index, text[seg_start:seg_end])


@settings(max_examples=1200, deadline=None, derandomize=True)
@given(_segmented(), st.booleans())
def test_gates_match_the_python_gates_for_any_segmentation(
    case: tuple[str, list[int], int], packed: bool
) -> None:
    """Every field but ``triggered`` is the Python gates' for any text width, any valid starts
    (first segment after 0, empty segments, len + 1 at the end) as a list or an int64 buffer,
    and any runs_end; ``triggered`` is exactly the segments with a non-ASCII character or an
    ASCII trigger word, so it keeps every segment whose lower() holds a trigger word."""
    text, starts, runs_end = case
    _assert_gates_match(text, starts, runs_end, packed)


@settings(max_examples=600, deadline=None, derandomize=True)
@given(_TEXTS, st.lists(st.integers(0, 200), max_size=4), st.sampled_from(["\u0100", "\U0001f600"]))
def test_gates_are_the_same_in_every_str_width(text: str, cuts: list[int], wide: str) -> None:
    """A one-byte text and the same text followed by a separator and a wide segment (two- or
    four-byte str) give the same hits and the same phrase segments: the one-byte pass
    (ucs1_gates) and the generic passes agree."""
    starts = sorted({0, *(cut for cut in cuts if cut <= len(text))})
    wider = text + "\x00" + wide
    narrow_hits = _gates_c(text, starts, len(text))
    wide_hits = _gates_c(wider, [*starts, len(text) + 1], len(text))
    assert wide_hits is not None  # the wide segment itself is a phrase candidate
    assert wide_hits[8][-1] == len(starts)
    if narrow_hits is None:
        assert not any(wide_hits[1:8])
        assert wide_hits[8] == [len(starts)]
        return
    assert wide_hits[0][: len(text)] == narrow_hits[0]
    assert wide_hits[1:8] == narrow_hits[1:8]
    assert wide_hits[8][:-1] == narrow_hits[8]


_EMAIL_PIECES = st.sampled_from(
    [
        *("@", ".", "-", "_", "'", "%", "+", " ", "\x00", "é", "ü", "\u0100", "\U0001f600", "1"),
        *("ana", "Ana.Lima", "x" * 63, "y" * 64, "com", "co", "c", "org1", "ab" * 12, "ab" * 13),
        *("example", "mail-server", "-bad", "bad-", "ex.ample", "@example.org", "ana@", "٣", "²"),
        *("abcdefghijklmnopqrstuvwxy", "abcdefghijklmnopqrstuvwx", "@ex.", "@a.b.", "ä.com"),
        *(".com", "a" * 70, "\u212a", "ß", "ª", "\U0001d7ce", "\U00010400", "\u0301", "\ud800"),
    ]
)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(
    st.lists(_EMAIL_PIECES, max_size=16).map("".join),
    st.lists(st.integers(0, 300), max_size=4),
    st.booleans(),
)
def test_email_spans_match_the_regex_for_any_segmentation(
    text: str, cuts: list[int], from_zero: bool
) -> None:
    """AT's domains and _email_start's local parts, with the segment of each "@", also when
    the first segment starts after 0 (no local part before it) or at join()'s len + 1."""
    starts = sorted({*(cut for cut in cuts if cut <= len(text) + 1), *([0] if from_zero else [])})
    starts = starts or [0]
    segs = _engine._Segments(text, starts, None, len(text))
    hits = _gates_c(text, starts, len(text))
    assert (hits[1] if hits is not None else []) == _engine._email_spans_py(text, segs)


def test_labels_and_top_level_domains_at_their_length_limits() -> None:
    """Labels of 1-64 characters and top-level domains of 1-26 letters, before the end, a
    letter, a digit, "-", "_", "." or a non-ASCII word character: the regex's matches."""
    followers = ["", " ", ".", "-", "_", "1", "é", "\u0301", "\U0001d7ce", "\x00"]
    for label in (1, 2, 62, 63, 64):
        for tld in (1, 2, 3, 23, 24, 25, 26):
            for after in followers:
                text = "ana@" + "b" * label + "." + "c" * tld + after
                segs = _engine._Segments(text, [0], None, len(text))
                hits = _gates_c(text, [0], len(text))
                assert (hits[1] if hits else []) == _engine._email_spans_py(text, segs), text


def test_domains_with_many_labels_are_read_like_the_regex() -> None:
    """Thousands of labels (each step back walks to the previous dot, so the C search stays
    linear; its speed is for the benchmark, not a unit test) give the regex's answer."""
    for labels in (6_000, 24_000):
        for tail in ("1", "com", "c0m x"):
            text = "ana@" + "a." * labels + tail
            segs = _engine._Segments(text, [0], None, len(text))
            hits = _gates_c(text, [0], 0)
            assert (hits[1] if hits else []) == _engine._email_spans_py(text, segs)


# ---- the JSON tokenizer and its kept key table ----------------------------------------------

_MIN_STR, _MIN_INT, _MAX_DEPTH = 6, 100_000, 256
_KEY_POOL = [
    *("email", "name", "user", "customer", "phone", "id", "order_id", "sha256", "items", "dob"),
    *("address", "password", "first_name", "ip", "a", "b", "", "é", "e\u0301", "\u212a", "\x00"),
    *("k\x00ey", "\U0001f600", "über", "a b", '"q"', "back\\slash", "日本", "/", "\\u0000"),
]
_VALUES = [
    *("ana@example.org", "Ana Lima", "+33 6 12 34 56 78", "4111 1111 1111 1111", "short", ""),
    *("é" * 7, "\x00" * 6, "\U0001f600 smile", "line\nbreak value", 12, -7654321, 10**17, -0),
    *(100000, 1.5, True, None),
]


class _Obj:
    """A JSON object written with these exact (possibly repeated) keys, in this order."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items


def _string(text: str, rng: random.Random) -> str:
    """``text`` JSON-quoted, each character raw or escaped (\\uXXXX, surrogate pairs, \\/)."""
    if len(text) > 200:
        return json.dumps(text, ensure_ascii=rng.random() < 0.5)
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\' or code < 0x20:
            short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(ch)
            out.append(short if short and rng.random() < 0.7 else f"\\u{code:04x}")
        elif rng.random() < 0.6:
            out.append("\\/" if ch == "/" and rng.random() < 0.5 else ch)
        elif code >= 0x10000:
            high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
            out.append(f"\\u{high:04x}\\u{low:04X}")
        else:
            out.append(f"\\u{code:04X}" if rng.random() < 0.5 else f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def _dump(node: Any, rng: random.Random) -> str:
    """``node`` as JSON text with random spacing and escaping (the bytes vary, not the value)."""
    space = rng.choice(["", "", " ", "\n  ", "\t"])
    if isinstance(node, _Obj):
        members = (
            f"{space}{_string(key, rng)}{space}:{space}{_dump(value, rng)}"
            for key, value in node.items
        )
        return "{" + ",".join(members) + space + "}"
    if isinstance(node, list):
        return "[" + ",".join(space + _dump(item, rng) for item in node) + "]"
    if isinstance(node, str):
        return _string(node, rng)
    return json.dumps(node)


def _records(
    rng: random.Random, pool: Sequence[str], depth: int = 0
) -> Any:  # a JSON value as _Obj, list and leaves
    """Lists of records sharing a key order, with keys missing, added, moved or repeated."""
    if depth > 2 or rng.random() < 0.3 + 0.2 * depth:
        return rng.choice(_VALUES)
    shape = rng.sample(list(pool), min(len(pool), rng.randint(1, 6)))
    records: list[Any] = []
    for _ in range(rng.randint(1, 4)):
        keys = list(shape)
        change = rng.random()
        if change < 0.15:
            rng.shuffle(keys)
        elif change < 0.3:
            keys.pop(rng.randrange(len(keys)))
        elif change < 0.4:
            keys.insert(rng.randrange(len(keys) + 1), rng.choice(list(pool)))
        records.append(_Obj([(key, _records(rng, pool, depth + 1)) for key in keys]))
    return records if rng.random() < 0.7 else records[0]


def _reference(raw: bytes) -> tuple[Any, ...] | None:
    """json.loads + collect_py, as the tokenizer's fields (None: json.loads refuses)."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    collected = _structure.collect_py(document)
    negative = bytes(hint.negative for hint in collected.hints)
    return (*leaf_fields(collected), negative)


def _has_duplicate_key(raw: bytes) -> bool:
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        found = found or len({key for key, _ in items}) != len(items)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return found


def _check(raw: bytes) -> bool:
    """The tokenizer declines ``raw`` or reads it as the reference does; True when it read it."""
    fast = _structure.collect_json(raw)
    reference = _reference(raw)
    if reference is None:
        assert fast is None
        return False
    if fast is None:
        return False
    assert fast.negative is not None
    assert (*leaf_fields(fast), bytes(fast.negative)) == reference
    assert not _has_duplicate_key(raw)  # json.loads keeps the last value: must be declined
    return True


@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.randoms(use_true_random=False), st.integers(1, 5), st.booleans())
def test_consecutive_bodies_sharing_keys_read_like_json_loads(
    rng: random.Random, bodies: int, fresh: bool
) -> None:
    """Bodies read one after the other (the kept table and each key's guess of the next key
    carry over, also into the same records spelled with other escapes and spacing): each is
    declined or read as json.loads + collect_py read it; duplicate keys are declined."""
    if fresh:
        empty_the_kept_table()
    pool = [*_KEY_POOL, *(f"k{rng.randrange(40)}" for _ in range(8))]
    documents = [_records(rng, pool) for _ in range(bodies)]
    for document in documents * 2:
        _check(_dump(document, rng).encode("utf-8", "surrogatepass"))
    for document in documents:  # a repeated key in one object: always declined
        duplicated = _Obj([("dup", 1), *(document.items if isinstance(document, _Obj) else [])])
        duplicated.items.append(("dup", "ana@example.org"))
        assert _structure.collect_json(_dump(duplicated, rng).encode()) is None
    # (Generated documents may repeat a key, hold a lone surrogate or a long integer: declining
    # them all is right. The tests below read bodies that must not be declined.)


@pytest.mark.parametrize("size", [31, 32, 33, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025])
def test_the_key_table_growing_inside_an_open_object(size: int) -> None:
    """New keys inside a value move the table while its parent object is open (its previous
    key, its guesses and its duplicate marks must follow): read alike, duplicates declined."""
    empty_the_kept_table()
    inner = {f"g{size}_{i}": "ana@example.org" for i in range(size)}
    record = {"a": inner, "b": "Ana Lima here", "c": {"a": 1, "b": "value b"}, "d": "value d"}
    for body in ([record, record, {"b": "x" * 6, "a": {}}], {"x": record, "y": [record]}):
        assert _check(json.dumps(body).encode())
    nested_new = json.dumps({f"h{size}_{i}": 1 for i in range(size)})
    nested_other = json.dumps({f"i{size}_{i}": 1 for i in range(size)})
    for raw in (
        f'{{"a": {nested_new}, "a": "ana@example.org"}}',
        f'{{"x": {{"y": {nested_other}, "y": 1}}}}',
        f'[{{"p": 1, "q": {json.dumps({f"j{size}_{i}": 1 for i in range(size)})}, "p": 2}}]',
    ):
        assert _structure.collect_json(raw.encode()) is None
        assert _structure.collect_json(raw.replace('"a"', '"\\u0061"').encode()) is None
    assert _check(f'{{"x": {{"y": {nested_new}, "z": 1}}, "y": 2}}'.encode())


def test_many_distinct_keys_and_long_keys_leave_a_bounded_table() -> None:
    """Bodies over the kept table's bounds (4096 keys, 1 MB of keys) are read alike and the
    table kept afterwards stays within them; the next small body is read alike too."""
    small = json.dumps([{"email": "ana@example.org", "name": "Ana Lima"}] * 3).encode()
    many = json.dumps({f"key{i}": f"value {i}" for i in range(5000)}).encode()
    long_keys = json.dumps([{("L" * 300_000) + str(i): "ana@example.org" for i in range(4)}] * 2)
    for raw in (small, many, small, long_keys.encode(), small, many, many):
        assert _check(raw)
        _probes, _lookups, kept, _moved = speedups._key_table_stats()
        assert kept <= 4096


@pytest.mark.parametrize("depth", [63, 64, 65, 66, 127, 255])
def test_objects_nested_past_the_guess_depth(depth: int) -> None:
    """Objects deeper than GUESS_DEPTH (64) look their first key up by hash; read alike twice
    (the second time with the guesses of the first), with siblings at every level."""
    node: Any = "ana@example.org"
    for level in range(depth):
        node = {"k": node, f"s{level % 3}": "value"} if level % 2 else {"k": node}
    raw = json.dumps([node]).encode()
    for _ in range(2):
        assert _check(raw)
    assert _structure.collect_json(b'{"k":' * 257 + b"1" + b"}" * 257) is None


def test_escaped_spellings_of_one_key_are_one_key() -> None:
    """Escaped and raw spellings of one key ("é" and "\\u00e9", a surrogate-pair escape and
    the raw emoji, "\\u0041" and "A", "\\/" and "/") are one key: repeated in an object, the
    body is declined; in sibling records, one table entry. "\\u0000" (NUL) and the six
    characters backslash-u-0-0-0-0 are two keys."""
    spellings = [
        ('"é"', '"\\u00e9"'),
        ('"\\u00E9"', '"\\u00e9"'),
        ('"\\ud83d\\ude00"', '"\U0001f600"'),
        ('"\\u0041"', '"A"'),
        ('"a\\/b"', '"a/b"'),
    ]
    for first, second in spellings:
        for _ in range(2):
            for raw in (
                f"{{{first}: 1, {second}: 2}}",
                f'[{{{first}: "value 1"}}, {{{second}: 1}}]',
            ):
                body = raw.encode("utf-8")
                if raw.startswith("{"):
                    assert _structure.collect_json(body) is None
                else:
                    assert _check(body)
    assert _check(b'{"\\\\u0000": "value one", "\\u0000": "value two", "\\\\": "value 3"}')


def _hint_by_key(tag: str) -> Callable[[str, Hint], Hint]:
    """A key_hint of another shape: flags from a hash of the key (and the parent's kind)."""

    def hint(key: str, parent: Hint) -> Hint:
        bits = sum(map(ord, tag + key)) + parent.person_container
        kinds = frozenset({"EMAIL"}) if bits & 1 else frozenset()
        return Hint(kinds, bool(bits & 2), bool(bits & 4))

    return hint


def _leaves(raw: bytes, hint: Callable[[str, Hint], Hint], caches: _Caches) -> Any:
    return speedups.leaves(raw, NO_HINT, hint, NO_HINT, caches, 0, _MIN_STR, _MIN_INT, _MAX_DEPTH)


def test_hints_follow_the_key_hint_of_each_call() -> None:
    """The kept table's hints are never reused for another key_hint: alternating key_hint
    functions give each call its own function's hints."""
    keys = [f"key{i}" for i in range(40)]
    raw = json.dumps({key: "value of " + key for key in keys}).encode()
    functions = [_hint_by_key("x"), _hint_by_key("yz"), key_hint]
    caches: list[_Caches] = [({}, {}), ({}, {}), ({}, {})]
    for turn in range(9):
        which = turn % 3 if turn < 6 else 2 - turn % 3
        got = _leaves(raw, functions[which], caches[which])
        assert got is not None
        assert got[3] == [functions[which](key, NO_HINT) for key in keys]
    assert _check(raw)


def test_a_key_hint_that_reads_json_itself_gets_a_table_of_its_own() -> None:
    """A nested leaves() call (here from key_hint) reads with a table of its own: both the
    inner and the outer bodies are read alike."""
    inner = json.dumps([{"email": "ana@example.org", "user": {"name": "Ana Lima"}}] * 2).encode()
    inner_reads: list[bool] = []

    def reading_hint(key: str, parent: Hint) -> Hint:
        inner_reads.append(_check(inner))
        return key_hint(key, parent)

    rng = random.Random(7)
    for _ in range(5):
        document = _records(rng, _KEY_POOL)
        raw = _dump(document, rng).encode("utf-8", "surrogatepass")
        got = _leaves(raw, reading_hint, ({}, {}))
        reference = _reference(raw)
        if got is not None:
            assert reference is not None
            assert got[0] == reference[0]
            assert got[3] == reference[3]
    assert inner_reads
    assert all(inner_reads)


def test_a_kept_table_of_2048_keys_survives_the_next_body() -> None:
    """Once 2048 keys are kept, a body made of kept keys is still read by the tokenizer: the
    table grows only to insert a new key, and the keys it moves raise the probe budget."""
    empty_the_kept_table()
    for batch in range(16):
        body = {f"k{batch * 128 + i}": 1 for i in range(128)}
        assert _structure.collect_json(json.dumps(body).encode()) is not None
    assert speedups._key_table_stats()[2] == 2048
    assert _structure.collect_json(b'{"k0": "ana@example.org"}') is not None
