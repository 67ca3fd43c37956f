"""Properties over arbitrary input: spans stay in bounds, masked JSON is always JSON, and the
optional NER backend is used only when asked for."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenveil import pii
from tokenveil.errors import ConfigurationError
from tokenveil.pii import _engine, _ner
from tokenveil.pii._finding import Kind

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["ana@example.org", "4111 1111 1111 1111", "+33 6 12 34 56 78"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["email", "name", "password", "dob"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_text_findings_stay_inside_the_text(text: str) -> None:
    """Any text: findings are ordered, non-overlapping and inside the text."""
    findings = pii.find(text)
    previous_end = 0
    for finding in findings:
        assert previous_end <= finding.start < finding.end <= len(text)
        previous_end = finding.end


@settings(max_examples=60, deadline=None)
@given(json_values, st.sampled_from(["redact", "partial", "drop"]))
def test_mask_json_always_returns_valid_json(document: Any, operator: str) -> None:
    """Any JSON document, any operator: the output parses, and redact/drop leave nothing found."""
    masked = pii.mask_json(json.dumps(document), operator=operator)
    json.loads(masked)
    if operator != "partial":
        assert pii.find_in_json(masked) == []


def _resolve(document: Any, path: str) -> Any:
    """Follow a ``$.a["b c"][0]`` path (the format the scanners write)."""
    node, i = document, 1
    while i < len(path):
        if path[i] == ".":
            j = i + 1
            while j < len(path) and path[j] not in ".[":
                j += 1
            node, i = node[path[i + 1 : j]], j
        else:
            step, end = json.JSONDecoder().raw_decode(path, i + 1)
            node, i = node[step], end + 1
    return node


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_structured_offsets_index_the_value_at_the_path(document: Any) -> None:
    """Every finding's path resolves to a value and its offsets lie inside that value."""
    for finding in pii.find_in_object(document):
        assert finding.path is not None
        value = _resolve(document, finding.path)
        text = value if isinstance(value, str) else str(value)
        assert 0 <= finding.start < finding.end <= len(text)


@dataclass
class _Ent:
    label_: str
    start_char: int
    end_char: int


@dataclass
class _Doc:
    ents: list[_Ent]


def test_ner_is_used_only_when_asked_and_reports_people(monkeypatch: pytest.MonkeyPatch) -> None:
    """ner=True adds PERSON entities of the model; other entity labels are ignored."""
    text = "Anna met the Acme board"
    calls: list[str] = []

    def fake_nlp(value: str) -> _Doc:
        calls.append(value)
        return _Doc([_Ent("PERSON", 0, 4), _Ent("ORG", 13, 17)])

    monkeypatch.setattr(_ner, "_pipeline", lambda: fake_nlp)
    assert pii.find(text) == []
    assert calls == []
    assert [(f.kind, text[f.start : f.end]) for f in pii.find(text, ner=True)] == [
        ("PERSON", "Anna")
    ]


def test_ner_without_a_model_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for NER when spaCy or its model is missing fails clearly, not with ImportError."""
    monkeypatch.setattr(_ner, "_pipeline", lambda: None)
    assert not _ner.available()
    with pytest.raises(ConfigurationError):
        pii.find("Anna", ner=True)


_raws = st.lists(
    st.builds(
        _engine.Raw,
        seg=st.integers(0, 3),
        kind=st.sampled_from([str(kind) for kind in Kind]),
        start=st.integers(0, 20),
        end=st.integers(0, 26),
        confidence=st.sampled_from([0.5, 0.75, 0.9]),
    ),
    max_size=8,
)


@settings(max_examples=500, deadline=None)
@given(_raws)
def test_resolve_without_overlaps_keeps_what_the_priority_walk_keeps(raws: list[Any]) -> None:
    """The no-overlap shortcut of resolve gives exactly what the per-segment priority walk
    gives, in the same order, for any findings (overlapping, empty, repeated or not)."""

    def fields(found: list[Any]) -> list[tuple[Any, ...]]:
        return [(r.seg, r.kind, r.start, r.end, r.confidence) for r in found]

    copies = [_engine.Raw(r.seg, r.kind, r.start, r.end, r.confidence) for r in raws]
    walked = fields(_engine._resolve_overlaps(copies)) if len(copies) > 1 else fields(copies)
    assert fields(_engine.resolve(list(raws))) == walked


_WORD = re.compile(r"['’]?[^\W\d_][^\W\d_'’.-]*(?:[.'’-][^\W\d_]*)*\.?")
_NAME_PIECES = st.sampled_from(
    [
        *("Ana", "Lima", "van", "O", "Dr.", "d'", "K-H", "é", "ß", "x" * 30, "1", "_", "\u0660"),
        *(" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\x1c", ".", "'", "’", "-", ""),
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_NAME_PIECES, max_size=14).map("".join))
def test_a_name_value_is_one_to_six_name_words_as_split_reads_them(value: str) -> None:
    """The one-pattern name check says what splitting on whitespace and matching each word
    says: one to six words, at most 100 characters."""
    value = value.strip()
    words = value.split()
    expected = 1 <= len(words) <= 6 and len(value) <= 100 and all(_WORD.fullmatch(w) for w in words)
    assert _engine._looks_like_name(value) == expected
