"""StreamScanner: chunked bodies, values split anywhere, bounded memory."""

from __future__ import annotations

import random

import pytest

from tokenveil import pii
from tokenveil.errors import ConfigurationError
from tokenveil.pii import StreamScanner

BODY = (
    '{"user": {"email": "ana.lima@example.org", "phone": "+33 6 12 34 56 78"}, '
    '"card": "4111 1111 1111 1111", "iban": "DE89 3704 0044 0532 0130 00", '
    '"ip": "203.0.113.9", "note": "Grüße von Zoë"}'
)


def _spans(findings: list[pii.Finding], text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in findings]


def test_values_split_at_every_offset_are_found_exactly_once() -> None:
    """Two chunks, split at every byte (mid-value and mid-UTF-8): same findings as one piece."""
    data = BODY.encode()
    expected = _spans(pii.find(BODY), BODY)
    assert len(expected) == 5
    for cut in range(len(data) + 1):
        scanner = StreamScanner(window=128)
        got = scanner.feed(data[:cut]) + scanner.feed(data[cut:]) + scanner.close()
        assert _spans(got, BODY) == expected, cut


def test_long_streams_in_small_chunks_keep_memory_bounded() -> None:
    """Hundreds of small chunks: every value found once, buffer never beyond 2 windows + chunk."""
    rng = random.Random(3)
    parts = [BODY.replace("ana.lima", f"user{i}") for i in range(40)]
    text = "\n".join(parts)
    data = text.encode()
    scanner = StreamScanner(window=256)
    found: list[pii.Finding] = []
    pos = 0
    peak = 0
    while pos < len(data):
        size = rng.randrange(1, 97)
        found += scanner.feed(data[pos : pos + size])
        peak = max(peak, scanner.buffered)
        pos += size
    found += scanner.close()
    assert _spans(found, text) == _spans(pii.find(text), text)
    assert len(found) == 5 * 40
    assert peak <= 2 * 256 + 64 + 97


def test_close_is_idempotent_and_feed_after_close_is_refused() -> None:
    """A closed scanner reports nothing more and refuses data."""
    scanner = StreamScanner()
    scanner.feed(b"mail ana@example.org")
    assert [f.kind for f in scanner.close()] == ["EMAIL"]
    assert scanner.close() == []
    with pytest.raises(ConfigurationError):
        scanner.feed(b"more")


def test_kinds_and_threshold_filter_stream_findings() -> None:
    """The stream scanner honours ``kinds`` and ``min_confidence`` like find()."""
    scanner = StreamScanner(kinds={"IBAN"})
    assert [f.kind for f in scanner.feed(BODY.encode()) + scanner.close()] == ["IBAN"]
    with pytest.raises(ConfigurationError):
        StreamScanner(window=10)
