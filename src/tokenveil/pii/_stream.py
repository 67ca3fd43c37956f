"""Scanning a body that arrives in chunks, without holding it whole.

The scanner keeps a tail window of already-seen text. A finding is reported once it starts
before ``len(buffer) - window``: every value we detect is shorter than the window, so such a
finding is already complete in the buffer, and one that starts later is found again, whole, in a
later round. Offsets are character offsets into the decoded stream.
"""

from __future__ import annotations

import codecs
from collections.abc import Collection

from tokenveil.errors import ConfigurationError
from tokenveil.pii._find import text_raws
from tokenveil.pii._finding import Finding

__all__ = ["StreamScanner"]

# Left context kept before the settled boundary, so context words ("phone:") still count.
_CONTEXT = 64


class StreamScanner:
    """Incremental PII scanner: ``feed(chunk)`` and ``close()`` return new findings.

    ``window`` bounds memory (about ``2 * window`` characters plus one chunk) and must exceed the
    longest value to be found; the default covers 16 KiB PEM blocks and 8 KiB JWTs.
    """

    __slots__ = (
        "_buf",
        "_buf_start",
        "_closed",
        "_decoder",
        "_emitted",
        "_kinds",
        "_min",
        "window",
    )

    def __init__(
        self,
        *,
        kinds: Collection[str] | None = None,
        min_confidence: float = 0.5,
        window: int = 17 * 1024,
        encoding: str = "utf-8",
    ) -> None:
        if window < 128:
            raise ConfigurationError("StreamScanner window must be at least 128 characters")
        self.window = window
        self._kinds = None if kinds is None else frozenset(kinds)
        self._min = min_confidence
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buf = ""
        self._buf_start = 0
        self._emitted = 0
        self._closed = False

    def feed(self, chunk: bytes) -> list[Finding]:
        """Add a chunk; returns the findings that are now settled."""
        if self._closed:
            raise ConfigurationError("StreamScanner.feed() after close()")
        self._buf += self._decoder.decode(chunk)
        # Scanning waits for two windows of text, so each character is scanned about twice.
        if len(self._buf) < 2 * self.window + _CONTEXT:
            return []
        return self._drain(final=False)

    def close(self) -> list[Finding]:
        """End of stream: returns every finding not reported yet."""
        if self._closed:
            return []
        self._buf += self._decoder.decode(b"", final=True)
        self._closed = True
        return self._drain(final=True)

    @property
    def buffered(self) -> int:
        """Characters currently held (for memory accounting and tests)."""
        return len(self._buf)

    def _drain(self, *, final: bool) -> list[Finding]:
        buf = self._buf
        boundary = len(buf) if final else len(buf) - self.window
        out: list[Finding] = []
        for raw in text_raws(buf):
            if raw.start >= boundary:
                continue  # found again, whole, in a later round
            absolute = self._buf_start + raw.start
            if absolute < self._emitted:
                continue  # reported in an earlier round
            if raw.confidence < self._min or (
                self._kinds is not None and raw.kind not in self._kinds
            ):
                continue
            out.append(
                Finding(
                    str(raw.kind), absolute, self._buf_start + raw.end, round(raw.confidence, 2)
                )
            )
        self._emitted = self._buf_start + boundary
        cut = max(0, boundary - _CONTEXT)
        self._buf = buf[cut:]
        self._buf_start += cut
        return out
