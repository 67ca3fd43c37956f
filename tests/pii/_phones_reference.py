"""What phonenumbers itself says: the reference both phone test files hold the fast path to."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

__all__ = ["NUMBER_TYPES", "library_says"]

#: Every number type with example numbers (UNKNOWN has none).
NUMBER_TYPES = [
    getattr(PhoneNumberType, name)
    for name in dir(PhoneNumberType)
    if name.isupper() and name != "UNKNOWN"
]


def library_says(text: str, region: str | None) -> bool:
    """``phonenumbers.parse(text, region)`` succeeds and ``is_valid_number`` agrees."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))
