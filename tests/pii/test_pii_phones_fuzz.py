"""Fuzzing the fast phone validator (``_phones``): every answer it gives is phonenumbers' answer.

``test_pii_phones.py`` checks well-formed numbers and their near misses; here hypothesis builds
the odd shapes a parser trips on: separators anywhere, leading ``(`` or ``)``, several ``+``,
``+`` followed by separators, international dialling prefixes with and without ``+``, national
prefixes and carrier codes (AR, BR, CO, MX, RU), the NANPA transform rules, numbers of 2-3 and
of 17-18 digits, Italian leading zeros, the non-geographic calling codes and ``001`` or unknown
region codes. ``None`` ("ask the library") is always allowed; a bool must be the library's.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pii._phones_reference import NUMBER_TYPES, library_says
from tokenveil.pii import _phones

_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_PRODUCTION = ["DE", "FR", "ES", "IT", "NL", "GB", "US"]
_CARRIER_REGIONS = ["AR", "BR", "CO", "MX", "RU", "KZ", "BY", "CL", "CU", "JP", "GG", "AG"]
_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_NON_GEO = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)


def _examples() -> list[tuple[str, int, str]]:
    """(region, calling code, national number) of every example number, ``001`` for non-geo."""
    found: set[tuple[str, int, str]] = set()
    for region in _REGIONS:
        for kind in NUMBER_TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                nsn = phonenumbers.national_significant_number(example)
                found.add((region, example.country_code or 0, nsn))
    for code in _NON_GEO:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.add(("001", code, phonenumbers.national_significant_number(example)))
    return sorted(found)


_EXAMPLES = _examples()
_NATIONAL_PREFIX = {
    region: metadata.national_prefix
    for region in _REGIONS
    if (metadata := phonenumbers.PhoneMetadata.metadata_for_region(region)) is not None
    and metadata.national_prefix
}

#: What a number may open with, before the calling code or the national digits.
_LEADS = ["", "", "", "+", "++", "+ ", "+-", "+(", "(+", "+)", "(", ")", "((", "( ", "+ (", " "]
#: International dialling prefixes, national prefixes and carrier codes, as people write them.
_PREFIXES = [
    *["00", "011", "0011", "810", "8 10", "8~10", "119", "000", "010", "001", "0015"],
    *["0", "1", "8", "9", "01", "15", "015", "0 15", "021", "0 21", "90", "0 90 21"],
    *["044", "045", "0549", "1 268", "268", "(0)", "0 0", "00 0", "0000"],
]
_SEPARATORS = ["-", " ", ".", "/", "(", ")", "  ", " - ", ") ", " (", "()", ")("]
_ODD_REGIONS = ["001", "de", "ZZ", "XX", "UN"]

# Every strategy is built once here: hypothesis labels a strategy on first use, and building
# them inside the draw made that cost most of the run.
_digit_strings = st.text("0123456789", max_size=19)
_reads_alphabet = st.text("0123456789+ -./()", max_size=22)
_insertions = st.lists(st.tuples(st.integers(0, 40), st.sampled_from(_SEPARATORS)), max_size=5)
_any_region = (
    st.sampled_from([None, *_PRODUCTION])
    | st.sampled_from(_CARRIER_REGIONS)
    | st.sampled_from(_REGIONS)
    | st.sampled_from(_ODD_REGIONS)
)
_calling_codes = (
    st.just("own")
    | st.sampled_from([str(c) for c in _CODES + _NON_GEO])
    | st.sampled_from(["", "0", "00", "011", "0049", "99", "999", "21", "80", "88"])
)
_example = st.sampled_from(_EXAMPLES)
_prefixes = st.sampled_from(["", "", "national", "national", *_PREFIXES])
_plus_leads = st.sampled_from(["+", "+", "+", *_LEADS])
_national_leads = st.sampled_from(["", "", "", "(", "((", "( ", ")", "0"])
_trails = st.sampled_from(["", "", "", ")", " ", "-", ") ", "))"])
_small = st.integers(0, 40)
_digit = st.sampled_from("0123456789")
_kinds = st.integers(0, 8)
_shapes = st.integers(0, 7)


def _spaced(digits: str, insertions: list[tuple[int, str]]) -> str:
    """``digits`` with separators put into a few of the gaps."""
    for at, separator in insertions:
        at %= len(digits) + 1
        digits = digits[:at] + separator + digits[at:]
    return digits


def _changed(draw: st.DrawFn, nsn: str) -> str:
    """A national number as written, or changed: a digit, the length, leading zeros."""
    kind, at, digit = draw(_kinds), draw(_small) % (len(nsn) + 1), draw(_digit)
    if kind <= 2:
        return nsn
    if kind == 3:
        return nsn[:at] + digit + nsn[at + 1 :]
    if kind == 4:
        return nsn[:at] + nsn[at + 1 :]
    if kind == 5:
        return nsn[:at] + digit + nsn[at:]
    if kind == 6:  # cut or padded to the length limits (2-3, 17-18 digits)
        return (nsn + "0123456789012345678")[: 1 + draw(_small) % 19]
    if kind == 7:  # Italian leading zeros
        return "0" * (1 + at % 3) + nsn
    return nsn + draw(_digit_strings)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, str | None]:
    shape = draw(_shapes)
    if shape == 0:  # anything in the alphabet the fast path reads
        return draw(_reads_alphabet), draw(_any_region)
    if shape == 1:  # digits only, short and long
        return draw(_digit_strings), draw(_any_region)
    own, code, nsn = draw(_example)
    body = _changed(draw, nsn)
    prefix = draw(_prefixes)
    if prefix == "national":
        prefix = _NATIONAL_PREFIX.get(own, "")
    insertions, trail = draw(_insertions), draw(_trails)
    if shape <= 4:  # "+" and a calling code: its own mostly, sometimes another or none
        calling = draw(_calling_codes)
        calling = str(code) if calling == "own" else calling
        region = own if draw(st.booleans()) else draw(_any_region)
        text = draw(_plus_leads) + _spaced(calling + prefix + body, insertions) + trail
        return text, region if draw(st.booleans()) else None
    # National notation, read with the number's own region mostly.
    region = own if draw(_small) < 30 else draw(_any_region)
    return draw(_national_leads) + _spaced(prefix + body, insertions) + trail, region


def _assert_agrees(text: str, region: str | None) -> None:
    fast = _phones.is_valid(text, region)
    if fast is not None:
        assert fast == library_says(text, region), (text, region, fast)


@settings(
    max_examples=3000,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_cases())
def test_fast_path_answers_agree_with_phonenumbers_on_fuzzed_shapes(
    case: tuple[str, str | None],
) -> None:
    """Any bool from ``_phones.is_valid`` equals ``parse`` + ``is_valid_number``."""
    text, region = case
    # Each text is also read with no region and the production ones: a library call costs
    # far less than drawing another example.
    for each in dict.fromkeys([region, None, *_PRODUCTION]):
        _assert_agrees(text, each)


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("+0049301234567", "DE"),
        ("+00 49 30 1234567", "DE"),
        ("+00115002000000", "DE"),  # found by the fuzzer: "+" "00" "1 500 200 0000"
        ("+ (0015808123456", "DK"),  # found by the fuzzer: "+" "00" "1 580 812 3456"
        ("+011 44 20 7946 0958", "US"),
    ],
)
def test_plus_then_an_idd_under_a_region_is_left_to_the_library(text: str, region: str) -> None:
    """With a region, parse retries a "+" it cannot read without the "+", through the IDD."""
    assert library_says(text, region)
    assert _phones.is_valid(text, region) is None


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("+0 1234567", None),  # no region, no IDD to retry with: never a number
        ("+0 1234567", "DE"),
        ("+999 1234567", "FR"),
        ("1 2", "DE"),  # two digits with a separator are not a viable number
        ("12", "DE"),
        ("", "DE"),
        (" ", None),
        ("030 901820", "de"),  # an unknown (lower-case) region
        ("030 901820", "001"),
    ],
)
def test_odd_shapes_next_to_those_agree_with_phonenumbers(text: str, region: str | None) -> None:
    """Shapes next to the ones the fuzzer found, pinned."""
    _assert_agrees(text, region)
