"""Free-text detection, kind by kind: true positives across locales, checksum failures and
look-alikes rejected, context required where a value alone is ambiguous."""

from __future__ import annotations

import base64
import json
import random
import secrets
import string
import uuid

import phonenumbers
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from stdnum.de import idnr
from stdnum.es import dni, nie

from tokenveil import pii


def kinds_in(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in pii.find(text)]


def only(text: str, value: str, kind: str) -> None:
    """``value`` inside ``text`` is found as ``kind``, with its exact span, and nothing else."""
    assert kinds_in(text) == [(kind, value)]


# --- EMAIL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "j.o'neil+tag@mail.example.co.uk", "Zoë_99@sub.example.de"],
)
def test_email_is_found_with_its_exact_span(email: str) -> None:
    """Emails, including plus tags, apostrophes and subdomains, are found whole."""
    only(f"please write to {email}, thanks", email, "EMAIL")


def test_at_signs_that_are_not_emails_are_ignored() -> None:
    """Handles, decorators and version pins with @ are not emails."""
    assert kinds_in("ping @team about @dataclass and pkg@1.2.3 or a@b") == []


# --- PHONE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["DE", "FR", "ES", "IT", "NL", "GB", "US"])
def test_international_phone_numbers_are_found_without_context(region: str) -> None:
    """E.164 and international formats validate against libphonenumber metadata for 7 locales."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    for fmt in (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
        text = phonenumbers.format_number(number, fmt)
        only(f"reach the customer at {text} today", text, "PHONE")


@pytest.mark.parametrize("region", ["DE", "FR", "ES", "IT", "NL", "GB", "US"])
def test_national_phone_numbers_need_a_phone_word(region: str) -> None:
    """A national-format number is found after "call me on", and not in a bare sentence."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    only(f"you can call me on {text} after six", text, "PHONE")
    assert [k for k, _ in kinds_in(f"the batch {text} was processed")] != ["PHONE"]


def test_invalid_international_numbers_are_rejected() -> None:
    """A plus sign before digits that no numbering plan allows is not a phone number."""
    assert kinds_in("rate +12 and +999 123 456 789 0") == []


# --- CREDIT_CARD -------------------------------------------------------------------------------

TEST_CARDS = [
    "4111111111111111",  # Visa test PAN
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
    "30569309025904",  # Diners Club
]


@pytest.mark.parametrize("card", TEST_CARDS)
def test_cards_of_every_network_are_found_bare_spaced_and_dashed(card: str) -> None:
    """Luhn-valid numbers in an issuer range are found however they are grouped."""
    groups = [card[i : i + 4] for i in range(0, len(card), 4)]
    for spelled in (card, " ".join(groups), "-".join(groups)):
        only(f"card {spelled} expired", spelled, "CREDIT_CARD")


def test_luhn_failures_and_unknown_issuers_are_not_cards() -> None:
    """One changed digit breaks Luhn; a Luhn-valid run outside every issuer range is no card."""
    broken = "4111111111111112"
    unknown_issuer = "9111111111111111"[:-1]
    unknown_issuer += next(d for d in string.digits if _luhn_ok(unknown_issuer + d))
    assert kinds_in(f"ref {broken} and {unknown_issuer}") == []


def _luhn_ok(number: str) -> bool:
    from stdnum import luhn

    return bool(luhn.is_valid(number))


def test_card_after_order_word_is_demoted_below_the_threshold() -> None:
    """ "order 4111..." reads as an order number: context lowers the confidence under 0.5."""
    assert kinds_in("order 4111111111111111 shipped") == []
    assert pii.find("order 4111111111111111 shipped", min_confidence=0.3)[0].kind == "CREDIT_CARD"


# --- IBAN --------------------------------------------------------------------------------------

EXAMPLE_IBANS = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "NL91ABNA0417164300",
]


@pytest.mark.parametrize("iban", EXAMPLE_IBANS)
def test_ibans_are_found_compact_and_grouped(iban: str) -> None:
    """Published example IBANs of six countries, compact and in groups of four."""
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    for spelled in (iban, grouped):
        only(f"IBAN: {spelled}.", spelled, "IBAN")


@pytest.mark.parametrize("iban", EXAMPLE_IBANS)
def test_ibans_with_wrong_check_digits_are_rejected(iban: str) -> None:
    """Mod-97 catches a changed check digit."""
    check = int(iban[2:4])
    wrong = f"{iban[:2]}{(check + 1) % 100:02d}{iban[4:]}"
    assert "IBAN" not in [k for k, _ in kinds_in(f"IBAN {wrong}")]


# --- US_SSN ------------------------------------------------------------------------------------


def test_ssn_with_dashes_is_found() -> None:
    """A dashed SSN in a valid area/group/serial is found."""
    only("SSN 536-22-1234 on file", "536-22-1234", "US_SSN")


@pytest.mark.parametrize(
    "bad", ["000-12-3456", "666-12-3456", "912-12-3456", "536-00-1234", "536-22-0000"]
)
def test_ssns_that_cannot_be_issued_are_rejected(bad: str) -> None:
    """Area 000/666/9xx, group 00 and serial 0000 are never issued."""
    assert kinds_in(f"SSN {bad}") == []


def test_bare_nine_digits_are_an_ssn_only_with_the_word() -> None:
    """536221234 is an SSN after "SSN", a number otherwise."""
    only("my ssn: 536221234", "536221234", "US_SSN")
    assert kinds_in("batch 536221234 done") == []


# --- NATIONAL_ID -------------------------------------------------------------------------------


def _random_idnr(rng: random.Random) -> str:
    while True:
        value = "".join(rng.choice(string.digits) for _ in range(11))
        if idnr.is_valid(value):
            return value


def _dni(rng: random.Random) -> str:
    body = "".join(rng.choice(string.digits) for _ in range(8))
    return body + str(dni.calc_check_digit(body))


def _nie(rng: random.Random) -> str:
    body = "Y" + "".join(rng.choice(string.digits) for _ in range(7))
    return body + str(nie.calc_check_digit(body))


def test_strong_national_ids_are_found_without_context() -> None:
    """Codice fiscale, NIE, DNI, UK NINO and French NIR carry enough structure to stand alone."""
    rng = random.Random(5)
    for value in ("RCCMNL83S18D969H", _nie(rng), _dni(rng), "AB123456C", "295109912611193"):
        only(f"number {value} attached", value, "NATIONAL_ID")


def test_weak_national_ids_need_context() -> None:
    """A German IdNr or Dutch BSN is only a national ID when the words say so."""
    rng = random.Random(6)
    steuer = _random_idnr(rng)
    only(f"Steuer-ID {steuer}", steuer, "NATIONAL_ID")
    only("mijn BSN is 111222333", "111222333", "NATIONAL_ID")
    assert kinds_in(f"batch {steuer} processed") == []


def test_national_ids_with_broken_checksums_are_rejected() -> None:
    """A wrong DNI letter, a wrong codice fiscale check character, a failing BSN: nothing."""
    assert kinds_in("DNI 12345678A, CF RCCMNL83S18D969A, BSN 111222334") == []


# --- IP_ADDRESS --------------------------------------------------------------------------------


def test_public_private_and_v6_addresses_are_found_with_graded_confidence() -> None:
    """Public addresses score higher than private or loopback ones; IPv6 compressed forms too."""
    text = "from 8.8.8.8 via 10.0.0.7 and 2001:db8::1 or fe80::1ff:fe23:4567:890a"
    found = pii.find(text)
    assert [(f.kind, text[f.start : f.end]) for f in found] == [
        ("IP_ADDRESS", "8.8.8.8"),
        ("IP_ADDRESS", "10.0.0.7"),
        ("IP_ADDRESS", "2001:db8::1"),
        ("IP_ADDRESS", "fe80::1ff:fe23:4567:890a"),
    ]
    assert found[0].confidence > found[1].confidence


def test_versions_and_out_of_range_quads_are_not_ips() -> None:
    """v1.2.3.4, "version 4.1.2.8", 300.1.1.1 and 0.0.0.0 are not addresses of anyone."""
    assert kinds_in("v1.2.3.4, version 4.1.2.8, 300.1.1.1, 0.0.0.0, 1.2.3") == []


# --- DATE_OF_BIRTH -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date", ["1985-03-12", "12.03.1985", "12/03/1985", "March 12, 1985", "12 mars 1985"]
)
def test_birth_dates_need_birth_words(date: str) -> None:
    """After "born on" a date is a birth date; the same date alone is just a date."""
    only(f"I was born on {date} in Lyon", date, "DATE_OF_BIRTH")
    assert kinds_in(f"invoice date {date}") == []


# --- PERSON and ADDRESS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "name"),
    [
        ("Hello, my name is {}.", "Karl-Heinz Müller"),
        ("Dear {},", "Théodore du Pruvost"),
        ("Je m'appelle {} et", "Élodie Martin"),
        ("Mi chiamo {} e", "Giulia Rossi"),
    ],
)
def test_names_are_found_after_introducing_phrases(phrase: str, name: str) -> None:
    """Names follow "my name is", "Dear" and their equivalents in other languages."""
    only(phrase.format(name), name, "PERSON")


def test_capitalised_words_alone_are_never_names() -> None:
    """Bare capitalised words (titles, products, places) are not reported as people."""
    assert kinds_in("Quarterly Report for Acme Widgets in New York by Project Phoenix") == []


def test_addresses_are_found_after_address_phrases() -> None:
    """ "I live at ..." up to the end of the sentence; abbreviations do not end it."""
    only(
        "I live at Hauptstr. 5, 10115 Berlin. Thanks",
        "Hauptstr. 5, 10115 Berlin",
        "ADDRESS",
    )


# --- Secrets -----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt() -> str:
    header = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"sub": str(uuid.uuid4())}).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(64))}"


def test_jwts_are_found_bare_and_after_bearer() -> None:
    """A compact JWS is a JWT, also when it is the credential of a Bearer header."""
    token = _jwt()
    only(f"token={token}", token, "JWT")
    only(f"Authorization: Bearer {token}", token, "JWT")


def test_opaque_bearer_credentials_are_found() -> None:
    """Bearer followed by an opaque credential reports the credential only."""
    credential = secrets.token_urlsafe(24)
    only(f"Authorization: Bearer {credential}", credential, "BEARER_TOKEN")


def _rand(chars: str, n: int) -> str:
    return "".join(secrets.choice(chars) for _ in range(n))


UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


@pytest.mark.parametrize(
    "make",
    [
        lambda: "AKIA" + _rand(UPPER_DIGITS, 16),
        lambda: "ghp_" + _rand(ALNUM, 36),
        lambda: "github_pat_" + _rand(ALNUM + "_", 82),
        lambda: "xoxb-" + _rand(string.digits, 12) + "-" + _rand(ALNUM, 24),
        lambda: "sk_live_" + _rand(ALNUM, 24),
        lambda: "rk_live_" + _rand(ALNUM, 24),
        lambda: "AIza" + _rand(ALNUM + "-_", 35),
        lambda: "sk-proj-" + _rand(ALNUM, 48),
    ],
    ids=["aws", "github", "github-pat", "slack", "stripe", "stripe-restricted", "google", "openai"],
)
def test_provider_api_keys_are_found(make: object) -> None:
    """Well-known provider key formats, generated fresh for each run."""
    assert callable(make)
    key = make()
    only(f"export KEY={key} # oops", key, "API_KEY")


def test_pem_private_keys_are_found_whole() -> None:
    """PKCS#8 EC and Ed25519 PEM blocks, from BEGIN to END."""
    for key in (ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        only(f"key:\n{pem.strip()}\nend", pem.strip(), "PRIVATE_KEY")


def test_password_phrases_and_hash_formats_are_passwords() -> None:
    """ "password: x" and argon2/bcrypt/scrypt/pbkdf2 hash strings are PASSWORD findings."""
    salt, digest = _b64(secrets.token_bytes(16)), _b64(secrets.token_bytes(32))
    hashes = [
        f"$argon2id$v=19$m=65536,t=3,p=4${salt}${digest}".replace("-", "+").replace("_", "/"),
        "$2b$12$" + _rand("./" + ALNUM, 53),
        f"$scrypt$ln=16,r=8,p=1${salt}${digest}".replace("-", "+").replace("_", "/"),
        "pbkdf2_sha256$600000$" + _rand(ALNUM, 22) + "$" + _rand(ALNUM, 43) + "=",
    ]
    for value in hashes:
        only(f"stored {value} in db", value, "PASSWORD")
    only("login failed, password: Tr0ub4dor&3", "Tr0ub4dor&3", "PASSWORD")
    only("password: xWYY0(V(9_Z2d)", "xWYY0(V(9_Z2d)", "PASSWORD")
    assert kinds_in("password: ******** and password: [REDACTED]") == []


# --- Look-alikes -------------------------------------------------------------------------------


def test_look_alikes_never_fire() -> None:
    """UUIDs, digests, timestamps, order numbers, prices and versions produce no finding."""
    rng = random.Random(9)
    noise = [
        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        rng.randbytes(32).hex(),
        rng.randbytes(20).hex(),
        "2024-01-15T10:30:00Z",
        "2024-01-15T10:30:00.123+01:00",
        "ORD-2024-004512",
        "#48213377",
        "$1,299.99",
        "1299.99 EUR",
        "10.0.19041.1",
        "1700000000",
    ]
    for value in noise:
        assert kinds_in(f"value {value} logged") == [], value


def test_kinds_filter_and_threshold_select_findings() -> None:
    """``kinds`` keeps only the asked kinds; ``min_confidence`` drops the less sure ones."""
    text = "mail a@example.com from 10.0.0.7"
    assert [f.kind for f in pii.find(text, kinds={"IP_ADDRESS"})] == ["IP_ADDRESS"]
    assert [f.kind for f in pii.find(text, min_confidence=0.8)] == ["EMAIL"]


@pytest.mark.parametrize(
    "text",
    [
        "username, password = get_auth_from_url(proxy)",
        "def login(user: str, password: bytes | str) -> None:",
        "password = self.password",
        "DB_URL=postgres://app:${DB_PASSWORD}@db/app and password: {password}",
        "Upstream-Name: Public Suffix List",
        "Copyright (C) 2015-2016 Intel Corporation",
        "netmask 255.255.255.0 and broadcast 240.0.0.1",
        "if sample[::2] == b'ab': pass",
        "username, password = request.url.username, request.url.password",
        "if not username or password:\n    return None",
        "Requires-Dist: brotlicffi>=1.2.0.0; extra == 'brotli'",
        'call support about "asn_cidr": "191.250.0.0/15"',
        "Network address\n    :param address_class: IPv4 address class (a, b, or c)",
        "Traceback (most recent call last):\n  ...\nValueError: expected 50331648 bytes",
        'see the HTML5 spec sections "8.2.4.44 Bogus comment state"',
        "_LOCALHOST = '127.0.0.1'",
        "userid = passwd = acct = ''",
        "self.user, self.password = user, password",
    ],
)
def test_source_code_and_licence_text_look_alikes_are_not_findings(text: str) -> None:
    """Found by scanning installed packages: code, type hints, templates, copyright lines.

    Each snippet is also checked inside prose, where the phrase detectors are switched on."""
    assert kinds_in(text) == []
    assert kinds_in(f"As the module docs say in plain words:\n{text}\nand so on here.") == []
