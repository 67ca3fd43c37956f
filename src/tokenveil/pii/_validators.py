"""Checksum and structure validators: a candidate becomes a finding only if one of these agrees.

Everything that a maintained library already does is delegated: IBAN mod-97 and the national
identifiers to python-stdnum, phone numbers to phonenumbers (Google's libphonenumber metadata),
IP addresses to :mod:`ipaddress`. What is written here is only what those libraries lack: card
issuer ranges (stdnum has the Luhn check but no issuer table) and the UK National Insurance number
(stdnum has no ``gb.nino``; the prefix rules are HMRC's, NIM39110).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.de import idnr as _de_idnr
from stdnum.es import dni as _es_dni
from stdnum.es import nie as _es_nie
from stdnum.fr import nir as _fr_nir
from stdnum.it import codicefiscale as _it_cf
from stdnum.nl import bsn as _nl_bsn
from stdnum.us import ssn as _us_ssn

from tokenveil.pii import _phones

__all__ = [
    "NATIONAL_REGIONS",
    "ip_confidence",
    "is_card",
    "is_iban",
    "is_phone",
    "is_us_ssn",
    "national_id",
    "parse_date",
    "phone_confidence",
]

#: Regions tried for national-format phone numbers (only when a key or context word says phone).
NATIONAL_REGIONS: tuple[str, ...] = ("DE", "FR", "ES", "IT", "NL", "GB", "US")

# (prefix low, high, prefix width, allowed lengths): published IIN ranges of the major networks.
# A Luhn-valid digit run outside every range is far more likely an order number than a card.
_IIN_RANGES: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset({13, 16, 19})),  # Visa
    (51, 55, 2, frozenset({16})),  # Mastercard
    (2221, 2720, 4, frozenset({16})),  # Mastercard 2-series
    (34, 34, 2, frozenset({15})),  # American Express
    (37, 37, 2, frozenset({15})),
    (300, 305, 3, frozenset({14, 16, 19})),  # Diners Club
    (36, 36, 2, frozenset({14, 16, 19})),
    (38, 39, 2, frozenset({14, 16, 19})),
    (6011, 6011, 4, frozenset({16, 19})),  # Discover
    (644, 649, 3, frozenset({16, 19})),
    (65, 65, 2, frozenset({16, 19})),
    (3528, 3589, 4, frozenset({16, 17, 18, 19})),  # JCB
    (62, 62, 2, frozenset({16, 17, 18, 19})),  # UnionPay
    (50, 50, 2, frozenset(range(12, 20))),  # Maestro
    (56, 58, 2, frozenset(range(12, 20))),
    (639, 639, 3, frozenset(range(12, 20))),
    (6759, 6759, 4, frozenset(range(12, 20))),
    (2200, 2204, 4, frozenset({16, 17, 18, 19})),  # Mir
)


def is_card(digits: str) -> bool:
    """A payment card number: a known issuer range, a length that issuer uses, and Luhn."""
    n = len(digits)
    if n < 12 or n > 19:
        return False
    for low, high, width, lengths in _IIN_RANGES:
        if n in lengths and low <= int(digits[:width]) <= high:
            return bool(_luhn.is_valid(digits))
    return False


_IBAN_DIGITS = {ch: str(i) for i, ch in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def is_iban(compact: str) -> bool:
    """An IBAN whose country length and ISO 7064 mod-97 check digits agree (stdnum).

    The bare mod-97 test runs first: it is a few microseconds, stdnum's country lookup a few
    hundred, and most candidates that fail fail there.
    """
    rotated = compact[4:] + compact[:4]
    try:
        if int("".join(_IBAN_DIGITS[ch] for ch in rotated)) % 97 != 1:
            return False
    except KeyError:
        return False
    return bool(_iban.is_valid(compact))


def is_us_ssn(text: str) -> bool:
    """A US SSN that could have been issued: no 000/666/9xx area, 00 group or 0000 serial."""
    return bool(_us_ssn.is_valid(text))


# HMRC NIM39110: first letter not D F I Q U V, second not D F I O Q U V, some pairs never issued.
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _is_gb_nino(compact: str) -> bool:
    return _NINO.fullmatch(compact) is not None and compact[:2] not in _NINO_BAD_PREFIXES


def national_id(compact: str) -> tuple[str, float] | None:
    """Which national identifier ``compact`` (separators removed, upper case) is, if any.

    Returns the scheme and a confidence that reflects how many random strings would pass: a
    Dutch BSN (11-proof, 1 in 11) is weak alone, an Italian codice fiscale is strong.
    """
    n = len(compact)
    if n == 16 and _it_cf.is_valid(compact):
        return "it.codicefiscale", 0.95
    if n == 9 and compact[0] in "XYZ" and _es_nie.is_valid(compact):
        return "es.nie", 0.85
    if n == 9 and compact[-1].isalpha() and compact[:8].isdigit() and _es_dni.is_valid(compact):
        return "es.dni", 0.75
    if n == 9 and _is_gb_nino(compact):
        return "gb.nino", 0.7
    if n == 15 and compact.isdigit() and _fr_nir.is_valid(compact):
        return "fr.nir", 0.8
    if n == 11 and compact.isdigit() and _de_idnr.is_valid(compact):
        # ISO 7064 mod 11,10 plus the digit-repetition rule: about 1 in 30 random runs pass.
        return "de.idnr", 0.45
    if n == 9 and compact.isdigit() and _nl_bsn.is_valid(compact):
        return "nl.bsn", 0.4
    return None


def phone_confidence(candidate: str, *, national: bool) -> float:
    """Confidence that ``candidate`` is a phone number, 0.0 when libphonenumber rejects it.

    International numbers (``+`` or ``00`` prefix) stand on their own. National formats are only
    tried when ``national`` is set, because without a key or context word a 10-digit national
    number cannot be told from an order or account number.
    """
    text = candidate.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        return 0.85 if is_phone(text, None) else 0.0
    if not national:
        return 0.0
    for region in NATIONAL_REGIONS:
        if is_phone(text, region):
            return 0.8
    return 0.0


def is_phone(text: str, region: str | None) -> bool:
    """``phonenumbers.parse(text, region)`` succeeds and ``is_valid_number`` agrees.

    The common shapes are answered by :mod:`tokenveil.pii._phones` from the same metadata, ten
    times faster; the library itself decides every other case.
    """
    fast = _phones.is_valid(text, region)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def ip_confidence(candidate: str) -> float:
    """Confidence that ``candidate`` is an IP address (v4 or v6), 0.0 if it is not one.

    Private and link-local addresses are still addresses (they map a user to a device inside a
    network) but say less about a person than a public one, so they score lower while staying
    above the default threshold. Loopback, unspecified, multicast and reserved IPv4 addresses
    identify nobody and are not reported.
    """
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return 0.0
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        return 0.0  # these name no host outside the machine itself, let alone a person
    # IPv4 240/4 (netmasks such as 255.255.255.0) names no host. IPv6 "reserved" is everything
    # IANA has not assigned yet, which says nothing about whether a value is an address.
    if address.version == 4 and address.is_reserved:
        return 0.0
    if address.is_private or address.is_link_local:
        return 0.6
    return 0.85


_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            "january jan janvier januar enero gennaio januari",
            "february feb fevrier février februar febrero febbraio februari",
            "march mar mars märz maerz marzo maart",
            "april apr avril abril aprile",
            "may mai mayo maggio mei",
            "june jun juin juni junio giugno",
            "july jul juillet juli julio luglio",
            "august aug aout août agosto augustus",
            "september sep sept septembre septiembre settembre",
            "october oct octobre oktober octubre ottobre",
            "november nov novembre noviembre",
            "december dec décembre decembre dezember diciembre dicembre",
        )
    )
    for name in names.split()
}

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DMY_DATE = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4})")
_WORD_DATE = re.compile(
    r"(?:(\d{1,2})\.?\s+([^\W\d]+)\.?,?\s+(\d{4}))|(?:([^\W\d]+)\.?\s+(\d{1,2}),?\s+(\d{4}))"
)


def parse_date(text: str, *, today: _dt.date | None = None) -> _dt.date | None:
    """A plausible birth date spelled as ISO, day-first numeric or with a month name.

    Month-first numeric dates (US ``03/04/1985``) are accepted when the day-first reading fails.
    Plausible means between 1900 and ``today``.
    """
    text = text.strip()
    candidates: list[tuple[int, int, int]] = []
    if m := _ISO_DATE.fullmatch(text):
        candidates.append((int(m[1]), int(m[2]), int(m[3])))
    elif m := _DMY_DATE.fullmatch(text):
        candidates.append((int(m[3]), int(m[2]), int(m[1])))
        candidates.append((int(m[3]), int(m[1]), int(m[2])))
    elif m := _WORD_DATE.fullmatch(text):
        if m[1]:
            month = _MONTHS.get(m[2].lower())
            day, year = int(m[1]), int(m[3])
        else:
            month = _MONTHS.get(m[4].lower())
            day, year = int(m[5]), int(m[6])
        if month:
            candidates.append((year, month, day))
    limit = today or _dt.date.today()
    for year, month, day in candidates:
        try:
            date = _dt.date(year, month, day)
        except ValueError:
            continue
        if _dt.date(1900, 1, 1) <= date <= limit:
            return date
    return None
