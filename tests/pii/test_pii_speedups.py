"""The optional C loops (_speedups.c) give exactly what their pure-Python references give."""

from __future__ import annotations

import array
import gc
import json
import shutil
import sysconfig
from enum import StrEnum
from typing import Any
from unittest import mock

import pytest
from bench.corpus import api_body, generate
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pii._strategies import KEYS, LEAVES, speedups
from tokenveil import pii
from tokenveil.pii import _engine, _patterns, _structure
from tokenveil.pii._claims import _CLAIMS_ROOT
from tokenveil.pii._evidence import NO_HINT, Hint
from tokenveil.pii._finding import Finding, Kind

needs_c = pytest.mark.skipif(speedups is None, reason="built without the C speedups")
documents = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(KEYS, children, max_size=4)
        | st.dictionaries(st.integers(), children, max_size=2)
    ),
    max_leaves=16,
)
root_hints = st.sampled_from([NO_HINT, _CLAIMS_ROOT, Hint(frozenset({"EMAIL"}), False, False)])


_GATE_FIELDS = ("shape", "emails", "spans", "quads", "glued", "aa00", "colons", "secrets")


def _c_gates(text: str, starts: Any = None, runs_end: int | None = None) -> dict[str, Any]:
    """The C gate hits by name; "no gate opens" (None) as empty hits."""
    hits = speedups.gates(
        text,
        [0] if starts is None else starts,
        len(text) if runs_end is None else runs_end,
        _patterns.ALL_TRIGGERS,
        _patterns.SHAPE,
    )
    if hits is None:
        shape = text.encode("latin-1", "replace").translate(_patterns.SHAPE)
        hits = (shape, [], [], [], [], [], [], [], [])
    return dict(zip((*_GATE_FIELDS, "triggered"), hits, strict=True))


def _fields(collected: _structure.Collected) -> tuple[Any, ...]:
    locs = [collected.loc(i) for i in range(len(collected.values))]
    return collected.values, locs, collected.hints, collected.keyed


@pytest.fixture
def pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_structure, "_speedups", None)
    monkeypatch.setattr(_engine, "_speedups", None)


def test_the_c_speedups_are_built_where_a_compiler_is() -> None:
    """`pip install` builds the extension whenever it can: a silent fallback would halve speed."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip("no C compiler: the pure-Python loops are expected")
    assert speedups is not None


@needs_c
@settings(max_examples=300, deadline=None)
@given(documents, root_hints)
def test_c_collect_matches_the_python_reference(document: Any, root_hint: Hint) -> None:
    """Same leaves, locations, hints and keyed indices, in the same order, for any document."""
    fast = _structure.collect(document, root_hint)
    reference = _structure.collect_py(document, root_hint)
    assert _fields(fast) == _fields(reference)
    assert fast.negative == bytes(h.negative for h in reference.hints)


@needs_c
@settings(max_examples=200, deadline=None)
@given(documents)
def test_c_join_matches_the_python_reference(document: Any) -> None:
    """Same joined text, segment starts, hints and order (negative-key values last)."""
    collected = _structure.collect(document)
    assert collected.negative is not None
    text, starts, hints, order, runs = speedups.join(
        collected.values, collected.hints, collected.negative
    )
    as_list = memoryview(starts).cast("q").tolist()
    order_list = memoryview(order).cast("q").tolist() if order is not None else []
    assert (text, as_list, hints, order_list, runs) == _structure._join_py(
        collected.values, collected.hints
    )


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"0", b"7", b"-", b"a", b" ", b"\xc3\xa9"]), max_size=60))
def test_c_long_digit_run_matches_the_python_reference(parts: list[bytes]) -> None:
    """20 digits in a row, or a minus and 19: the bodies orjson would misread."""
    raw = b"".join(parts)
    shape = raw.translate(_structure._DIGITS_TO_ZERO)
    assert speedups.long_digit_run(raw) == (
        _structure._LONG_DIGITS in shape or _structure._LONG_NEGATIVE in shape
    )


@needs_c
def test_c_and_python_find_the_same_on_the_corpus_and_api_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Findings are identical, output for output, with and without the C loops."""
    bodies = [d.body for d in generate(200, seed=7) if d.format == "json"]
    bodies += [api_body(20_000, seed=3).decode(), api_body(20_000, seed=3, pii_every=0).decode()]
    texts = [d.body for d in generate(200, seed=7) if d.format == "text"]
    raw_bodies = [b.encode() for b in bodies]  # bytes: read by the C tokenizer
    fast = [(pii.find_in_json(b), pii.mask_json(b)) for b in bodies]
    fast_raw = [pii.find_in_json(b) for b in raw_bodies]
    fast_texts = [pii.find(t) for t in texts]
    monkeypatch.setattr(_structure, "_speedups", None)
    monkeypatch.setattr(_engine, "_speedups", None)
    assert fast == [(pii.find_in_json(b), pii.mask_json(b)) for b in bodies]
    assert fast_raw == [pii.find_in_json(b) for b in raw_bodies]
    assert fast_texts == [pii.find(t) for t in texts]


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    documents,
    st.lists(st.sampled_from([0.3, 0.5, 0.75, 0.849999, 0.9, 0.97]), min_size=1, max_size=40),
    st.sampled_from([0.0, 0.5, 0.8]),
    st.sampled_from([None, frozenset({"EMAIL"}), frozenset({"PHONE", "PERSON"})]),
)
def test_c_bind_matches_the_python_reference(
    document: Any,
    confidences: list[float],
    min_confidence: float,
    wanted: frozenset[str] | None,
) -> None:
    """Same findings, paths and rounded confidences as the Python loop, for every leaf of any
    document (keys that need JSON quoting, integer dict keys, lists, the root itself)."""
    collected = _structure.collect(document)
    kinds = [Kind.EMAIL, Kind.PHONE, Kind.PERSON, Kind.IBAN]
    raws = [
        _engine.Raw(seg, kinds[seg % 4], seg % 3, seg % 3 + 2, confidences[seg % len(confidences)])
        for seg in range(len(collected.values))
    ]
    fast = _structure.findings_of(collected, raws, kinds=wanted, min_confidence=min_confidence)
    reference = _structure._findings_py(
        collected, raws, wanted, min_confidence, _structure.loc_path
    )
    assert fast == reference
    assert all(type(f) is Finding and type(f.kind) is str for f in fast)


@needs_c
def test_the_leaves_of_a_json_body_stay_out_of_the_garbage_collectors_sight() -> None:
    """The big per-value lists hold only atoms, location tuples and hints: untracked, no
    collector pass walks them while findings are built (a fifth of a 10 MB scan when tracked)."""
    body = api_body(20_000, seed=3)
    collected = _structure.collect_json(body)
    assert collected is not None
    lists = [collected.values, collected.parents, collected.steps, collected.hints]
    assert not any(gc.is_tracked(items) for items in lists)
    assert collected.negative is not None
    _text, _starts, joined_hints, order, _runs = speedups.join(
        collected.values, collected.hints, collected.negative
    )
    assert order is not None  # the body has values under negative keys: new lists were built
    assert not gc.is_tracked(joined_hints)
    # Nothing in them is a container that could lead back to them.
    assert all(type(v) is str for v in collected.values)
    assert all(type(h) is Hint for h in collected.hints)
    assert pii.find_in_json(body) == pii.find_in_json(body.decode())


class _Field(StrEnum):
    GIVEN = "given name"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        (1.5, '$["1.5"]'),
        ((1, 2), '$["(1, 2)"]'),
        (True, '$["true"]'),
        (2, "$[2]"),
        ("first name", '$["first name"]'),
        (_Field.GIVEN, '$["given name"]'),
    ],
)
def test_keys_of_any_type_get_a_path_not_an_exception(key: object, path: str) -> None:
    """Python objects may have float, tuple or bool keys: their paths are written as JSON would
    spell the key, by the C loop and the Python one alike (a float key used to raise TypeError)."""
    document = {key: "ana@example.org"}
    found = pii.find_in_object(document)
    assert [(f.kind, f.path) for f in found] == [("EMAIL", path)]
    collected = _structure.collect(document)
    raws = _structure.scan_collected(collected)
    assert _structure._findings_py(collected, raws, None, 0.5, _structure.loc_path) == found


def test_int_float_and_bool_keys_in_one_document_keep_their_own_paths() -> None:
    """1, 1.0 and True are equal dict keys: a step cache keyed by them wrote "$.b[1]" for True."""
    document = {"a": {1: "ana@example.org"}, "b": {True: "bob@example.org"}, "c": {1.0: "x@y.org"}}
    paths = [f.path for f in pii.find_in_object(document)]
    assert paths == ["$.a[1]", '$.b["true"]', '$.c["1.0"]']
    collected = _structure.collect(document)
    raws = _structure.scan_collected(collected)
    reference = _structure._findings_py(collected, raws, None, 0.5, _structure.loc_path)
    assert [f.path for f in reference] == paths


_PROSE = st.lists(
    st.sampled_from(
        [
            *_patterns.ALL_TRIGGERS,
            *("My Name is", "PASS", "Dear", "born", "\u212a", "K", "İ", "ß", "ana", "Lima"),
            *(" ", ": ", "\x00", "12", "é", "Straße", "\n", "Regards,", "1990"),
        ]
    ),
    max_size=14,
).map("".join)


@needs_c
@settings(max_examples=400, deadline=None)
@given(st.lists(_PROSE, min_size=1, max_size=5))
def test_c_trigger_segments_keep_every_segment_with_a_trigger(segments: list[str]) -> None:
    """The C filter may keep extra segments, never drop one whose lower() holds a trigger."""
    text = "\x00".join(segments)
    starts = [sum(len(s) + 1 for s in segments[:i]) for i in range(len(segments))]
    kept = set(_c_gates(text, starts)["triggered"])
    packed = memoryview(array.array("q", starts).tobytes()).cast("q")  # as join() returns them
    assert set(_c_gates(text, packed)["triggered"]) == kept
    for index, segment in enumerate(segments):
        lowered = segment.lower()
        if any(trigger in lowered for trigger in _patterns.ALL_TRIGGERS):
            assert index in kept


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.lists(_PROSE, min_size=1, max_size=5))
def test_c_phrase_filter_changes_no_finding(segments: list[str]) -> None:
    """Phrase findings in text and in JSON lists are the same with and without the C filter."""
    text = " ".join(segments)
    fast = (pii.find(text), pii.find_in_object(segments))
    with mock.patch.object(_engine, "_speedups", None):
        assert fast == (pii.find(text), pii.find_in_object(segments))


@needs_c
def test_c_collect_refuses_cycles_like_python() -> None:
    """A self-containing list raises RecursionError (callers fall back), never loops forever."""
    cyclic: list[object] = ["ana@example.org"]
    cyclic.append(cyclic)
    with pytest.raises(RecursionError):
        _structure.collect(cyclic)


@pytest.mark.usefixtures("pure_python")
def test_the_pure_python_fallback_still_finds_everything() -> None:
    """Without the extension, structure scans work as before (what CI without gcc runs)."""
    doc = {"user": {"name": "Ana Lima", "emails": ["x", "ana@example.org"]}, "n": 4111111111111111}
    assert [(f.kind, f.path) for f in pii.find_in_json(json.dumps(doc))] == [
        ("PERSON", "$.user.name"),
        ("EMAIL", "$.user.emails[1]"),
        ("CREDIT_CARD", "$.n"),
    ]
    long_integer = 123456789012345678901234  # orjson would read it as a float
    assert _structure.json_or_none(f'{{"n": {long_integer}}}'.encode()) == {"n": long_integer}


_SECRET_PIECES = st.sampled_from(
    [
        *("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIza", "A", "K", "I", "z", "ghp_", "gho_"),
        *("g", "h", "github_pat_", "xoxb-", "xox", "o", "x", "-", "_live_", "live_", "_"),
        *("sk_test_", "sk-", "s", "k", "$argon2", "$2", "$2a$", "$2b", "$", "2", "$scrypt$"),
        *("$7$", "7", "$pbkdf2", "pbkdf2_", "eyJ", "e", "earer", "Bearer ", "-----BEGIN"),
        *("----", "é", "\u20ac", "\U0001f600", "0", " ", "\x00"),
    ]
)


@needs_c
@settings(max_examples=500, deadline=None)
@given(st.lists(_SECRET_PIECES, max_size=20).map("".join))
def test_c_secret_positions_match_the_python_gates(text: str) -> None:
    """The one-pass C gate opens at exactly the positions of the regex and literal gates."""
    assert sorted(set(_c_gates(text)["secrets"])) == sorted(set(_engine._secret_positions_py(text)))


@needs_c
def test_c_gates_refuse_starts_of_another_width_and_bad_tables() -> None:
    """A buffer of starts must hold int64 and the shape table 256 bytes: anything else is
    refused, never misread."""
    with pytest.raises(TypeError):
        speedups.gates("abc", memoryview(b"\x00" * 8).cast("i"), 3, ("name",), _patterns.SHAPE)
    with pytest.raises(ValueError, match="256"):
        speedups.gates("abc", [0], 3, ("name",), b"0" * 255)
    with pytest.raises(ValueError, match="triggers"):
        speedups.gates("abc", [0], 3, ("n",), _patterns.SHAPE)
    for starts in ([], [1, 1], [2, 1], [-1], [0, 5]):
        with pytest.raises(ValueError, match="starts"):
            speedups.gates("abc", starts, 3, ("name",), _patterns.SHAPE)


_SHAPE_PIECES = st.sampled_from(
    [b"0", b"00", b"0000000", b"A", b"a", b"_", b".", b"/", b"-", b" ", b"(", b")", b"+", b":"]
)


# A text with each shape: "0" is a digit, "A" and "a" letters, the rest shape as themselves.
_TEXT_OF_SHAPE = bytes.maketrans(b"0Aa", b"7Qq")


@needs_c
@settings(max_examples=1000, deadline=None)
@given(st.lists(_SHAPE_PIECES, max_size=40).map(b"".join), st.integers(-2, 200))
def test_c_digit_gates_match_the_regexes(shape: bytes, runs_end: int) -> None:
    """Digit runs, dotted-quad gates and DNI/NIE gates: the same hits as RUN, IPV4_GATE and
    NIE_GATE, for any shape and any end of the digit-run region."""
    text = shape.translate(_TEXT_OF_SHAPE).decode("ascii")
    end = min(max(runs_end, 0), len(shape))
    hits = _c_gates(text, runs_end=runs_end)
    assert hits["shape"] == shape
    assert (hits["spans"], hits["quads"], hits["glued"]) == _engine._digit_gates_py(shape, end)


_GATE_PIECES = st.sampled_from(
    [
        *("0", "12", "4111111111111111", "+44 20 7946 0958", "1.2.3.4", "12345678Z", "X1234567L"),
        *("DE89", "GB82 WEST", "AB", "ab", "a", "A", "Z", "x", "@", "ana@example.org", ":", "::"),
        *(":ab:", "fe80::1", "2001:db8:0:0:1:0:0:1", ":12345:", "f:", "g:", " ", "-", ".", "/"),
        *("eyJ", "AKIA", "_live_", "$2b$", "Bearer ", "name", "Dear", "\x00", "?", "é", "ÿ"),
        *("\u0100", "\u20ac", "\U0001f600", "\uff10"),
    ]
)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(
    st.lists(_GATE_PIECES, max_size=30).map("".join),
    st.integers(-2, 300),
    st.lists(st.integers(0, 300), max_size=6),
)
def test_c_gates_match_the_python_gates(text: str, runs_end: int, cuts: list[int]) -> None:
    """One C pass gives the shape, "@", and the digit, AA00, colon and secret gate hits of the
    regexes and literal searches, for texts of every str width (None when nothing opens)."""
    starts = sorted({0, *(cut for cut in cuts if cut <= len(text))})
    segs = _engine._Segments(text, starts, None, min(max(runs_end, 0), len(text)))
    expected = _engine._gates_py(text, segs)
    got = speedups.gates(text, starts, runs_end, _patterns.ALL_TRIGGERS, _patterns.SHAPE)
    if expected is None or got is None:
        # The filters differ only in the phrase segments they pass on (C: trigger words,
        # Python: prose and label gates), so one side may still have segments to offer.
        only = expected if got is None else got
        assert only is None or only[:8] == (only[0], [], [], [], [], [], [], [])
        return
    assert got[:7] == expected[:7]
    assert sorted(set(got[7])) == sorted(set(expected[7]))


_EMAIL_PIECES = st.sampled_from(
    [
        *("@", ".", "-", "_", "'", "%", "+", " ", "\x00", "é", "ü", "\u0100", "\U0001f600", "1"),
        *("ana", "Ana.Lima", "x" * 63, "y" * 64, "com", "co", "c", "org1", "ab" * 12, "ab" * 13),
        *("example", "mail-server", "-bad", "bad-", "ex.ample", "@example.org", "ana@", "٣"),
        *(".com", "a" * 70, "\u212a", "ß"),
    ]
)


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.lists(_EMAIL_PIECES, max_size=16).map("".join), st.lists(st.integers(0, 200), max_size=4))
def test_c_email_spans_match_the_regex_and_the_local_part_walk(text: str, cuts: list[int]) -> None:
    """Domains as AT matches them (labels given back until the top-level domain fits, Unicode
    word characters after it), local parts as _email_start reads them, in the right segment."""
    starts = sorted({0, *(cut for cut in cuts if cut <= len(text))})
    segs = _engine._Segments(text, starts, None, len(text))
    assert _c_gates(text, starts)["emails"] == _engine._email_spans_py(text, segs)


@needs_c
def test_c_email_spans_of_deep_domains() -> None:
    """More labels than the C walk keeps positions for still give back like sre does."""
    for labels in (63, 64, 65, 70):
        for tld in ("com", "c0m", "x"):
            text = "ana@" + "a." * labels + tld + " and bob@" + "b-1." * labels + "org"
            segs = _engine._Segments(text, [0], None, len(text))
            assert _c_gates(text)["emails"] == _engine._email_spans_py(text, segs)


@needs_c
def test_c_gates_survive_a_call_with_other_triggers_made_during_a_call() -> None:
    """A finalizer that runs inside gates (an allocation there starts a collection) and calls
    gates with other trigger words replaces the kept trigger table: the outer call keeps
    reading its own table, which is freed only once it is done (ASan reported the former
    use-after-free)."""
    import gc

    other_triggers = ("pass", "other")
    nested: list[Any] = []

    class CallsGates:
        def __init__(self) -> None:
            self.cycle = self

        def __del__(self) -> None:
            nested.append(speedups.gates("my pass is x", [0], 12, other_triggers, _patterns.SHAPE))

    text = "\x00".join(["Dear Ana Lima", "order 12345678", "born on 1 May 1990", "ghp_" + "a" * 36])
    starts = [0, 14, 29, 48]
    expected = speedups.gates(text, starts, len(text), _patterns.ALL_TRIGGERS, _patterns.SHAPE)
    thresholds = gc.get_threshold()
    gc.collect()
    try:
        gc.set_threshold(1, 1, 1)
        for _ in range(50):
            CallsGates()  # garbage in a cycle: its finalizer runs at the next collection
            got = speedups.gates(text, starts, len(text), _patterns.ALL_TRIGGERS, _patterns.SHAPE)
            assert got == expected
    finally:
        gc.set_threshold(*thresholds)
        gc.collect()
    assert nested  # the finalizers did run gates with the other words
    assert all(hits is not None and hits[8] == [0] for hits in nested)
