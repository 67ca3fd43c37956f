"""The fast phone validator (``_phones``) against phonenumbers itself, number for number.

``_phones.is_valid`` re-reads libphonenumber's metadata to skip its parser; every answer it
gives must be the library's. The cases are every region's example number of every type in
international, E.164 and national notation, variations of each (a digit changed, dropped,
inserted; a national prefix written after the country code), random digit strings under every
calling code, and Faker's numbers in the corpus locales.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
import pytest
from faker import Faker
from phonenumbers import PhoneNumberFormat

from tests.pii._phones_reference import NUMBER_TYPES, library_says
from tokenveil.pii import _phones
from tokenveil.pii import _validators as v

Case = tuple[str, str | None]


def _variations(text: str, rng: random.Random) -> list[str]:
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    i = rng.choice(positions[1:] or positions)
    digit = str(rng.randrange(10))
    return [
        text[:i] + digit + text[i + 1 :],
        text[:i] + text[i + 1 :],
        text[:i] + digit + text[i:],
    ]


def _example_cases(rng: random.Random) -> Iterator[Case]:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in NUMBER_TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for fmt in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL):
                text = phonenumbers.format_number(example, fmt)
                yield text, None
                yield from ((t, None) for t in _variations(text, rng))
            national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
            yield national, region
            yield from ((t, region) for t in _variations(national, rng))
            nsn = phonenumbers.national_significant_number(example)
            yield f"+{example.country_code} 0{nsn}", None  # "+44 (0)20 ..." written flat
            yield f"0{nsn}", region
            yield nsn, region
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            text = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
            yield text, None
            yield from ((t, None) for t in _variations(text, rng))


def _random_cases(rng: random.Random) -> Iterator[Case]:
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for length in range(1, 19):
            digits = "".join(str(rng.randrange(10)) for _ in range(length))
            yield f"+{code}{digits}", None
            yield f"+{code} ({digits[:2]}) {digits[2:]}", None
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for length in range(3, 16):
            digits = "".join(str(rng.randrange(10)) for _ in range(length))
            yield digits, region
            yield "0" + digits, region


def _check(cases: list[Case]) -> tuple[int, list[tuple[str, str | None, bool, bool]]]:
    """(how many the fast path answered, the answers that differ from the library's)."""
    answered = 0
    wrong = []
    for text, region in cases:
        fast = _phones.is_valid(text, region)
        if fast is None:
            continue
        answered += 1
        expected = library_says(text, region)
        if fast != expected:
            wrong.append((text, region, fast, expected))
    return answered, wrong


def test_every_example_number_and_its_variations_agree_with_phonenumbers() -> None:
    cases = list(_example_cases(random.Random(20261123)))
    answered, wrong = _check(cases)
    assert wrong == []
    # The fast path must carry the load, or the speed-up is a claim, not a fact.
    assert answered >= 0.9 * len(cases), (answered, len(cases))


def test_random_digits_under_every_calling_code_agree_with_phonenumbers() -> None:
    cases = list(_random_cases(random.Random(7)))
    answered, wrong = _check(cases)
    assert wrong == []
    assert answered >= 0.9 * len(cases), (answered, len(cases))


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"])
def test_phone_confidence_matches_the_library_on_faker_numbers(locale: str) -> None:
    fake = Faker(locale)
    fake.seed_instance(11)
    for _ in range(300):
        number = fake.phone_number()
        for national in (False, True):
            text = number.strip()
            text = "+" + text[2:] if text.startswith("00") else text
            if text.startswith("+"):
                expected = 0.85 if library_says(text, None) else 0.0
            elif national:
                regions = v.NATIONAL_REGIONS
                expected = 0.8 if any(library_says(text, r) for r in regions) else 0.0
            else:
                expected = 0.0
            assert v.phone_confidence(number, national=national) == expected, locale


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("+1 703 555 0100 ext. 7", None),  # an extension: the library's parser reads it
        ("tel:+1-703-555-0100", None),
        ("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", None),  # Arabic-Indic digits
        ("0049 30 1234567", "DE"),  # an IDD written out
        ("4930 1234567", "DE"),  # starts with the region's own calling code
        ("1-800-555-0100", "US"),
    ],
)
def test_shapes_outside_the_fast_path_are_left_to_the_library(
    text: str, region: str | None
) -> None:
    assert _phones.is_valid(text, region) is None
    assert v.is_phone(text, region) == library_says(text, region)


def test_well_known_numbers() -> None:
    assert v.is_phone("+44 20 7946 0958", None)
    assert v.is_phone("+49 30 901820", None)
    assert v.is_phone("030 901820", "DE")
    assert not v.is_phone("+44 20 7946 095", None)  # one digit short
    assert not v.is_phone("+999 1234567", None)  # no such calling code
    assert not v.is_phone("+0 1234567", None)
