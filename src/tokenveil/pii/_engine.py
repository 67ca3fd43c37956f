"""The detection engine: cheap screening over whole strings, validators only on candidates.

Speed comes from doing almost nothing per value. Structure-aware callers join every string value
of a document with ``\\x00`` (a character no pattern accepts) and scan the joined text once, so
the per-value cost is a list append, not a regex call. The screening:

* ``_patterns.AT`` finds ``@`` and a domain with the literal-prefix fast search of :mod:`re`;
  the local part is then walked backwards by hand (a leading ``[\\w.+-]+`` would make the
  engine try every position of every word).
* everything else runs behind a gate that :mod:`re` can search at memchr speed (a literal
  prefix) over the text or over its *shape* (digits mapped to ``0``, letters to ``A``/``a``), and
  the full pattern is then matched only at the gate (the patterns and gates live in
  :mod:`tokenveil.pii._patterns`).

A candidate becomes a finding only when a validator agrees (checksums, issuer ranges,
libphonenumber, :mod:`ipaddress`) and, for the ambiguous kinds, when evidence (a JSON key or
context words) speaks for it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from tokenveil.pii import _patterns as p
from tokenveil.pii import _validators as v
from tokenveil.pii._evidence import (
    NO_HINT,
    Hint,
    context_supports,
    negative_context,
)
from tokenveil.pii._finding import Kind

try:
    from tokenveil.pii import _speedups
except ImportError:  # installed without a C compiler: the regex gates below do the work
    _speedups = None  # type: ignore[assignment]

__all__ = ["SEP", "Raw", "resolve", "scan", "whole_value"]

# A member look-up such as Kind.PHONE costs ~150 ns on Python 3.11 (EnumType's __getattr__ puts
# every class attribute access on the slow path); the per-candidate code reads these instead.
_ADDRESS = Kind.ADDRESS
_API_KEY = Kind.API_KEY
_BEARER_TOKEN = Kind.BEARER_TOKEN
_CREDIT_CARD = Kind.CREDIT_CARD
_DATE_OF_BIRTH = Kind.DATE_OF_BIRTH
_EMAIL = Kind.EMAIL
_IBAN = Kind.IBAN
_IP_ADDRESS = Kind.IP_ADDRESS
_JWT = Kind.JWT
_NATIONAL_ID = Kind.NATIONAL_ID
_PASSWORD = Kind.PASSWORD
_PERSON = Kind.PERSON
_PHONE = Kind.PHONE
_PRIVATE_KEY = Kind.PRIVATE_KEY
_US_SSN = Kind.US_SSN

#: Joins values in a structure scan. No pattern accepts it, so no match crosses two values.
SEP = "\x00"
_CONTEXT_WIDTH = 48
_NEGATIVE_WIDTH = 20


@dataclass(slots=True)
class Raw:
    """A finding before it is bound to a path: segment index and offsets inside the segment."""

    seg: int
    kind: str
    start: int
    end: int
    confidence: float


def _window(text: str, seg_start: int, pos: int) -> str:
    return text[max(seg_start, pos - _CONTEXT_WIDTH) : pos]


class _Context:
    """Evidence for one candidate, computed only when a decision needs it."""

    __slots__ = ("_lowered", "_neg", "_seen", "hint", "pos", "seg_start", "text")

    def __init__(self, text: str, seg_start: int, pos: int, hint: Hint) -> None:
        self.text = text
        self.seg_start = seg_start
        self.pos = pos
        self.hint = hint
        self._lowered: str | None = None
        self._seen: dict[str, bool] = {}
        self._neg: bool | None = None

    def supports(self, kind: str) -> bool:
        if kind in self.hint.kinds:
            return True
        known = self._seen.get(kind)
        if known is None:
            # Only the asked kind's words are searched: most candidates ask about one kind.
            if self._lowered is None:
                self._lowered = _window(self.text, self.seg_start, self.pos).lower()
            known = self._seen[kind] = context_supports(self._lowered, kind)
        return known

    def negative(self) -> bool:
        if self.hint.negative:
            return True
        if self._neg is None:
            start = max(self.seg_start, self.pos - _NEGATIVE_WIDTH)
            self._neg = negative_context(self.text[start : self.pos])
        return self._neg


def _adjust(kind: str, base: float, ctx: _Context) -> float:
    """Context words for the kind raise confidence; order/hash/version words lower it."""
    if ctx.supports(kind):
        return min(0.99, base + 0.1)
    if ctx.negative():
        return base - 0.4
    return base


#: Phone verdicts of one scan, by (candidate, national): a verdict costs 3-10 µs (40 µs when the
#: shape needs phonenumbers' own parser) and API lists repeat a customer's number in every order.
#: Never kept across scans (it holds PII).
_PhoneMemo = dict[tuple[str, bool], float]


def _classify_digits(
    text: str,
    s: int,
    e: int,
    ctx: _Context,
    out: list[tuple[str, int, int, float]],
    phones: _PhoneMemo,
) -> None:
    cand = text[s:e]
    nxt = text[e] if e < len(text) else ""
    # Glued to letters on the right (a hex digest, "12345abc"): not a standalone number.
    if nxt.isalnum() and not (nxt in "xX" and text[e + 1 : e + 2].isdigit()):
        return
    # IPv4, date, SSN and year-range shapes start with a digit (every \d is isdigit):
    # "+44 ..." and "(0) ..." skip them.
    digit_led = cand[:1].isdigit()
    if digit_led and cand.count(".") == 3 and p.IPV4.fullmatch(cand):
        conf = v.ip_confidence(cand)
        if conf and not ctx.negative():
            out.append((_IP_ADDRESS, s, e, _adjust(_IP_ADDRESS, conf, ctx)))
        return
    if digit_led and p.DATE_SHAPE.fullmatch(cand):
        if ctx.supports(_DATE_OF_BIRTH) and v.parse_date(cand):
            out.append((_DATE_OF_BIRTH, s, e, 0.85))
        return
    if cand.isdigit():
        digits = cand
    elif cand[0] == "+" and cand[1:].isdigit():  # E.164, the usual shape of a stored phone
        digits = cand[1:]
    else:
        digits = cand.translate(p.KEEP_ALNUM).lstrip("+")
        if not digits.isdigit():
            return
    n = len(digits)
    if n < 7:
        return
    ssn_shaped = (digit_led and p.SSN_SHAPE.fullmatch(cand)) or (n == 9 and ctx.supports(_US_SSN))
    if ssn_shaped and v.is_us_ssn(digits):
        base = 0.8 if not cand.isdigit() else 0.6
        out.append((_US_SSN, s, e, _adjust(_US_SSN, base, ctx)))
        return
    if 12 <= n <= 19 and v.is_card(digits):
        base = 0.85 if cand.isdigit() or " " in cand or "-" in cand else 0.75
        out.append((_CREDIT_CARD, s, e, _adjust(_CREDIT_CARD, base, ctx)))
        return
    if digit_led and (p.YEAR_RANGE.fullmatch(cand) or p.IPV4_PREFIX.match(cand)):
        return
    if 7 <= n <= 15:
        keyed = ctx.supports(_PHONE)
        if keyed or cand.startswith(("+", "00", "(+")):
            key = (cand, keyed)
            conf = phones.get(key, -1.0)
            if conf < 0:
                conf = phones[key] = v.phone_confidence(cand.replace("(+", "+", 1), national=keyed)
            if conf:
                out.append((_PHONE, s, e, _adjust(_PHONE, conf, ctx)))
                return
    if n in (9, 11, 15) and cand.isdigit():
        found = v.national_id(digits)
        if found:
            _scheme, base = found
            conf = base + 0.4 if ctx.supports(_NATIONAL_ID) else _adjust(_NATIONAL_ID, base, ctx)
            out.append((_NATIONAL_ID, s, e, min(conf, 0.97)))


def _iban_span(text: str, s: int, e: int) -> int | None:
    """End of the valid IBAN starting at ``s``. The pattern may have swallowed a following
    upper-case word ("DE89 ... 00 AND"), so trailing letters are given back one at a time."""
    cand = text[s:e]
    positions = [i for i, ch in enumerate(cand) if ch != " "]
    compact = cand.replace(" ", "")
    length = min(len(compact), 34)
    while length >= 15:
        if v.is_iban(compact[:length]):
            return s + positions[length - 1] + 1
        if not compact[length - 1].isalpha():
            return None
        length -= 1
    return None


# The local part read backwards from "@": word characters (str.isalnum or "_") and the symbols.
_LOCAL_REVERSED = re.compile("[\\w" + re.escape("".join(sorted(p.LOCAL_SYMBOLS))) + "]*")


def _email_start(text: str, at: int, floor: int) -> int:
    limit = max(floor, at - 64)
    # Reversing at most 64 characters and matching once beats walking them one by one.
    run = _LOCAL_REVERSED.match(text[limit:at][::-1])
    i = at - (run.end() if run is not None else 0)
    while i < at and text[i] in ".-'":
        i += 1
    return i


class _Segments:
    """Maps positions of the joined text to segments (values) and their key evidence."""

    __slots__ = ("hints", "runs_end", "starts", "text")

    def __init__(
        self,
        text: str,
        starts: Sequence[int] | None,
        hints: Sequence[Hint] | None,
        runs_end: int | None = None,
    ):
        self.text = text
        self.starts = starts
        self.hints = hints
        self.runs_end = len(text) if runs_end is None else runs_end

    def bounds(self, idx: int) -> tuple[int, int, Hint]:
        """(start, end, hint) of segment ``idx``."""
        starts = self.starts
        if starts is None:
            return 0, len(self.text), NO_HINT
        end = starts[idx + 1] - 1 if idx + 1 < len(starts) else len(self.text)
        hint = self.hints[idx] if self.hints is not None else NO_HINT
        return starts[idx], end, hint

    def at(self, pos: int) -> tuple[int, int, int, Hint]:
        """(index, start, end, hint) of the segment holding ``pos``."""
        starts = self.starts
        if starts is None:
            return 0, 0, len(self.text), NO_HINT
        idx = bisect_right(starts, pos) - 1
        end = starts[idx + 1] - 1 if idx + 1 < len(starts) else len(self.text)
        hint = self.hints[idx] if self.hints is not None else NO_HINT
        return idx, starts[idx], end, hint


_Found = list[tuple[int, str, int, int, float]]


def _email_spans_py(text: str, segs: _Segments) -> list[tuple[int, int, int]]:
    """(segment, start, end) of every e-mail address: the domain by ``AT``, the local part read
    backwards from "@" (:func:`_email_start`)."""
    spans: list[tuple[int, int, int]] = []
    for m in p.AT.finditer(text):
        at = m.start()
        idx, seg_start, _end, _hint = segs.at(at)
        start = _email_start(text, at, seg_start)
        if start < at:
            spans.append((idx, start, m.end()))
    return spans


def _digit_runs(
    text: str,
    shape: bytes,
    spans: list[tuple[int, int]],
    quad_gates: list[int],
    segs: _Segments,
    found: _Found,
) -> None:
    """Numbers with separators (phones, cards, SSNs, IPv4, dates, numeric IDs), at the digit-run
    spans and dotted-quad gates of :func:`_gates` (values from ``runs_end`` on sit under negative
    keys, see :func:`scan`: their runs are never read)."""
    local: list[tuple[str, int, int, float]] = []
    seen = {s for s, _e in spans}
    phones: _PhoneMemo = {}
    for gate in quad_gates:
        for back in (1, 2, 3):
            quad = p.IPV4_AT.match(shape, gate - back)
            if quad is not None and quad.start() not in seen:
                seen.add(quad.start())
                spans.append(quad.span())
                break
    for s, e in spans:
        while s > 0 and shape[s - 1] in p.RUN_STARTS:
            s -= 1
        idx, seg_start, _end, hint = segs.at(s)
        if hint.negative:
            continue  # under order_id, sha256, version, amount...: never personal data
        local.clear()
        _classify_digits(text, s, e, _Context(text, seg_start, s, hint), local, phones)
        for kind, fs, fe, conf in local:
            found.append((idx, kind, fs, fe, conf))


def _digit_gates_py(
    shape: bytes, runs_end: int
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Digit-run spans and dotted-quad gates before ``runs_end``, and DNI/NIE gate positions
    (where a Spanish DNI/NIE may be: a digit run glued to a capital letter)."""
    spans = [m.span() for m in p.RUN.finditer(shape, 0, runs_end)]
    quads = [m.start() for m in p.IPV4_GATE.finditer(shape, 0, runs_end)]
    # The gate matches one character after the start of both shapes (12345678Z, X1234567L).
    glued = [m.start() - 1 for m in p.NIE_GATE.finditer(shape)]
    return spans, quads, glued


def _alnum(
    text: str, positions: list[int], glued: list[int], segs: _Segments, found: _Found
) -> None:
    """IBANs and letter-led national IDs, searched only next to an AA00 or DNI/NIE gate hit."""
    done: set[int] = set()
    for pos in sorted({*positions, *glued}):
        idx, seg_start, seg_end, hint = segs.at(pos)
        # A match starts at most 12 characters before its gate (a codice fiscale's "AA00" is its
        # fifth character) and is at most 42 long (IBAN with spaces), so the window never cuts one.
        for m in p.ALNUM.finditer(text, max(seg_start, pos - 12), min(seg_end, pos + 80)):
            s = m.start()
            if s > pos + 4:
                break
            if s in done:
                continue
            done.add(s)
            ctx = _Context(text, seg_start, s, hint)
            if m.lastgroup == "iban":
                end = _iban_span(text, s, m.end())
                if end is not None:
                    found.append((idx, _IBAN, s, end, _adjust(_IBAN, 0.9, ctx)))
                continue
            result = v.national_id(text[s : m.end()].translate(p.KEEP_ALNUM))
            if result:
                _scheme, base = result
                if ctx.supports(_NATIONAL_ID):
                    conf = base + 0.2
                else:
                    conf = _adjust(_NATIONAL_ID, base, ctx)
                found.append((idx, _NATIONAL_ID, s, m.end(), min(conf, 0.97)))


def _ipv6(text: str, colons: list[tuple[int, int]], segs: _Segments, found: _Found) -> None:
    last_end = -1
    for gate_start, gate_end in colons:
        if gate_start < last_end:
            continue
        idx, seg_start, seg_end, hint = segs.at(gate_start)
        window_start = max(seg_start, gate_start - 40, last_end)
        m = p.IPV6.search(text, window_start, min(seg_end, gate_end + 48))
        if m is None or m.start() > gate_start:
            continue
        last_end = m.end()
        cand = m.group()
        # Real host addresses have at least three groups; "::2" is also a Python slice.
        groups = sum(1 for group in cand.split(":") if group)
        if groups >= 3 and ("::" in cand or cand.count(":") >= 7):
            conf = v.ip_confidence(cand)
            if conf:
                ctx = _Context(text, seg_start, m.start(), hint)
                adjusted = _adjust(_IP_ADDRESS, conf, ctx)
                found.append((idx, _IP_ADDRESS, m.start(), m.end(), adjusted))


def _secret_positions_py(text: str) -> list[int]:
    """Where a secret may start (unsorted, may repeat, may be negative)."""
    positions: list[int] = []
    for gate in p.SECRET_GATES:
        for m in gate.finditer(text):
            positions.append(m.start() - 2 if m.group() == "_live_" else m.start())
    positions.extend(m.start() for m in p.HASH_GATE.finditer(text))
    for literal, back in p.SECRET_LITERALS:
        i = text.find(literal)
        while i != -1:
            positions.append(i - back)
            i = text.find(literal, i + 1)
    return positions


def _secrets(text: str, positions: list[int], segs: _Segments, found: _Found) -> None:
    covered = -1
    for pos in sorted(set(positions)):
        if pos < 0 or pos < covered:
            continue
        m = p.SECRETS.match(text, pos)
        if m is None:
            continue
        covered = m.end()
        idx = segs.at(pos)[0]
        group = m.lastgroup
        s, e = m.span()
        if group == "bearer_kw":
            bs, be = m.span("bearer")
            # "Bearer <JWT>": the more specific kind wins, with the same span.
            if p.JWT.fullmatch(text, bs, be):
                found.append((idx, _JWT, bs, be, 0.97))
            else:
                found.append((idx, _BEARER_TOKEN, bs, be, 0.9))
        elif group == "jwt":
            found.append((idx, _JWT, s, e, 0.97))
        elif group == "apikey":
            found.append((idx, _API_KEY, s, e, 0.95))
        elif group == "pem":
            found.append((idx, _PRIVATE_KEY, s, e, 0.99))
        elif group == "pwhash":
            found.append((idx, _PASSWORD, s, e, 0.95))


def _gated_segments(shape: bytes, segs: _Segments) -> list[int]:
    """Segments holding a prose or label gate match, found by searching the whole shape."""
    out: list[int] = []
    prose = p.PROSE_GATE.search(shape)
    label = p.LABEL_GATE.search(shape)
    while prose is not None or label is not None:
        if prose is not None and (label is None or prose.start() <= label.start()):
            hit = prose.start()
        else:
            hit = label.start() if label is not None else 0
        idx, _seg_start, seg_end, _hint = segs.at(hit)
        out.append(idx)
        pos = seg_end + 1
        if prose is not None and prose.start() < pos:
            prose = p.PROSE_GATE.search(shape, pos)
        if label is not None and label.start() < pos:
            label = p.LABEL_GATE.search(shape, pos)
    return out


def _phrases(
    text: str, shape: bytes, candidates: list[int], segs: _Segments, found: _Found
) -> None:
    """Name, address, password and birth-date phrases, in values that look like prose.

    A segment is read when it holds a prose or label gate match *and* a trigger word. The C
    gates list the segments that may hold a trigger (one pass, no regex) and the prose and label
    gates are searched in those; the Python gates list the segments with a prose or label gate
    match, and the phrase search then needs a trigger.
    """
    for idx in candidates:
        seg_start, seg_end, hint = segs.bounds(idx)
        if (
            p.PROSE_GATE.search(shape, seg_start, seg_end) is None
            and p.LABEL_GATE.search(shape, seg_start, seg_end) is None
        ):
            continue
        lowered = text[seg_start:seg_end].lower()
        if len(lowered) != seg_end - seg_start:  # a few characters lower-case to two
            lowered = text[seg_start:seg_end].translate(_ASCII_LOWER)
        _phrase_matches(text, lowered, idx, seg_start, seg_end, found)
        if p.BIRTH_TRIGGER_RE.search(lowered) is None:
            continue
        for m in p.WDATE.finditer(text, seg_start, seg_end):
            s, e = m.span()
            ctx = _Context(text, seg_start, s, hint)
            if ctx.supports(_DATE_OF_BIRTH) and v.parse_date(text[s:e]):
                found.append((idx, _DATE_OF_BIRTH, s, e, 0.85))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _phrase_matches(
    text: str, lowered: str, idx: int, seg_start: int, seg_end: int, found: _Found
) -> None:
    """PHRASES, searched only in a window around each trigger word of one segment."""
    covered = -1
    for trigger in p.PHRASE_TRIGGER_RE.finditer(lowered):
        hit = seg_start + trigger.start()
        if hit < covered:
            continue
        # A trigger word sits at most 7 characters into its phrase ("mot de passe"), and a
        # phrase with its value is at most ~200 characters long.
        m = p.PHRASES.search(text, max(seg_start, hit - 16, covered), min(seg_end, hit + 400))
        if m is None:
            continue
        covered = m.end()
        group = m.lastgroup
        # lastgroup may name either group of a phrase, depending on how sre closes them.
        if group in ("pw_kw", "pw"):
            ps, pe = m.span("pw")
            if not (
                p.MASKED_VALUE.fullmatch(text, ps, pe)
                or p.CODE_VALUE.fullmatch(text, ps, pe)
                or p.CODE_AFTER.match(text, pe)
            ):
                found.append((idx, _PASSWORD, ps, pe, 0.85))
        elif group in ("name_kw", "name"):
            found.append((idx, _PERSON, *m.span("name"), 0.75))
        elif group in ("addr_kw", "addr"):
            as_, ae = m.span("addr")
            if any(ch.isdigit() for ch in text[as_:ae]):
                found.append((idx, _ADDRESS, as_, ae, 0.75))


def _scan_into(
    text: str,
    seg_of: Sequence[int] | None,
    hints: Sequence[Hint] | None,
    runs_end: int | None = None,
) -> list[tuple[int, str, int, int, float]]:
    """Every validated candidate in ``text`` as (segment, kind, start, end, confidence).

    Each detector family runs behind a gate that costs about a memchr over the text: "@",
    a run of seven digits/separators in the shape, "AA00" in the shape, a colon pair, a secret's
    literal prefix, three words in a row. Validators run only where a gate opened.
    """
    found: _Found = []
    segs = _Segments(text, seg_of, hints, runs_end)
    gates = _gates(text, segs)
    if gates is None:
        return found
    shape, emails, spans, quads, glued, aa00, colons, secrets, triggered = gates
    for idx, start, end in emails:
        found.append((idx, _EMAIL, start, end, 0.9))
    if spans or quads:
        _digit_runs(text, shape, spans, quads, segs, found)
    if aa00 or glued:
        _alnum(text, aa00, glued, segs, found)
    if colons:
        _ipv6(text, colons, segs, found)
    if secrets:
        _secrets(text, secrets, segs, found)
    if triggered:
        _phrases(text, shape, triggered, segs, found)
    return found


#: What :func:`_gates` returns: (shape, e-mail spans, digit-run spans, dotted-quad gates, DNI/NIE
#: gates, AA00 gates, colon-gate spans, secret positions, segments for the phrase search).
_GateHits = tuple[
    bytes,
    list[tuple[int, int, int]],
    list[tuple[int, int]],
    list[int],
    list[int],
    list[int],
    list[tuple[int, int]],
    list[int],
    list[int],
]


def _gates(text: str, segs: _Segments) -> _GateHits | None:
    """Every detector's gate hits in ``text``, or None when no gate opens (most bodies)."""
    if _speedups is not None:
        starts = segs.starts if segs.starts is not None else [0]
        return _speedups.gates(text, starts, segs.runs_end, p.ALL_TRIGGERS, p.SHAPE)
    return _gates_py(text, segs)


def _gates_py(text: str, segs: _Segments) -> _GateHits | None:
    """:func:`_gates` with :mod:`re` and ``str.find``: the reference of the C pass."""
    shape = text.encode("latin-1", "replace").translate(p.SHAPE)
    emails = _email_spans_py(text, segs) if "@" in text else []
    spans, quads, glued = _digit_gates_py(shape, segs.runs_end)
    aa00 = [m.start() for m in p.AA00.finditer(shape)]
    colons = [m.span() for m in p.COLON_GATE.finditer(text)]
    secrets = _secret_positions_py(text)
    triggered = _gated_segments(shape, segs)
    if not (emails or spans or quads or glued or aa00 or colons or secrets or triggered):
        return None
    return shape, emails, spans, quads, glued, aa00, colons, secrets, triggered


def scan(
    text: str,
    seg_starts: Sequence[int] | None = None,
    hints: Sequence[Hint] | None = None,
    runs_end: int | None = None,
) -> list[Raw]:
    """Validated candidates of ``text``; with ``seg_starts``, offsets are per segment.

    Digit runs (phones, cards, SSNs, IPv4, dates, numeric IDs) are only looked for before
    ``runs_end``: a structure scan puts the values under negative keys after it.
    """
    out: list[Raw] = []
    for idx, kind, s, e, conf in _scan_into(text, seg_starts, hints, runs_end):
        base = seg_starts[idx] if seg_starts is not None else 0
        out.append(Raw(idx, kind, s - base, e - base, conf))
    return out


def whole_value(value: str, hint: Hint, seg: int) -> Raw | None:
    """A finding covering the whole value, decided by its key alone (names, addresses, DOBs,
    passwords, opaque tokens): these have no shape a pattern could recognise."""
    kinds = hint.kinds
    # Keys naming only pattern kinds (email, phone...) decide nothing alone (Hint.decides).
    if not hint.decides or not value or len(value) > 4096:
        return None
    stripped = value.strip()
    if not stripped or p.MASKED_VALUE.fullmatch(stripped):
        return None
    n = len(value)
    if _PASSWORD in kinds:
        return Raw(seg, _PASSWORD, 0, n, 0.9)
    if _PRIVATE_KEY in kinds and len(stripped) >= 32:
        return Raw(seg, _PRIVATE_KEY, 0, n, 0.85)
    if _DATE_OF_BIRTH in kinds:
        date_part = stripped[:10] if len(stripped) > 10 and stripped[4:5] == "-" else stripped
        if v.parse_date(date_part):
            return Raw(seg, _DATE_OF_BIRTH, 0, n, 0.9)
        return None
    if _PERSON in kinds and _looks_like_name(stripped):
        return Raw(seg, _PERSON, 0, n, 0.85)
    if _ADDRESS in kinds and any(ch.isalpha() for ch in stripped) and len(stripped) >= 4:
        return Raw(seg, _ADDRESS, 0, n, 0.8)
    if (_API_KEY in kinds or _BEARER_TOKEN in kinds) and _looks_like_secret(stripped):
        kind = _API_KEY if _API_KEY in kinds else _BEARER_TOKEN
        return Raw(seg, kind, 0, n, 0.8)
    return None


# Letters with inner apostrophes, hyphens and dots; "'t" (Dutch "van 't Hof") starts with one.
_NAME_WORD = r"['’]?[^\W\d_][^\W\d_'’.-]*(?:[.'’-][^\W\d_]*)*\.?"
# One to six such words separated by whitespace (\s is str.isspace, what str.split splits on;
# a word holds no whitespace, so each word is a whole run, as after split()).
_NAME = re.compile(rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,5}}")


def _looks_like_name(value: str) -> bool:
    """One to six name words (``value`` is stripped), at most 100 characters."""
    return len(value) <= 100 and _NAME.fullmatch(value) is not None


def _looks_like_secret(value: str) -> bool:
    if len(value) < 16 or " " in value:
        return False
    has_digit = any(ch.isdigit() for ch in value)
    has_alpha = any(ch.isalpha() for ch in value)
    return has_digit and has_alpha


# Overlaps keep the more specific kind: a JWT inside "Bearer ...", an address value that
# contains a postcode, a password value that is a bcrypt hash.
_PRIORITY: dict[str, int] = {
    kind: rank
    for rank, kind in enumerate(
        (
            _PRIVATE_KEY,
            _JWT,
            _API_KEY,
            _PASSWORD,
            _ADDRESS,
            _PERSON,
            _DATE_OF_BIRTH,
            _IBAN,  # before cards: an IBAN's digits can pass Luhn by chance
            _CREDIT_CARD,
            _US_SSN,
            _NATIONAL_ID,
            _EMAIL,
            _PHONE,
            _IP_ADDRESS,
            _BEARER_TOKEN,
        )
    )
}


_SEG_START = attrgetter("seg", "start")


def resolve(raws: list[Raw]) -> list[Raw]:
    """Drop overlapping findings of lower priority; the result is sorted by (segment, start)."""
    if len(raws) < 2:
        return raws
    # Most bodies hold no overlap at all: sorted by (segment, start), each finding then starts
    # at or after the end of every earlier one in its segment (spans are never empty), and all
    # are kept, in this order.
    raws.sort(key=_SEG_START)
    seg, reach = -1, 0
    for raw in raws:
        if raw.start >= raw.end or (raw.seg == seg and raw.start < reach):
            break  # an empty span or an overlap: the general path below decides
        seg, reach = raw.seg, raw.end
    else:
        return raws
    return _resolve_overlaps(raws)


def _resolve_overlaps(raws: list[Raw]) -> list[Raw]:
    """:func:`resolve` for findings that may overlap: per segment, by priority."""
    by_seg: dict[int, list[Raw]] = {}
    for raw in raws:
        by_seg.setdefault(raw.seg, []).append(raw)
    kept: list[Raw] = []
    for group in by_seg.values():
        if len(group) == 1:
            kept.append(group[0])
            continue
        group.sort(key=lambda r: (_PRIORITY.get(r.kind, 99), -r.confidence, r.start))
        # Kept spans never overlap, so each candidate only needs checking against its neighbours.
        starts: list[int] = []
        chosen: list[Raw] = []
        for raw in group:
            i = bisect_right(starts, raw.start)
            if i > 0 and chosen[i - 1].end > raw.start:
                continue
            if i < len(chosen) and chosen[i].start < raw.end:
                continue
            starts.insert(i, raw.start)
            chosen.insert(i, raw)
        kept.extend(chosen)
    kept.sort(key=lambda r: (r.seg, r.start))
    return kept
