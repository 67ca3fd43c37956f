"""The C JSON tokenizer (`_speedups.leaves`) reads exactly what json.loads + collect read, and
hands everything else back to the Python path."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from bench.corpus import api_body, generate
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.pii._strategies import KEYS, LEAVES, empty_the_kept_table, leaf_fields, speedups
from tokenveil import pii
from tokenveil.pii import _structure
from tokenveil.pii._evidence import NO_HINT, Hint, key_hint

pytestmark = pytest.mark.skipif(speedups is None, reason="built without the C speedups")
json_documents = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
_DUMPS = st.sampled_from(
    [
        {},
        {"ensure_ascii": False},
        {"indent": 2},
        {"separators": (",", ":"), "ensure_ascii": False},
        {"indent": "\t", "ensure_ascii": True},
    ]
)


def _python_path(raw: bytes) -> _structure.Collected | None:
    """What find_in_json does without the tokenizer: parse, then walk (None: not JSON)."""
    document = _structure.json_or_none(raw)
    if _structure.is_not_json(document):
        return None
    try:
        return _structure.collect(document)
    except RecursionError:
        return None


def _check(raw: bytes) -> _structure.Collected | None:
    """The tokenizer either declines or agrees with the Python path, field for field."""
    fast = _structure.collect_json(raw)
    reference = _python_path(raw)
    if reference is None:
        assert fast is None
    elif fast is not None:
        assert leaf_fields(fast) == leaf_fields(reference)
        assert fast.negative == reference.negative
    return fast


def _plain(document: Any) -> bool:
    """No integer the tokenizer leaves to Python (19 digits or more)."""
    if isinstance(document, dict):
        return all(_plain(v) for v in document.values())
    if isinstance(document, list):
        return all(_plain(v) for v in document)
    return not (type(document) is int and len(str(abs(document))) >= 19)


@settings(max_examples=400, deadline=None)
@given(json_documents, _DUMPS)
def test_any_json_document_gives_the_leaves_of_the_python_path(
    document: Any, options: dict[str, Any]
) -> None:
    """Same values, locations, hints, keyed indices and negative flags, in the same order."""
    raw = json.dumps(document, **options).encode()
    fast = _check(raw)
    if _plain(document):
        assert fast is not None  # nothing odd in it: the tokenizer must not decline


_PIECES = st.sampled_from(
    [
        *("{", "}", "[", "]", ",", ":", " ", "\n", '"', "\\", '\\"', "\\u", "\\n", "\\/", "'"),
        *('"email"', '"name"', '"user"', '"a"', '"a b"', '"ana@example.org"', '"x"', '""'),
        *("0", "-", "1", "-0", "1.5", "1e5", "12345678", "1234567890123456789", "007", "."),
        *("true", "false", "null", "NaN", "Infinity", "tru", "d800", "dc00", "00e9", "0041"),
        *("é", "\ufeff", "\x00", "\x1f", "\U0001f600", "\u2028"),
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_PIECES, max_size=24).map("".join))
@example('{"a": 1, "a": 2}')
@example('{"a": {"a": 1}, "a": 2}')
@example('{"a": {"b": 1}, "b": 2, "c": {"b": 3}}')
@example('{"\\u0061": 1, "a": 2}')
@example('["\\ud800"]')
@example('["\\udc00\\ud800"]')
@example('["\\ud83d\\ude00 \\u00e9\\u0000"]')
@example("\ufeff[1]")
@example("[NaN, Infinity, -Infinity]")
@example('{"order": -0, "phone": -0}')
@example("[1,]")
@example('{"a":1,}')
@example(" ")
@example("")
def test_malformed_or_odd_text_is_declined_or_read_alike(text: str) -> None:
    """Any mix of JSON pieces: never a crash, and never a reading json.loads would not give."""
    _check(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
@example(b'["\xed\xa0\x80"]')  # a UTF-8-encoded surrogate: json.loads keeps it lone
@example(b'["\xc0\xaf"]')  # overlong
@example(b'["\xf4\x90\x80\x80"]')  # past U+10FFFF
@example(b'["\xe2\x82"]')  # cut sequence
@example(b"\x00[\x001\x00]")
def test_arbitrary_bytes_are_declined_or_read_alike(raw: bytes) -> None:
    """Bytes of any kind (invalid UTF-8, NULs, cut sequences): declined or read alike."""
    _check(raw)


@settings(max_examples=300, deadline=None)
@given(json_documents, st.data())
def test_mutated_documents_are_declined_or_read_alike(document: Any, data: st.DataObject) -> None:
    """Valid JSON with one byte replaced, inserted or removed."""
    raw = bytearray(json.dumps(document, ensure_ascii=False).encode())
    pos = data.draw(st.integers(0, len(raw)))
    byte = data.draw(st.sampled_from(b'{}[]",:\\ 0-e.aZ\x00\xff\xc3'))
    action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if action == "insert" or pos == len(raw):
        raw.insert(pos, byte)
    elif action == "replace":
        raw[pos] = byte
    else:
        del raw[pos]
    _check(bytes(raw))


def test_odd_inputs_take_the_python_path() -> None:
    """Each shape json.loads reads differently from a strict RFC 8259 reader is declined."""
    for raw in [
        b'{"a": 1, "a": 2}',  # last value wins, first position
        b'{"a": {"b": 1, "b": 2}}',
        b'["\\ud800"]',  # lone surrogate escape
        b'["\xed\xa0\x80"]',  # surrogate in UTF-8 (json.loads decodes with surrogatepass)
        b"\xef\xbb\xbf[1]",  # UTF-8 BOM
        b"[NaN]",
        b'{"n": 1234567890123456789}',  # 19 digits: past what the tokenizer reads itself
        b"[" * 257 + b"]" * 257,  # deeper than the tokenizer follows
    ]:
        assert _structure.collect_json(raw) is None, raw
    deep = b'{"a":' * 255 + b'"ana@example.org"' + b"}" * 255
    assert _check(deep) is not None


def test_every_read_stays_inside_the_buffer() -> None:
    """Every prefix of a body (cut strings, escapes, numbers, UTF-8) is declined, never read
    past its end."""
    body = '{"k\\u00e9y": ["ana@example.org", -12345678, 1.5e3, "\\ud83d\\ude00é", true, null]}'
    raw = body.encode()
    for cut in range(len(raw)):
        assert _structure.collect_json(raw[:cut]) is None
    assert _check(raw) is not None


def test_find_in_json_is_the_same_through_the_tokenizer() -> None:
    """Bytes (tokenizer) and str (Python path) give identical findings on the corpus."""
    bodies = [d.body for d in generate(300, seed=11) if d.format == "json"]
    bodies += [api_body(50_000, seed=5).decode(), api_body(50_000, seed=5, pii_every=0).decode()]
    for body in bodies:
        assert _structure.collect_json(body.encode()) is not None
        assert pii.find_in_json(body.encode()) == pii.find_in_json(body)


def test_locations_cost_the_garbage_collector_nothing() -> None:
    """Location tuples hold only str, int, None and other locations: born untracked."""
    collected = _structure.collect_json(b'{"a": [{"b": "abcdefgh"}, ["ana@example.org"]]}')
    assert collected is not None
    assert collected.parents == [((None, "a"), 0), ((None, "a"), 1)]
    assert not any(gc.is_tracked(parent) for parent in collected.parents)


def test_special_bytes_are_seen_at_every_offset_of_an_eight_byte_word() -> None:
    """Strings are scanned 8 bytes at a time: a quote, escape, control or non-ASCII byte is
    handled the same whichever offset of the word it falls on."""
    specials = ['\\"', "\\\\", "\\n", "\\u00e9", "é", "\U0001f600", "\x1f", "\x7f", '"']
    for special in specials:
        for offset in range(18):
            value = "a" * offset + special + "b" * (17 - offset)
            raw = ('{"k": "' + value + '", "email": "ana@example.org"}').encode()
            _check(raw)
            if special not in ("\x1f", '"'):
                assert _structure.collect_json(raw) is not None, (special, offset)


def _colliding_keys(count: int, bits: int, prefix: str) -> list[str]:
    """``count`` distinct keys whose key-table hashes share their low ``bits`` bits: one slot of
    every table up to 2**bits entries (what an attacker could build had they the hash secret)."""
    mask = (1 << bits) - 1
    target = speedups._key_table_hash(prefix.encode()) & mask
    keys: list[str] = []
    n = 0
    while len(keys) < count:
        key = f"{prefix}{n}"
        if speedups._key_table_hash(key.encode()) & mask == target:
            keys.append(key)
        n += 1
    return keys


def _within_budget() -> tuple[int, int]:
    probes, lookups, _kept, moved = speedups._key_table_stats()
    budget = speedups.KEY_PROBES_BASE + speedups.KEY_PROBES_PER_LOOKUP * (lookups + moved)
    assert probes <= budget + 1
    return probes, lookups


def test_the_key_table_hash_is_keyed_by_the_process_secret() -> None:
    """Keys are hashed like bytes (SipHash, per-process secret): collisions cannot be planned."""
    for key in [b"", b"a", b"email", "k\u00e9y".encode(), b"x" * 100]:
        assert speedups._key_table_hash(key) == hash(key)


@pytest.mark.parametrize("padding", [0, 300])
def test_colliding_keys_are_declined_within_the_probe_budget(padding: int) -> None:
    """Keys that all land in one slot (made here with the secret; in the wild only with a fixed
    PYTHONHASHSEED) would cost quadratic probing: the table stops at its linear budget, when it
    grows (padding 0) or on a lookup (padding 300), and the Python path reads the body alike."""
    keys = [f"pad{i}" for i in range(padding)] + _colliding_keys(2000, 10, "k")
    body = {key: "ana@example.org" if i % 97 == 0 else i for i, key in enumerate(keys)}
    raw = json.dumps(body).encode()
    empty_the_kept_table()
    assert _structure.collect_json(raw) is None
    probes, lookups = _within_budget()
    # Declined long before the end: unbounded, the 2000 keys would take ~2 million probes. (The
    # keys moved when the table grows raise the budget too: padding 300 declines a little later.)
    assert lookups < padding + 150
    assert probes < 8_000
    assert pii.find_in_json(raw) == pii.find_in_json(raw.decode())


def test_ordinary_keys_stay_far_below_the_probe_budget() -> None:
    """Many distinct keys, and many repeats of a few, cost about one probe a key read."""
    wide = {f"field_{i}": i for i in range(50_000)}
    fast = _check(json.dumps(wide).encode())
    assert fast is not None
    probes, lookups = _within_budget()
    assert lookups == 50_000
    assert probes < 2 * lookups
    assert _check(api_body(200_000, seed=3)) is not None
    probes, lookups = _within_budget()
    assert probes < lookups


def test_the_key_table_is_kept_between_calls_within_its_bounds() -> None:
    """Keys read once are found again by the next body (no key str or hint per call), and a
    body that leaves too many keys behind empties the table."""
    page = api_body(2_000, seed=5)
    assert _check(page) is not None
    _probes, lookups, kept, _moved = speedups._key_table_stats()
    assert 0 < kept < lookups
    assert _check(page) is not None
    assert speedups._key_table_stats()[2] == kept  # nothing new to keep
    wide = json.dumps({f"field_{i}": "ana@example.org" for i in range(5_000)}).encode()
    assert _check(wide) is not None
    assert speedups._key_table_stats()[2] == 0  # over KEPT_KEYS: emptied
    assert _check(page) is not None
    assert speedups._key_table_stats()[2] == kept


def test_kept_keys_change_nothing_read_after_them() -> None:
    """Records whose keys come in another order, go missing, repeat in a sibling, or only share
    a prefix, read after bodies that taught the table other orders, give what json.loads gives;
    a duplicate key is still refused on the second reading."""
    bodies = [
        [{"id": 1, "name": "Ana Lima", "email": "ana@example.org"}] * 3,
        [{"email": "ana@example.org", "id": 1, "name": "Ana Lima"}, {"id": 2}],
        [{"name": "Ana Lima"}, {"nam": "Ana Lima", "name": "Ana Lima", "namex": "x"}],
        {"a": {"id": 1, "name": "Ana Lima"}, "b": [{"id": 1, "id2": {"name": "Ana"}}]},
    ]
    for _ in range(2):
        for body in bodies:
            assert _check(json.dumps(body).encode()) is not None
        duplicate = b'[{"id": 1, "name": "a"}, {"id": 1, "name": "b", "id": 2}]'
        assert _structure.collect_json(duplicate) is None


def test_a_nested_call_reads_with_a_table_of_its_own() -> None:
    """Key evidence that itself reads a body (as only a finalizer could, mid-call) gets a
    private table: both readings stay exact and the outer table is kept."""
    inner = json.dumps({"email": "ana@example.org", "phone": "+44 20 7946 0958"}).encode()
    inner_results = []

    def key_hint_reading_a_body(key: str, parent: Hint) -> Hint:
        collected = _structure.collect_json(inner)
        assert collected is not None
        inner_results.append(leaf_fields(collected))
        return key_hint(key, parent)

    outer = json.dumps([{"contact": "ana@example.org", "note": "call me"}] * 2).encode()
    got = speedups.leaves(
        outer,
        NO_HINT,
        key_hint_reading_a_body,
        NO_HINT,
        ({}, {}),
        64,
        _structure._MIN_SCANNED_STR,
        _structure._MIN_SCANNED_INT,
        _structure._MAX_DEPTH,
    )
    assert got is not None
    assert got[0] == ["ana@example.org", "call me", "ana@example.org", "call me"]
    expected = leaf_fields(_structure.collect_py(json.loads(inner)))
    assert inner_results
    assert all(result == expected for result in inner_results)


def test_threads_reading_at_once_each_get_exact_leaves() -> None:
    """Threads switch inside a call (key evidence is Python code): one call keeps the shared
    key table, the others read with tables of their own, and every reading stays exact."""
    import sys
    import threading

    def body(thread: int, round_: int) -> bytes:
        # Fresh keys every round, so key evidence (and a thread switch) happens mid-call.
        records = [
            {f"k{thread}_{round_}_{i}": "ana@example.org", "email": "ana@example.org", "id": i}
            for i in range(20)
        ]
        return json.dumps({"data": records, "page": round_}).encode()

    failures: list[str] = []

    def work(thread: int) -> None:
        for round_ in range(60):
            raw = body(thread, round_)
            fast = _structure.collect_json(raw)
            reference = _python_path(raw)
            if fast is None or reference is None or leaf_fields(fast) != leaf_fields(reference):
                failures.append(f"thread {thread} round {round_}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_a_finalizer_run_while_the_kept_table_is_emptied_reads_with_its_own() -> None:
    """Emptying the kept table (other evidence functions) drops its hints, whose finalizers may
    read a body themselves: they find the table taken and read with one of their own, never
    the half-freed one (ASan reported the former use-after-free)."""
    import gc

    doc = b'{"alpha": "value one", "beta": "value two", "gamma": {"delta": "value three"}}'
    caches: tuple[dict[str, tuple[Hint, int]], dict[str, tuple[Hint, int]]] = ({}, {})
    nested: list[Any] = []
    armed = [False]

    def args(hint: Any) -> tuple[Any, ...]:
        return (doc, NO_HINT, hint, NO_HINT, caches, 0, 6, 100_000, 256)

    class ReadsOnDelete(Hint):
        def __del__(self) -> None:
            if armed[0]:
                armed[0] = False
                nested.append(speedups.leaves(*args(hint_reading)))

    def hint_reading(key: str, parent: Hint) -> Hint:
        return ReadsOnDelete()

    def plain_hint(key: str, parent: Hint) -> Hint:
        return NO_HINT

    gc.disable()
    try:
        first = speedups.leaves(*args(hint_reading))  # kept: the table holds ReadsOnDelete hints
        assert first is not None
        del first
        armed[0] = True
        outer = speedups.leaves(*args(plain_hint))  # other evidence: the kept table is emptied
    finally:
        gc.enable()
    assert outer is not None
    assert outer[0] == ["value one", "value two", "value three"]
    assert len(nested) == 1
    assert nested[0] is not None
    assert nested[0][0] == ["value one", "value two", "value three"]
    assert nested[0][2] == ["alpha", "beta", "delta"]
