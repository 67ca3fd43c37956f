"""Phone-number validity with libphonenumber's own metadata, without its per-call parser.

``phonenumbers.parse`` followed by ``is_valid_number`` costs 35-60 µs a number here: the parser
handles every notation people write (RFC 3966, letters, extensions, full-width digits), looks
regexes up in a cache on every step, and a NANPA number is tried against up to 25 regions. The
engine's candidates are far narrower: an optional ``+``, digits and the separators
``space - . / ( )``. For those, this module walks the same steps as the library (country code,
national-prefix stripping, the possible-length test, region choice, the type patterns) with
the library's metadata compiled once per country code, and answers in a few microseconds.

Anything outside that narrow shape, and the few steps whose rules are intricate (a national
number that starts with its own country code, an international dialling prefix written without
``+`` or after it under a region), returns ``None``: the caller then asks :mod:`phonenumbers`
itself. The result is checked against ``phonenumbers.parse`` + ``is_valid_number`` for every
region's example numbers and random variations of them (``tests/pii/test_pii_phones.py``) and
fuzzed shapes (``tests/pii/test_pii_phones_fuzz.py``), so a metadata update that this reading
does not follow fails the tests instead of changing answers silently.
"""

from __future__ import annotations

import re

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["is_valid"]

_MIN_LENGTH_FOR_NSN = 2
_MAX_LENGTH_FOR_NSN = 17
_NON_GEO = "001"
#: The separators read here; phonenumbers' punctuation class holds each, and drops it.
_SEPARATORS = (" ", "-", ".", "/", "(", ")")
#: Every calling code as the digits it starts a number with.
_CODE_PREFIXES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


def _code_width(head: str) -> int:
    for width in (1, 2, 3):
        if len(head) >= width and head[:width] in _CODE_PREFIXES:
            return width
    return 0


# The width of the calling code that leads each string of up to three digits (0: none): one
# dict look-up instead of up to three slices and set look-ups per number.
_CODE_WIDTH = {
    head: _code_width(head)
    for size in (1, 2, 3)
    for head in (f"{i:0{size}d}" for i in range(10**size))
}
#: Attribute names of the type descriptions, in the order libphonenumber tests them.
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _pattern(desc: object) -> str | None:
    pattern = getattr(desc, "national_number_pattern", None) if desc is not None else None
    return pattern or None


class _Region:
    """One region's metadata, compiled: the parts the validity decision reads."""

    __slots__ = (
        "_general",
        "_general_lengths",
        "_local_lengths",
        "_types",
        "_types_by_length",
        "country_code",
        "idd",
        "leading_digits",
        "national_prefix",
        "sorted_lengths",
        "transform",
    )

    def __init__(self, metadata: PhoneMetadata) -> None:
        general = metadata.general_desc
        pattern = _pattern(general)
        self._general = re.compile(pattern) if pattern else None
        lengths = tuple(general.possible_length or ()) if general is not None else ()
        self._general_lengths = frozenset(lengths)
        self.sorted_lengths = lengths
        local = general.possible_length_local_only if general is not None else ()
        self._local_lengths = frozenset(local or ())
        self.country_code: int = metadata.country_code or 0
        self.leading_digits = (
            re.compile(metadata.leading_digits) if metadata.leading_digits else None
        )
        idd = metadata.international_prefix
        self.idd = re.compile(idd) if idd else None
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.transform: str | None = metadata.national_prefix_transform_rule or None
        # (allowed lengths or None for "any", pattern) of every type that has a pattern.
        self._types: list[tuple[frozenset[int] | None, str]] = []
        for name in _TYPE_DESCS:
            desc = getattr(metadata, name, None)
            type_pattern = _pattern(desc)
            if desc is None or type_pattern is None:
                continue
            type_lengths = tuple(desc.possible_length or ())
            self._types.append((frozenset(type_lengths) if type_lengths else None, type_pattern))
        self._types_by_length: dict[int, re.Pattern[str] | None] = {}

    def matches_general(self, nsn: str) -> bool:
        """``_match_national_number(nsn, general_desc, False)``: the pattern alone."""
        return self._general is not None and self._general.fullmatch(nsn) is not None

    def _types_for(self, length: int) -> re.Pattern[str] | None:
        # One alternation of every type pattern allowed at this length: a full match of the
        # alternation is a full match of one of them, which is all validity asks.
        if length not in self._types_by_length:
            alternatives = [
                f"(?:{pattern})"
                for lengths, pattern in self._types
                if lengths is None or length in lengths
            ]
            self._types_by_length[length] = (
                re.compile("|".join(alternatives)) if alternatives else None
            )
        return self._types_by_length[length]

    def is_valid_nsn(self, nsn: str) -> bool:
        """``_number_type_helper(nsn, metadata) != UNKNOWN``."""
        length = len(nsn)
        if self._general_lengths and length not in self._general_lengths:
            return False
        if not self.matches_general(nsn):
            return False
        types = self._types_for(length)
        return types is not None and types.fullmatch(nsn) is not None

    def keeps_stripped(self, nsn: str) -> bool:
        """``_test_number_length(nsn, metadata)`` is not TOO_SHORT, LOCAL_ONLY or INVALID."""
        length = len(nsn)
        if length in self._local_lengths:
            return False
        lengths = self.sorted_lengths
        if not lengths or lengths[0] == length:
            return bool(lengths)  # no lengths at all cannot happen in the metadata; refuse
        if lengths[0] > length:
            return False
        if lengths[-1] < length:
            return True  # TOO_LONG is kept, and rejected later by the length limit or validity
        return length in lengths

    def strip_national_prefix(self, number: str) -> str:
        """``_maybe_strip_national_prefix_carrier_code(number, metadata)[1]``."""
        prefix = self.national_prefix
        if not number or prefix is None:
            return number
        m = prefix.match(number)
        if m is None:
            return number
        viable = self.matches_general(number)
        groups = m.groups()
        if self.transform is None or not groups or groups[-1] is None:
            stripped = number[m.end() :]
            if viable and not self.matches_general(stripped):
                return number
            return stripped
        transformed = prefix.sub(self.transform, number, count=1)
        if viable and not self.matches_general(transformed):
            return number
        return transformed


class _CountryCode:
    """The regions sharing one calling code, main region first (libphonenumber's order).

    libphonenumber walks the regions in order: a region with leading digits (Jamaica's 658 and
    876 under +1) claims the number when they match, one without claims it when the number is
    valid there. Consecutive regions with leading digits are asked at once here, through one
    alternation whose first matching branch is the first matching region: the same walk, a
    few regex calls instead of 25 for +1.
    """

    __slots__ = ("_steps", "regions")

    def __init__(self, regions: tuple[_Region, ...]) -> None:
        self.regions = regions
        # Each step: a region without leading digits, or (alternation, its regions in order).
        self._steps: list[_Region | tuple[re.Pattern[str], tuple[_Region, ...]]] = []
        run: list[_Region] = []
        for region in (*regions, None):
            if region is not None and region.leading_digits is not None:
                run.append(region)
                continue
            if run:
                branches = "|".join(
                    f"(?P<r{i}>{r.leading_digits.pattern})"  # type: ignore[union-attr]
                    for i, r in enumerate(run)
                )
                self._steps.append((re.compile(branches), tuple(run)))
                run = []
            if region is not None:
                self._steps.append(region)

    def is_valid(self, nsn: str) -> bool:
        """``is_valid_number`` for a number with this calling code and national number."""
        regions = self.regions
        if len(regions) == 1:
            return regions[0].is_valid_nsn(nsn)
        for step in self._steps:
            if isinstance(step, _Region):
                if step.is_valid_nsn(nsn):
                    return True
                continue
            pattern, run = step
            m = pattern.match(nsn)
            if m is not None:
                assert m.lastgroup is not None
                return run[int(m.lastgroup[1:])].is_valid_nsn(nsn)
        return False


_BY_CODE: dict[int, _CountryCode | None] = {}
_BY_REGION: dict[str, _Region | None] = {}


def _region(code: str, calling_code: int) -> _Region | None:
    key = f"{code}:{calling_code}" if code == _NON_GEO else code
    if key not in _BY_REGION:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(calling_code, code)
        _BY_REGION[key] = _Region(metadata) if metadata is not None else None
    return _BY_REGION[key]


def _country(calling_code: int) -> _CountryCode | None:
    """The compiled regions of a calling code; built on first use and kept (metadata only)."""
    if calling_code not in _BY_CODE:
        codes = COUNTRY_CODE_TO_REGION_CODE.get(calling_code)
        built = None
        if codes:
            regions = tuple(r for c in codes if (r := _region(c, calling_code)) is not None)
            # libphonenumber skips regions without metadata when choosing, but parses with the
            # main region's: if that one is missing, leave the case to the library.
            if regions and _region(codes[0], calling_code) is regions[0]:
                built = _CountryCode(regions)
        _BY_CODE[calling_code] = built
    return _BY_CODE[calling_code]


def _split_country_code(digits: str) -> tuple[int, str]:
    """``_extract_country_code``: the first 1-3 digits that name a calling code."""
    width = _CODE_WIDTH.get(digits[:3], 0) if digits[:1] != "0" else 0
    if width == 0:
        return 0, digits
    return int(digits[:width]), digits[width:]


def _finish(country: _CountryCode, parsing: _Region, number: str) -> bool:
    """The end of ``parse`` (national-prefix stripping with the metadata it parses with, length
    limits), then ``is_valid_number``."""
    if len(number) < _MIN_LENGTH_FOR_NSN:
        return False
    stripped = parsing.strip_national_prefix(number)
    if stripped is not number and parsing.keeps_stripped(stripped):
        number = stripped
    if not _MIN_LENGTH_FOR_NSN <= len(number) <= _MAX_LENGTH_FOR_NSN:
        return False
    return country.is_valid(number)


def _digits(text: str) -> str | None:
    """The ASCII digits of ``text`` when it holds nothing but digits and plain separators."""
    if text.isdigit():  # digits only, the usual shape
        return text if text.isascii() else None
    digits = text
    for separator in _SEPARATORS:  # six str.replace calls beat one str.translate table
        digits = digits.replace(separator, "")
    return digits if digits.isascii() and digits.isdigit() else None


def is_valid(text: str, region: str | None) -> bool | None:
    """Whether ``phonenumbers.parse(text, region)`` succeeds and the number is valid.

    ``None`` when ``text`` is outside the shapes read here; the caller must then ask the
    library. ``text`` starts with ``+`` when ``region`` is None.
    """
    if len(text) > 100 or not text or not (text[-1].isdigit() or text[-1] == ")"):
        return None
    if text[0] == "+":
        digits = _digits(text[1:])
        if digits is None:
            return None
        if len(digits) <= _MIN_LENGTH_FOR_NSN:
            return False
        code, rest = _split_country_code(digits)
        if code == 0:
            # With a region, parse retries without the "+" and reads the region's IDD: "+00 49 30
            # 1234567" is a valid DE number. Without one there is nothing to retry with.
            return False if region is None else None
        country = _country(code)
        return None if country is None else _finish(country, country.regions[0], rest)
    if region is None or not (text[0].isdigit() or text[0] == "("):
        return None
    digits = _digits(text)
    home = _region(region, 0) if region != _NON_GEO else None
    if digits is None or home is None:
        return None
    if home.idd is not None and home.idd.match(digits):
        return None  # "00 49 ...", "011 ...": the library's IDD rules decide
    if digits.startswith(str(home.country_code)):
        return None  # the library may read these digits as the country code
    country = _country(home.country_code)
    return None if country is None else _finish(country, home, digits)
