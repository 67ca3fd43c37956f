"""The detection engine: cheap screening over whole strings, validators only on candidates.

Speed comes from doing almost nothing per value. Structure-aware callers join every string value
of a document with ``\\x00`` (a character no pattern accepts) and scan the joined text once, so
the per-value cost is a list append, not a regex call. The screening:

* ``_AT`` finds ``@`` followed by a domain with the literal-prefix fast search of :mod:`re`; the
  local part is then walked backwards by hand (a leading ``[\\w.+-]+`` would make the engine try
  every position of every word).
* everything else runs behind a gate that :mod:`re` can search at memchr speed (a literal
  prefix) over the text or over its *shape* (digits mapped to ``0``, letters to ``A``/``a``), and
  the full pattern is then matched only at the gate. Possessive quantifiers keep patterns linear.

A candidate becomes a finding only when a validator agrees (checksums, issuer ranges,
libphonenumber, :mod:`ipaddress`) and, for the ambiguous kinds, when evidence (a JSON key or
context words) speaks for it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from tokenveil.pii import _validators as v
from tokenveil.pii._evidence import NO_HINT, Hint, context_kinds, negative_context
from tokenveil.pii._finding import Kind

__all__ = ["SEP", "Raw", "resolve", "scan", "whole_value"]

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


# RFC 5322 atext minus the rarely used symbols, plus any letter (RFC 6531 internationalised).
_LOCAL_SYMBOLS = frozenset("._%+-'")

_AT = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")

_MONTH_WORDS = (
    r"(?:jan|feb|f[eé]v|mar|m[aä]r|apr|avr|abr|may|mai|mei|mag|jun|jui|jul|lug|aug|ao[uû]|ago|"
    r"sep|set|oct|okt|ott|nov|dec|d[eé]c|dez|dic|gen|ene|giu|lu)[a-zéû]*"
)

# A capitalised name word, hyphenated parts included: "Karl-Heinz", "O'Neil", "Tirabassi-Persico".
_NAME_WORD = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'’]+(?:-[A-ZÀ-ÖØ-Þ]?[a-zà-öø-ÿ'’]+)*"

# Secrets. Each is matched *at* a position found by a literal gate (see _SECRET_GATE).
_SECRETS = re.compile(
    "|".join(
        (
            r"(?P<pem>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[^\x00]{0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?)",
            r"(?P<jwt>(?<![\w-])eyJ[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]*+)",
            r"(?P<bearer_kw>(?<![\w-])[Bb]earer\s++(?P<bearer>[A-Za-z0-9._~+/-]{16,}+=*+))",
            r"(?P<apikey>(?<![\w-])(?:(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}"
            r"|gh[pousr]_[A-Za-z0-9]{36,}+|github_pat_[A-Za-z0-9_]{40,}+"
            r"|xox[abposr]-[A-Za-z0-9-]{10,}+|(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}+"
            r"|sk_test_[A-Za-z0-9]{16,}+|AIza[0-9A-Za-z_-]{35}"
            r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}+)(?![\w-]))",
            r"(?P<pwhash>\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
            r"|\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"
            r"|\$scrypt\$ln=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/.]+\$[A-Za-z0-9+/.]+"
            r"|\$7\$[./A-Za-z0-9]{11,}+\$[./A-Za-z0-9]{43}"
            r"|pbkdf2_sha(?:1|256|512)\$\d+\$[A-Za-z0-9+/=.]+\$[A-Za-z0-9+/=]+"
            r"|\$pbkdf2(?:-sha(?:1|256|512))?\$\d+\$[A-Za-z0-9./]+\$[A-Za-z0-9./]+)",
        )
    )
)
# Literal prefixes of every secret above; sre finds them with its fast literal search. The
# number is how far before the gate the secret starts ("sk" before "_live_", "B" before "earer").
_SECRET_GATE = re.compile(
    r"A(?:KIA|SIA|GPA|IDA|ROA|Iza)|gh[pousr]_|github_pat_|xox[abposr]-|_live_|sk_test_|sk-"
)
_SECRET_LITERALS: tuple[tuple[str, int], ...] = (
    ("eyJ", 0),
    ("earer", 1),
    ("-----BEGIN", 0),
    ("$", 0),
    ("pbkdf2_", 0),
)

# Phrases that introduce a person, an address, a password or a birth date in free text.
_PHRASES = re.compile(
    "|".join(
        (
            r"(?P<pw_kw>(?i:\b(?:password|passwd|pwd|passphrase|passwort|mot de passe|"
            r"contrase[ñn]a|wachtwoord)[\"']?\s*(?:[:=]|is\b|ist\b|est\b|es\b)\s*[\"']?)"
            r"(?P<pw>[^\s\"',;\x00]{4,128}+))",
            r"(?P<name_kw>(?i:\bmy name is|\bname\s*:|\bdear|\bmein name ist|\bje m'appelle|"
            r"\bme llamo|\bmi chiamo|\bmijn naam is|\bich bin|\bje suis|\bsoy|\bsono|"
            r"\bregards,|\bsincerely,|\bcordialement,|\bgrüße,|\bsaludos,|\bsaluti,|\bgroeten,)"
            r"[ \t]*\n?[ \t]*)"
            r"(?P<name>" + _NAME_WORD + r"(?:[ \t]+(?:(?:van|von|de|der|den|di|da|du|del|"
            r"la|le|dos|das|ten|ter)[ \t]+)*" + _NAME_WORD + r"){1,3})",
            r"(?P<addr_kw>(?i:\bi live at|\blives at|\bmy address is|\baddress\s*:|\badresse\s*:|"
            r"\bship to|\bdeliver to|\bsend it to|\bwohne in der|\bwohne in|\bj'habite au|"
            r"\bj'habite|\bvivo en|\babito in|\bwoon op|\bwoon aan|\bdirección\s*:|"
            r"\bindirizzo\s*:|\badres\s*:)[ \t]*)"
            # Ends at a sentence end, not at an abbreviation: "Hauptstr. 5" goes on.
            r"(?P<addr>[^\n\x00]{4,160}?)(?=\.(?:[ \t]+[A-ZÀ-Ö]|\s*$|\s*\n)|\n|\x00|$)",
        )
    )
)
# Dates spelled with a month name; only looked for where birth words appear.
_WDATE = re.compile(
    r"(?i:\b\d{1,2}\.?[ \t]+" + _MONTH_WORDS + r"\.?,?[ \t]+\d{4}\b"
    r"|\b" + _MONTH_WORDS + r"\.?[ \t]+\d{1,2},?[ \t]+\d{4}\b)"
)
_BIRTH_WORDS = re.compile(
    r"(?i:born|birth|\bdob\b|d\.o\.b|geboren|geburt|né le|née le|naissance|nacid|nacimiento|"
    r"nato il|nata il|nascita|geboorte)"
)

# Letter-led national identifiers and IBANs (upper case, as printed).
_ALNUM = re.compile(
    r"(?P<iban>(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,32}+)"
    r"|(?P<idalnum>(?<![A-Za-z0-9])(?:[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]"
    r"|[XYZ]-?\d{7}-?[A-Z]|\d{8}-?[A-Z]|[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])"
    r"(?![A-Za-z0-9]))"
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}+[0-9A-Fa-f]{0,4}+"
    r"(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?(?![\w:])"
)
_COLON_GATE = re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")

# The shape of a text: digits -> "0", upper case -> "A", lower case -> "a", in bytes with one
# byte per character (latin-1, anything else -> "?"), so offsets are the text's offsets. Runs of
# digits and separators are then found with a pattern led by the literal "0", which sre scans
# for at memchr speed instead of trying a character class at every position.
# "x" keeps its own shape so a phone extension ("...6317x066") does not glue a number to a word.
_SHAPE_KEEP = b"_./-()+ :,;"
_LATIN1_UPPER = bytes([*range(0xC0, 0xD7), *range(0xD8, 0xDF)])
_LATIN1_LOWER = bytes([*range(0xDF, 0xF7), *range(0xF8, 0x100)])
_SHAPE = bytes.maketrans(
    bytes(range(256)),
    bytes(
        b"0"[0]
        if chr(i).isdigit() and i < 0x80
        else b"A"[0]
        if (0x41 <= i <= 0x5A or i in _LATIN1_UPPER)
        else (i if i == 0x78 else b"a"[0])  # "x" keeps its own shape
        if (0x61 <= i <= 0x7A or i in _LATIN1_LOWER)
        else i
        if i in _SHAPE_KEEP
        else b"|"[0]  # every other character: not glue, not a separator
        for i in range(256)
    ),
)
# Seven or more digits with the separators people type, not glued to a word on either side.
# The lookbehind sits after the first "0" so the literal prefix (and its fast search) survives.
# (Trying the pattern only at run starts found by literal search was measured: 2-3x slower.)
_RUN = re.compile(rb"0(?<![0Aa_./-]0)(?:[ .()/-]{0,2}+0){6,}+(?![0Aa_])")
# Dotted quads are shorter ("8.8.8.8" has four digits): gated on ".0.0." (dots are rarer than
# digits), then matched from the first digit.
_IPV4_GATE = re.compile(rb"\.0{1,3}\.0{1,3}\.0")
_IPV4_AT = re.compile(rb"0(?<![0Aa_./-]0)0{0,2}\.0{1,3}\.0{1,3}\.0{1,3}(?![0Aa_]|\.0)")
# Spanish DNI (8 digits + letter) and NIE (letter + 7 digits + letter) end glued to a letter.
_NIE_GATE = re.compile(rb"0000000-?A(?![Aa0])")
_AA00 = re.compile(rb"AA00")
# Phrase detection only runs on values that read like prose (three words in a row) or hold a
# "label: value" pair.
_PROSE_GATE = re.compile(rb" [aA]a*[,;]? [aA]a*[,;]? [aA]")
_LABEL_GATE = re.compile(rb"a: ")
_RUN_STARTS = frozenset(b"+(")


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_SSN_SHAPE = re.compile(r"\d{3}[- ]\d{2}[- ]\d{4}")
_DATE_SHAPE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{4}")
_KEEP_ALNUM = str.maketrans("", "", " -./()\t")
_MASKED_VALUE = re.compile(r"[*•xX#]{3,}|\[[A-Z_]+\]|<[a-z_ -]+>|redacted|null|none|\*+", re.I)


def _window(text: str, seg_start: int, pos: int) -> str:
    return text[max(seg_start, pos - _CONTEXT_WIDTH) : pos]


class _Context:
    """Evidence for one candidate, computed only when a decision needs it."""

    __slots__ = ("_kinds", "_neg", "hint", "pos", "seg_start", "text")

    def __init__(self, text: str, seg_start: int, pos: int, hint: Hint) -> None:
        self.text = text
        self.seg_start = seg_start
        self.pos = pos
        self.hint = hint
        self._kinds: frozenset[str] | None = None
        self._neg: bool | None = None

    def supports(self, kind: str) -> bool:
        if kind in self.hint.kinds:
            return True
        if self._kinds is None:
            self._kinds = context_kinds(_window(self.text, self.seg_start, self.pos))
        return kind in self._kinds

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


def _classify_digits(
    text: str, s: int, e: int, ctx: _Context, out: list[tuple[str, int, int, float]]
) -> None:
    cand = text[s:e]
    nxt = text[e] if e < len(text) else ""
    # Glued to letters on the right (a hex digest, "12345abc"): not a standalone number.
    if nxt.isalnum() and not (nxt in "xX" and text[e + 1 : e + 2].isdigit()):
        return
    if cand.count(".") == 3 and _IPV4.fullmatch(cand):
        conf = v.ip_confidence(cand)
        if conf and not ctx.negative():
            out.append((Kind.IP_ADDRESS, s, e, _adjust(Kind.IP_ADDRESS, conf, ctx)))
        return
    if _DATE_SHAPE.fullmatch(cand):
        if ctx.supports(Kind.DATE_OF_BIRTH) and v.parse_date(cand):
            out.append((Kind.DATE_OF_BIRTH, s, e, 0.85))
        return
    digits = cand.translate(_KEEP_ALNUM).lstrip("+")
    n = len(digits)
    if n < 7 or not digits.isdigit():
        return
    ssn_shaped = _SSN_SHAPE.fullmatch(cand) or (n == 9 and ctx.supports(Kind.US_SSN))
    if ssn_shaped and v.is_us_ssn(digits):
        base = 0.8 if not cand.isdigit() else 0.6
        out.append((Kind.US_SSN, s, e, _adjust(Kind.US_SSN, base, ctx)))
        return
    if 12 <= n <= 19 and v.is_card(digits):
        base = 0.85 if cand.isdigit() or " " in cand or "-" in cand else 0.75
        out.append((Kind.CREDIT_CARD, s, e, _adjust(Kind.CREDIT_CARD, base, ctx)))
        return
    international = cand.startswith(("+", "00", "(+"))
    if 7 <= n <= 15 and (international or ctx.supports(Kind.PHONE)):
        conf = v.phone_confidence(cand.replace("(+", "+", 1), national=ctx.supports(Kind.PHONE))
        if conf:
            out.append((Kind.PHONE, s, e, _adjust(Kind.PHONE, conf, ctx)))
            return
    if n in (9, 11, 15) and cand.isdigit():
        found = v.national_id(digits)
        if found:
            _scheme, base = found
            conf = (
                base + 0.4
                if ctx.supports(Kind.NATIONAL_ID)
                else _adjust(Kind.NATIONAL_ID, base, ctx)
            )
            out.append((Kind.NATIONAL_ID, s, e, min(conf, 0.97)))


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


def _email_start(text: str, at: int, floor: int) -> int:
    i = at
    limit = max(floor, at - 64)
    while i > limit and (
        text[i - 1].isalnum() or text[i - 1] in _LOCAL_SYMBOLS or text[i - 1] == "_"
    ):
        i -= 1
    while i < at and text[i] in ".-'":
        i += 1
    return i


class _Segments:
    """Maps positions of the joined text to segments (values) and their key evidence."""

    __slots__ = ("hints", "starts", "text")

    def __init__(self, text: str, starts: Sequence[int] | None, hints: Sequence[Hint] | None):
        self.text = text
        self.starts = starts
        self.hints = hints

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


def _emails(text: str, segs: _Segments, found: _Found) -> None:
    for m in _AT.finditer(text):
        at = m.start()
        idx, seg_start, _end, _hint = segs.at(at)
        start = _email_start(text, at, seg_start)
        if start < at:
            found.append((idx, Kind.EMAIL, start, m.end(), 0.9))


def _digit_runs(text: str, shape: bytes, segs: _Segments, found: _Found) -> list[int]:
    """Numbers with separators (phones, cards, SSNs, IPv4, dates, numeric IDs). Returns the
    positions of digit runs glued to a capital letter, which may be a Spanish DNI/NIE."""
    local: list[tuple[str, int, int, float]] = []
    spans = [m.span() for m in _RUN.finditer(shape)]
    seen = {s for s, _e in spans}
    for gate in _IPV4_GATE.finditer(shape):
        for back in (1, 2, 3):
            quad = _IPV4_AT.match(shape, gate.start() - back)
            if quad is not None and quad.start() not in seen:
                seen.add(quad.start())
                spans.append(quad.span())
                break
    for s, e in spans:
        while s > 0 and shape[s - 1] in _RUN_STARTS:
            s -= 1
        idx, seg_start, _end, hint = segs.at(s)
        if hint.negative:
            continue  # under order_id, sha256, version, amount...: never personal data
        local.clear()
        _classify_digits(text, s, e, _Context(text, seg_start, s, hint), local)
        for kind, fs, fe, conf in local:
            found.append((idx, kind, fs, fe, conf))
    # The gate matches one character after the start of both shapes (12345678Z, X1234567L).
    return [m.start() - 1 for m in _NIE_GATE.finditer(shape)]


def _alnum(text: str, shape: bytes, glued: list[int], segs: _Segments, found: _Found) -> None:
    """IBANs and letter-led national IDs, searched only next to a gate hit."""
    positions = [m.start() for m in _AA00.finditer(shape)]
    if not positions and not glued:
        return
    done: set[int] = set()
    for pos in sorted({*positions, *glued}):
        idx, seg_start, seg_end, hint = segs.at(pos)
        # A match starts at most 12 characters before its gate (a codice fiscale's "AA00" is its
        # fifth character) and is at most 42 long (IBAN with spaces), so the window never cuts one.
        for m in _ALNUM.finditer(text, max(seg_start, pos - 12), min(seg_end, pos + 80)):
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
                    found.append((idx, Kind.IBAN, s, end, _adjust(Kind.IBAN, 0.9, ctx)))
                continue
            result = v.national_id(text[s : m.end()].translate(_KEEP_ALNUM))
            if result:
                _scheme, base = result
                if ctx.supports(Kind.NATIONAL_ID):
                    conf = base + 0.2
                else:
                    conf = _adjust(Kind.NATIONAL_ID, base, ctx)
                found.append((idx, Kind.NATIONAL_ID, s, m.end(), min(conf, 0.97)))


def _ipv6(text: str, segs: _Segments, found: _Found) -> None:
    last_end = -1
    for gate in _COLON_GATE.finditer(text):
        if gate.start() < last_end:
            continue
        idx, seg_start, seg_end, hint = segs.at(gate.start())
        window_start = max(seg_start, gate.start() - 40, last_end)
        m = _IPV6.search(text, window_start, min(seg_end, gate.end() + 48))
        if m is None or m.start() > gate.start():
            continue
        last_end = m.end()
        cand = m.group()
        if "::" in cand or cand.count(":") >= 7:
            conf = v.ip_confidence(cand)
            if conf:
                ctx = _Context(text, seg_start, m.start(), hint)
                adjusted = _adjust(Kind.IP_ADDRESS, conf, ctx)
                found.append((idx, Kind.IP_ADDRESS, m.start(), m.end(), adjusted))


def _secret_positions(text: str) -> list[int]:
    positions: list[int] = []
    for m in _SECRET_GATE.finditer(text):
        positions.append(m.start() - 2 if m.group() == "_live_" else m.start())
    for literal, back in _SECRET_LITERALS:
        i = text.find(literal)
        while i != -1:
            positions.append(i - back)
            i = text.find(literal, i + 1)
    return positions


def _secrets(text: str, segs: _Segments, found: _Found) -> None:
    covered = -1
    for pos in sorted(set(_secret_positions(text))):
        if pos < 0 or pos < covered:
            continue
        m = _SECRETS.match(text, pos)
        if m is None:
            continue
        covered = m.end()
        idx = segs.at(pos)[0]
        group = m.lastgroup
        s, e = m.span()
        if group == "bearer_kw":
            bs, be = m.span("bearer")
            # "Bearer <JWT>": the more specific kind wins, with the same span.
            if _JWT.fullmatch(text, bs, be):
                found.append((idx, Kind.JWT, bs, be, 0.97))
            else:
                found.append((idx, Kind.BEARER_TOKEN, bs, be, 0.9))
        elif group == "jwt":
            found.append((idx, Kind.JWT, s, e, 0.97))
        elif group == "apikey":
            found.append((idx, Kind.API_KEY, s, e, 0.95))
        elif group == "pem":
            found.append((idx, Kind.PRIVATE_KEY, s, e, 0.99))
        elif group == "pwhash":
            found.append((idx, Kind.PASSWORD, s, e, 0.95))


def _phrases(text: str, shape: bytes, segs: _Segments, found: _Found) -> None:
    """Name, address, password and birth-date phrases, in values that look like prose."""
    pos = 0
    prose = _PROSE_GATE.search(shape)
    label = _LABEL_GATE.search(shape)
    while prose is not None or label is not None:
        if prose is not None and (label is None or prose.start() <= label.start()):
            hit = prose.start()
        else:
            hit = label.start() if label is not None else 0
        idx, seg_start, seg_end, hint = segs.at(hit)
        pos = seg_end + 1
        if prose is not None and prose.start() < pos:
            prose = _PROSE_GATE.search(shape, pos)
        if label is not None and label.start() < pos:
            label = _LABEL_GATE.search(shape, pos)
        for m in _PHRASES.finditer(text, seg_start, seg_end):
            group = m.lastgroup
            # lastgroup may name either group of a phrase, depending on how sre closes them.
            if group in ("pw_kw", "pw"):
                ps, pe = m.span("pw")
                if not _MASKED_VALUE.fullmatch(text, ps, pe):
                    found.append((idx, Kind.PASSWORD, ps, pe, 0.85))
            elif group in ("name_kw", "name"):
                found.append((idx, Kind.PERSON, *m.span("name"), 0.75))
            elif group in ("addr_kw", "addr"):
                as_, ae = m.span("addr")
                if any(ch.isdigit() for ch in text[as_:ae]):
                    found.append((idx, Kind.ADDRESS, as_, ae, 0.75))
        if _BIRTH_WORDS.search(text, seg_start, seg_end) is None:
            continue
        for m in _WDATE.finditer(text, seg_start, seg_end):
            s, e = m.span()
            ctx = _Context(text, seg_start, s, hint)
            if ctx.supports(Kind.DATE_OF_BIRTH) and v.parse_date(text[s:e]):
                found.append((idx, Kind.DATE_OF_BIRTH, s, e, 0.85))


def _scan_into(
    text: str, seg_of: Sequence[int] | None, hints: Sequence[Hint] | None
) -> list[tuple[int, str, int, int, float]]:
    """Every validated candidate in ``text`` as (segment, kind, start, end, confidence).

    Each detector family runs behind a gate that costs about a memchr over the text: "@",
    a run of seven digits/separators in the shape, "AA00" in the shape, a colon pair, a secret's
    literal prefix, three words in a row. Validators run only where a gate opened.
    """
    found: _Found = []
    segs = _Segments(text, seg_of, hints)
    shape = text.encode("latin-1", "replace").translate(_SHAPE)
    _emails(text, segs, found)
    glued = _digit_runs(text, shape, segs, found)
    _alnum(text, shape, glued, segs, found)
    _ipv6(text, segs, found)
    _secrets(text, segs, found)
    _phrases(text, shape, segs, found)
    return found


def scan(
    text: str, seg_starts: Sequence[int] | None = None, hints: Sequence[Hint] | None = None
) -> list[Raw]:
    """Validated candidates of ``text``; with ``seg_starts``, offsets are per segment."""
    out: list[Raw] = []
    for idx, kind, s, e, conf in _scan_into(text, seg_starts, hints):
        base = seg_starts[idx] if seg_starts is not None else 0
        out.append(Raw(idx, kind, s - base, e - base, conf))
    return out


def whole_value(value: str, hint: Hint, seg: int) -> Raw | None:
    """A finding covering the whole value, decided by its key alone (names, addresses, DOBs,
    passwords, opaque tokens): these have no shape a pattern could recognise."""
    kinds = hint.kinds
    if not kinds or not value or len(value) > 4096:
        return None
    stripped = value.strip()
    if not stripped or _MASKED_VALUE.fullmatch(stripped):
        return None
    n = len(value)
    if Kind.PASSWORD in kinds:
        return Raw(seg, Kind.PASSWORD, 0, n, 0.9)
    if Kind.PRIVATE_KEY in kinds and len(stripped) >= 32:
        return Raw(seg, Kind.PRIVATE_KEY, 0, n, 0.85)
    if Kind.DATE_OF_BIRTH in kinds:
        date_part = stripped[:10] if len(stripped) > 10 and stripped[4:5] == "-" else stripped
        if v.parse_date(date_part):
            return Raw(seg, Kind.DATE_OF_BIRTH, 0, n, 0.9)
        return None
    if Kind.PERSON in kinds and _looks_like_name(stripped):
        return Raw(seg, Kind.PERSON, 0, n, 0.85)
    if Kind.ADDRESS in kinds and any(ch.isalpha() for ch in stripped) and len(stripped) >= 4:
        return Raw(seg, Kind.ADDRESS, 0, n, 0.8)
    if (Kind.API_KEY in kinds or Kind.BEARER_TOKEN in kinds) and _looks_like_secret(stripped):
        kind = Kind.API_KEY if Kind.API_KEY in kinds else Kind.BEARER_TOKEN
        return Raw(seg, kind, 0, n, 0.8)
    return None


# Letters with inner apostrophes, hyphens and dots; "'t" (Dutch "van 't Hof") starts with one.
_NAME = re.compile(r"['’]?[^\W\d_][^\W\d_'’.-]*(?:[.'’-][^\W\d_]*)*\.?")


def _looks_like_name(value: str) -> bool:
    words = value.split()
    return 1 <= len(words) <= 6 and len(value) <= 100 and all(_NAME.fullmatch(w) for w in words)


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
            Kind.PRIVATE_KEY,
            Kind.JWT,
            Kind.API_KEY,
            Kind.PASSWORD,
            Kind.ADDRESS,
            Kind.PERSON,
            Kind.DATE_OF_BIRTH,
            Kind.IBAN,  # before cards: an IBAN's digits can pass Luhn by chance
            Kind.CREDIT_CARD,
            Kind.US_SSN,
            Kind.NATIONAL_ID,
            Kind.EMAIL,
            Kind.PHONE,
            Kind.IP_ADDRESS,
            Kind.BEARER_TOKEN,
        )
    )
}


def resolve(raws: list[Raw]) -> list[Raw]:
    """Drop overlapping findings of lower priority; the result is sorted by (segment, start)."""
    if len(raws) < 2:
        return raws
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
