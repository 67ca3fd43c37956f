"""A labelled, multi-locale evaluation corpus for PII detectors, generated with Faker.

Deterministic for a seed. Every planted value is labelled with its kind and exact location (a
JSON path plus offsets inside that string value, or offsets into a text body), and every piece
of look-alike noise (UUIDs, digests, timestamps, order numbers, Luhn-failing digit runs,
versions, prices) is labelled with its class, so a scorer can count recall per kind, precision
overall, and false positives per noise class.

Ambiguous kinds are planted the way they appear in real data: a national-format phone number
sits under a ``phone`` key or after "call me on"; a birth date under ``dob`` or after "born on".
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import random
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from faker import Faker
from stdnum import luhn
from stdnum.de import idnr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.us import ssn as us_ssn

__all__ = [
    "LOCALES",
    "NOISE_CLASSES",
    "Document",
    "Label",
    "Scores",
    "api_body",
    "api_pages",
    "generate",
    "score",
]

LOCALES: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")
NOISE_CLASSES: tuple[str, ...] = (
    "uuid",
    "hex_digest",
    "timestamp",
    "order_number",
    "luhn_failing",
    "version",
    "price",
)
_REGION = {
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "es_ES": "ES",
    "it_IT": "IT",
    "nl_NL": "NL",
}


@dataclass(frozen=True, slots=True)
class Label:
    """A planted value (``kind`` is a PII kind) or planted noise (``kind`` is a noise class)."""

    kind: str
    start: int
    end: int
    path: str | None = None


@dataclass(slots=True)
class Document:
    """One corpus document: a JSON body or a free-text body, with its labels."""

    format: str  # "json" or "text"
    body: str
    labels: list[Label] = field(default_factory=list)
    noise: list[Label] = field(default_factory=list)


class _Gen:
    """Values for one locale. Every generator returns a string as it would be printed."""

    def __init__(self, locale: str, rng: random.Random, pem_keys: list[str], us: Faker) -> None:
        self.locale = locale
        self.region = _REGION[locale]
        self.fake = _faker(locale)
        self.fake.seed_instance(rng.randrange(1 << 30))
        self.rng = rng
        self.pem_keys = pem_keys
        # US SSNs are planted in every locale's text, from one shared, seeded en_US Faker.
        self.us = us

    # --- personal data -------------------------------------------------------------------
    def name(self) -> str:
        return f"{self.fake.first_name()} {self.fake.last_name()}"

    def email(self) -> str:
        return str(self.fake.email())

    def phone(self, *, national_ok: bool) -> str:
        for _ in range(50):
            raw = str(self.fake.phone_number())
            try:
                number = phonenumbers.parse(raw, self.region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(number):
                continue
            formats = [
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            ]
            if national_ok:
                formats.append(phonenumbers.PhoneNumberFormat.NATIONAL)
            return str(phonenumbers.format_number(number, self.rng.choice(formats)))
        # Faker's locale data rarely fails 50 times; a known-valid shape keeps determinism.
        return "+44 20 7946 0" + str(self.rng.randrange(100, 999))

    def card(self) -> str:
        kind = self.rng.choice(["visa16", "mastercard", "amex", "discover", "jcb", "diners"])
        digits = str(self.fake.credit_card_number(card_type=kind))
        # Faker draws JCB prefixes from all of 35xx; only 3528-3589 is assigned to JCB.
        while kind == "jcb" and not 3528 <= int(digits[:4]) <= 3589:
            digits = str(self.fake.credit_card_number(card_type=kind))
        style = self.rng.random()
        if style < 0.4:
            return digits
        sep = " " if style < 0.75 else "-"
        if len(digits) == 15:
            return sep.join((digits[:4], digits[4:10], digits[10:]))
        return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))

    def iban(self) -> str:
        value = str(self.fake.iban())
        if self.rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ssn(self) -> str:
        while True:
            value = str(self.us.ssn())
            if us_ssn.is_valid(value):
                return value

    def national_id(self) -> str | None:
        loc = self.locale
        if loc == "de_DE":
            while True:
                value = "".join(self.rng.choice(string.digits) for _ in range(11))
                if idnr.is_valid(value):
                    return value
        if loc == "fr_FR":
            return str(self.fake.ssn())
        if loc == "es_ES":
            # Faker's es_ES nie() ignores the instance seed; stdnum computes the check letter.
            body = "".join(self.rng.choice(string.digits) for _ in range(7))
            if self.rng.random() < 0.5:
                dni_body = self.rng.choice("123456789") + body
                return dni_body + str(es_dni.calc_check_digit(dni_body))
            nie_body = self.rng.choice("XYZ") + body
            return nie_body + str(es_nie.calc_check_digit(nie_body))
        if loc == "it_IT":
            return str(self.fake.ssn())
        if loc == "nl_NL":
            return str(self.fake.ssn())
        if loc == "en_GB":
            first = self.rng.choice("ABCEGHJKLMNOPRSTWXYZ")
            second = self.rng.choice("ABCEGHJKLMNPRSTWXYZ")
            if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
                first, second = "A", "B"
            digits = "".join(self.rng.choice(string.digits) for _ in range(6))
            return f"{first}{second}{digits}{self.rng.choice('ABCD')}"
        return None

    def ipv4(self) -> str:
        return str(self.fake.ipv4_public() if self.rng.random() < 0.8 else self.fake.ipv4_private())

    def ipv6(self) -> str:
        # Faker draws from the whole space; ff00::/8 is multicast, a group and not a host.
        while (value := str(self.fake.ipv6())).startswith("ff"):
            pass
        return value

    def dob(self) -> str:
        # Fixed bounds (not "age 18-90 today") so a seed gives the same corpus every day.
        date = self.fake.date_between(dt.date(1935, 1, 1), dt.date(2006, 12, 31))
        style = self.rng.randrange(4)
        if style == 0:
            return date.isoformat()
        if style == 1:
            return date.strftime("%d.%m.%Y")
        if style == 2:
            return date.strftime("%d/%m/%Y")
        return date.strftime("%B %-d, %Y")

    def address(self) -> str:
        return ", ".join(part.strip() for part in str(self.fake.address()).splitlines())

    def street(self) -> str:
        return str(self.fake.street_address())

    # --- secrets ------------------------------------------------------------------------
    def _b64(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def jwt(self) -> str:
        header = self._b64(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}).encode())
        claims = {"sub": str(uuid.UUID(int=self.rng.getrandbits(128))), "exp": 1700000000}
        payload = self._b64(json.dumps(claims).encode())
        signature = self._b64(self.rng.randbytes(64))
        return f"{header}.{payload}.{signature}"

    def opaque_token(self, n: int = 43) -> str:
        return "".join(
            self.rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(n)
        )

    def api_key(self) -> str:
        alnum = string.ascii_letters + string.digits
        pick = self.rng.randrange(6)

        def rand(chars: str, n: int) -> str:
            return "".join(self.rng.choice(chars) for _ in range(n))

        if pick == 0:
            return "AKIA" + rand(string.ascii_uppercase + string.digits, 16)
        if pick == 1:
            return "ghp_" + rand(alnum, 36)
        if pick == 2:
            return "xoxb-" + rand(string.digits, 12) + "-" + rand(alnum, 24)
        if pick == 3:
            return "sk_live_" + rand(alnum, 24)
        if pick == 4:
            return "AIza" + rand(alnum + "-_", 35)
        return "sk-proj-" + rand(alnum, 48)

    def private_key(self) -> str:
        return self.rng.choice(self.pem_keys)

    def password(self) -> str:
        return str(self.fake.password(length=self.rng.randrange(10, 20)))

    def password_hash(self) -> str:
        alphabet = "./" + string.ascii_letters + string.digits
        return "$2b$12$" + "".join(self.rng.choice(alphabet) for _ in range(53))

    # --- noise --------------------------------------------------------------------------
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex_digest(self) -> str:
        return self.rng.randbytes(self.rng.choice([16, 20, 32])).hex()

    def timestamp(self) -> str:
        moment = self.fake.date_time_between(dt.datetime(2022, 1, 1), dt.datetime(2025, 12, 31))
        return moment.strftime(
            self.rng.choice(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.000+00:00"])
        )

    def order_number(self) -> str:
        style = self.rng.randrange(3)
        if style == 0:
            return f"ORD-{self.rng.randrange(2019, 2026)}-{self.rng.randrange(10**6):06d}"
        if style == 1:
            return str(self.rng.randrange(10**9, 10**10))
        return f"#{self.rng.randrange(10**5, 10**8)}"

    def luhn_failing(self) -> str:
        while True:
            digits = self.rng.choice("3456") + "".join(
                self.rng.choice(string.digits) for _ in range(15)
            )
            if not luhn.is_valid(digits):
                return digits

    def version(self) -> str:
        parts = self.rng.choice([3, 4])
        return ".".join(str(self.rng.randrange(0, 20)) for _ in range(parts))

    def price(self) -> str:
        amount = self.rng.randrange(100, 500000) / 100
        return self.rng.choice([f"{amount:.2f}", f"${amount:,.2f}", f"{amount:.2f} EUR"])


@functools.cache
def _faker(locale: str) -> Faker:
    """Faker instances are slow to build; they are reused and re-seeded per corpus."""
    return Faker(locale)


def _pem_keys(count: int, rng: random.Random) -> list[str]:
    """Throwaway P-256 keys derived from the seeded generator, so the corpus is reproducible."""
    keys = []
    for _ in range(count):
        key = ec.derive_private_key(rng.randrange(1, 1 << 255), ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        keys.append(pem.decode())
    return keys


# ------------------------------------------------------------------------------------------
# JSON documents. A builder returns (document, [(kind, path, value)], [(class, path, value)]);
# labels cover whole string values, so offsets are (0, len(value)).

_Plant = tuple[str, str, str]
_Built = tuple[Any, list[_Plant], list[_Plant]]


def _user_profile(g: _Gen) -> _Built:
    uid, created, ver = g.uuid(), g.timestamp(), g.version()
    name, email, phone, dob, street = (
        g.name(),
        g.email(),
        g.phone(national_ok=True),
        g.dob(),
        g.street(),
    )
    doc = {
        "id": uid,
        "user": {
            "name": name,
            "email": email,
            "phone": phone,
            "dob": dob,
            "address": {"street": street, "city": g.fake.city(), "postcode": g.fake.postcode()},
        },
        "created_at": created,
        "version": ver,
    }
    planted = [
        ("PERSON", "$.user.name", name),
        ("EMAIL", "$.user.email", email),
        ("PHONE", "$.user.phone", phone),
        ("DATE_OF_BIRTH", "$.user.dob", dob),
        ("ADDRESS", "$.user.address.street", street),
    ]
    noise = [
        ("uuid", "$.id", uid),
        ("timestamp", "$.created_at", created),
        ("version", "$.version", ver),
    ]
    return doc, planted, noise


def _order(g: _Gen) -> _Built:
    first, last, email, card = g.fake.first_name(), g.fake.last_name(), g.email(), g.card()
    order_no, sha, price, luhn_bad = g.order_number(), g.hex_digest(), g.price(), g.luhn_failing()
    as_number = card.isdigit() and g.rng.random() < 0.5
    doc = {
        "order_id": order_no,
        "customer": {"first_name": first, "last_name": last, "email": email},
        "payment": {"card_number": int(card) if as_number else card, "reference": luhn_bad},
        "items": [
            {"sku": f"SKU-{g.rng.randrange(10**5)}", "price": price, "qty": g.rng.randrange(1, 5)}
        ],
        "amount": g.rng.randrange(100, 10**6) / 100,
        "sha256": sha,
    }
    planted = [
        ("PERSON", "$.customer.first_name", first),
        ("PERSON", "$.customer.last_name", last),
        ("EMAIL", "$.customer.email", email),
        ("CREDIT_CARD", "$.payment.card_number", card),
    ]
    noise = [
        ("order_number", "$.order_id", order_no),
        ("luhn_failing", "$.payment.reference", luhn_bad),
        ("price", "$.items[0].price", price),
        ("hex_digest", "$.sha256", sha),
    ]
    return doc, planted, noise


def _audit_event(g: _Gen) -> _Built:
    rid, ts, trace = g.uuid(), g.timestamp(), g.hex_digest()
    ip = g.ipv4() if g.rng.random() < 0.6 else g.ipv6()
    email = g.email()
    prefix = "password reset requested for "
    doc = {
        "request_id": rid,
        "timestamp": ts,
        "client_ip": ip,
        "message": f"{prefix}{email}",
        "trace_id": trace,
        "status": 200,
    }
    planted = [("IP_ADDRESS", "$.client_ip", ip), ("EMAIL", "$.message", email)]
    noise = [
        ("uuid", "$.request_id", rid),
        ("timestamp", "$.timestamp", ts),
        ("hex_digest", "$.trace_id", trace),
    ]
    return doc, planted, noise


def _auth_response(g: _Gen) -> _Built:
    access, refresh, opaque = g.jwt(), g.opaque_token(), g.opaque_token(32)
    doc = {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": 600,
        "echo": {"headers": {"Authorization": f"Bearer {opaque}"}},
    }
    planted = [
        ("JWT", "$.access_token", access),
        ("BEARER_TOKEN", "$.refresh_token", refresh),
        ("BEARER_TOKEN", "$.echo.headers.Authorization", opaque),
    ]
    return doc, planted, []


def _hr_record(g: _Gen) -> _Built:
    name, dob, iban, addr = g.name(), g.dob(), g.iban(), g.address()
    doc: dict[str, Any] = {
        "employee": {"full_name": name, "birth_date": dob, "iban": iban, "home_address": addr}
    }
    planted = [
        ("PERSON", "$.employee.full_name", name),
        ("DATE_OF_BIRTH", "$.employee.birth_date", dob),
        ("IBAN", "$.employee.iban", iban),
        ("ADDRESS", "$.employee.home_address", addr),
    ]
    if g.locale == "en_US":
        ssn = g.ssn()
        doc["employee"]["ssn"] = ssn
        planted.append(("US_SSN", "$.employee.ssn", ssn))
    else:
        nid = g.national_id()
        if nid is not None:
            doc["employee"]["national_id"] = nid
            planted.append(("NATIONAL_ID", "$.employee.national_id", nid))
    ver = g.version()
    doc["schema_version"] = ver
    return doc, planted, [("version", "$.schema_version", ver)]


def _config_leak(g: _Gen) -> _Built:
    key1, key2, pw, pem, pwhash = (
        g.api_key(),
        g.api_key(),
        g.password(),
        g.private_key(),
        g.password_hash(),
    )
    doc = {
        "service": "billing",
        "credentials": {"primary": key1, "fallback": key2},
        "db": {"host": "db.internal", "port": 5432, "password": pw},
        "tls": {"private_key": pem},
        "admin": {"password_hash": pwhash},
    }
    planted = [
        ("API_KEY", "$.credentials.primary", key1),
        ("API_KEY", "$.credentials.fallback", key2),
        ("PASSWORD", "$.db.password", pw),
        ("PRIVATE_KEY", "$.tls.private_key", pem),
        ("PASSWORD", "$.admin.password_hash", pwhash),
    ]
    return doc, planted, []


def _contacts(g: _Gen) -> _Built:
    contacts: list[dict[str, Any]] = []
    planted: list[_Plant] = []
    for i in range(g.rng.randrange(2, 5)):
        name, email, phone = g.name(), g.email(), g.phone(national_ok=True)
        contacts.append({"name": name, "emails": [email], "phones": [phone], "tags": ["vip"]})
        # "contacts" is a person container, so contacts[i].name is a person's name.
        planted += [
            ("PERSON", f"$.contacts[{i}].name", name),
            ("EMAIL", f"$.contacts[{i}].emails[0]", email),
            ("PHONE", f"$.contacts[{i}].phones[0]", phone),
        ]
    return {"contacts": contacts, "page": 1}, planted, []


def _noise_only(g: _Gen) -> _Built:
    values = {
        "id": ("uuid", g.uuid()),
        "etag": ("hex_digest", g.hex_digest()),
        "sha1": ("hex_digest", g.hex_digest()),
        "created_at": ("timestamp", g.timestamp()),
        "updated_at": ("timestamp", g.timestamp()),
        "order_number": ("order_number", g.order_number()),
        "version": ("version", g.version()),
        "build": ("version", g.version()),
        "price": ("price", g.price()),
        "tracking_number": ("luhn_failing", g.luhn_failing()),
        "invoice_ref": ("luhn_failing", g.luhn_failing()),
    }
    doc: dict[str, Any] = {key: value for key, (_cls, value) in values.items()}
    doc["product"] = {"name": g.fake.word().title(), "total": g.rng.randrange(10**4) / 100}
    noise = [(cls, f"$.{key}", value) for key, (cls, value) in values.items()]
    return doc, [], noise


_JSON_BUILDERS: tuple[Callable[[_Gen], _Built], ...] = (
    _user_profile,
    _order,
    _audit_event,
    _auth_response,
    _hr_record,
    _config_leak,
    _contacts,
    _noise_only,
)


def _json_document(g: _Gen) -> Document:
    doc, planted, noise = g.rng.choice(_JSON_BUILDERS)(g)
    body = json.dumps(doc, ensure_ascii=g.rng.random() < 0.3, indent=g.rng.choice([None, 2]))
    labels = []
    for kind, path, value in planted:
        if path.endswith(".message"):
            start = str(doc["message"]).index(value)
            labels.append(Label(kind, start, start + len(value), path))
        elif path.endswith("Authorization"):
            labels.append(Label(kind, 7, 7 + len(value), path))
        else:
            labels.append(Label(kind, 0, len(value), path))
    return Document("json", body, labels, [Label(c, 0, len(v), p) for c, p, v in noise])


# ------------------------------------------------------------------------------------------
# Free-text documents: support tickets and log lines assembled from labelled pieces.


class _TextBuilder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.labels: list[Label] = []
        self.noise: list[Label] = []

    def say(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def plant(self, kind: str, value: str) -> None:
        self.labels.append(Label(kind, self.length, self.length + len(value)))
        self.say(value)

    def noise_(self, cls: str, value: str) -> None:
        self.noise.append(Label(cls, self.length, self.length + len(value)))
        self.say(value)

    def document(self) -> Document:
        return Document("text", "".join(self.parts), self.labels, self.noise)


def _sentences(g: _Gen) -> Iterable[Callable[[_TextBuilder], None]]:
    def intro(b: _TextBuilder) -> None:
        b.say("Hello support,\nmy name is ")
        b.plant("PERSON", g.name())
        b.say(" and I need help with my account. ")

    def contact(b: _TextBuilder) -> None:
        b.say("You can call me on ")
        b.plant("PHONE", g.phone(national_ok=True))
        b.say(" or write to ")
        b.plant("EMAIL", g.email())
        b.say(". ")

    def card(b: _TextBuilder) -> None:
        b.say("My card ")
        b.plant("CREDIT_CARD", g.card())
        b.say(" was charged twice for order ")
        b.noise_("order_number", g.order_number())
        b.say(" (total ")
        b.noise_("price", g.price())
        b.say("). ")

    def bank(b: _TextBuilder) -> None:
        b.say("Please refund to IBAN ")
        b.plant("IBAN", g.iban())
        b.say(". ")

    def identity(b: _TextBuilder) -> None:
        if g.locale == "en_US":
            b.say("My SSN is ")
            b.plant("US_SSN", g.ssn())
        else:
            nid = g.national_id()
            if nid is None:
                return
            b.say("My national ID number is ")
            b.plant("NATIONAL_ID", nid)
        b.say(". ")

    def born(b: _TextBuilder) -> None:
        b.say("I was born on ")
        b.plant("DATE_OF_BIRTH", g.dob())
        b.say(" if you need to verify me. ")

    def live(b: _TextBuilder) -> None:
        b.say("I live at ")
        b.plant("ADDRESS", g.address())
        b.say(".\n")

    def log_line(b: _TextBuilder) -> None:
        b.say("\n")
        b.noise_("timestamp", g.timestamp())
        b.say(" INFO request ")
        b.noise_("uuid", g.uuid())
        b.say(" from ")
        b.plant("IP_ADDRESS", g.ipv4() if g.rng.random() < 0.7 else g.ipv6())
        b.say(" build ")
        b.noise_("version", "v" + g.version())
        b.say(" commit ")
        b.noise_("hex_digest", g.hex_digest())
        b.say(" ref ")
        b.noise_("luhn_failing", g.luhn_failing())
        b.say("\n")

    def secrets(b: _TextBuilder) -> None:
        pick = g.rng.randrange(4)
        if pick == 0:
            b.say("curl -H 'Authorization: Bearer ")
            b.plant("JWT", g.jwt())
            b.say("' https://api.example.test/me\n")
        elif pick == 1:
            b.say("oops, I pasted our key ")
            b.plant("API_KEY", g.api_key())
            b.say(" in the chat. ")
        elif pick == 2:
            b.say("login failed, password: ")
            b.plant("PASSWORD", g.password().replace(" ", "_"))
            b.say("\n")
        else:
            b.say("attached key:\n")
            b.plant("PRIVATE_KEY", g.private_key().strip())
            b.say("\n")

    return (intro, contact, card, bank, identity, born, live, log_line, secrets)


def _text_document(g: _Gen) -> Document:
    b = _TextBuilder()
    pieces = list(_sentences(g))
    chosen = [pieces[0], *g.rng.sample(pieces[1:], g.rng.randrange(3, len(pieces)))]
    for piece in chosen:
        piece(b)
    b.say("\nThanks!")
    return b.document()


def generate(count: int, *, seed: int = 0, text_share: float = 0.3) -> list[Document]:
    """``count`` documents, cycling through the locales; the same seed gives the same corpus."""
    rng = random.Random(seed)
    Faker.seed(seed)
    pem_keys = _pem_keys(3, rng)
    us = Faker("en_US")
    us.seed_instance(seed)
    gens = [_Gen(locale, rng, pem_keys, us) for locale in LOCALES]
    docs = []
    for i in range(count):
        g = gens[i % len(gens)]
        docs.append(_text_document(g) if rng.random() < text_share else _json_document(g))
    return docs


# ------------------------------------------------------------------------------------------
# Large API bodies for throughput curves: list responses where most values are not personal.


def api_body(target_bytes: int, *, seed: int = 0, pii_every: int = 8) -> bytes:
    """A JSON list response of about ``target_bytes``: orders with ids, timestamps, amounts,
    product titles and tracking numbers; every ``pii_every``-th order carries a customer's
    name, email and phone (``pii_every=0``: none, a clean body). Records come from a pool of
    400 and get fresh ids, so 10 MB builds in about a second."""
    return api_pages(target_bytes, 1, seed=seed, pii_every=pii_every)[0]


def api_pages(page_bytes: int, pages: int, *, seed: int = 0, pii_every: int = 8) -> list[bytes]:
    """``pages`` consecutive pages of the :func:`api_body` list, each of about ``page_bytes``.

    A 1 KB page holds two orders, so one page alone is either clean or half personal data;
    consecutive pages carry the same share of customers (one order in ``pii_every``) as one
    large body does.
    """
    rng = random.Random(seed)
    g = _Gen("en_US", rng, [], _faker("en_US"))
    pool: list[dict[str, Any]] = []
    for i in range(400):
        record: dict[str, Any] = {
            "id": g.uuid(),
            "created_at": g.timestamp(),
            "updated_at": g.timestamp(),
            "status": rng.choice(["paid", "shipped", "refunded", "pending"]),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "amount": rng.randrange(100, 10**6) / 100,
            "items": [
                {
                    "sku": f"SKU-{rng.randrange(10**6):06d}",
                    "title": str(g.fake.catch_phrase()),
                    "qty": rng.randrange(1, 4),
                    "unit_price": g.price(),
                }
                for _ in range(rng.randrange(1, 4))
            ],
            "shipping": {"carrier": "DHL", "tracking_number": g.luhn_failing()},
            "etag": g.hex_digest(),
        }
        if pii_every and i % pii_every == 0:
            record["customer"] = {
                "name": g.name(),
                "email": g.email(),
                "phone": g.phone(national_ok=False),
            }
        pool.append(record)
    bodies: list[bytes] = []
    i = 0
    for page in range(1, pages + 1):
        records: list[dict[str, Any]] = []
        size = 2
        while size < page_bytes:
            record = dict(pool[i % len(pool)], id=g.uuid())
            size += len(json.dumps(record)) + 1
            records.append(record)
            i += 1
        bodies.append(json.dumps({"data": records, "page": page}).encode())
    return bodies


# ------------------------------------------------------------------------------------------
# Scoring.


@dataclass(slots=True)
class Scores:
    """Counts from :func:`score`; ``recall`` per kind, ``precision`` overall."""

    labelled: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    findings: int = 0
    true_findings: int = 0
    noise_hits: Counter[str] = field(default_factory=Counter)
    # (kind, locale-free description) of misses and false positives, for debugging tools only.
    false_positive_kinds: Counter[str] = field(default_factory=Counter)

    def recall(self, kind: str | None = None) -> float:
        if kind is None:
            total = sum(self.labelled.values())
            return sum(self.found.values()) / total if total else 1.0
        return self.found[kind] / self.labelled[kind] if self.labelled[kind] else 1.0

    @property
    def precision(self) -> float:
        return self.true_findings / self.findings if self.findings else 1.0


#: What a detector under test reports for a document: (kind, path or None, start, end).
Detected = tuple[str, str | None, int, int]


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def score(docs: Iterable[Document], detect: Callable[[Document], list[Detected]]) -> Scores:
    """Run ``detect`` on each document. A finding is true when it overlaps a label of the same
    kind at the same path; each label counts once towards recall."""
    scores = Scores()
    for doc in docs:
        detected = detect(doc)
        matched: set[int] = set()
        for kind, path, start, end in detected:
            scores.findings += 1
            hit = None
            for i, label in enumerate(doc.labels):
                if (
                    label.kind == kind
                    and label.path == path
                    and _overlaps(start, end, label.start, label.end)
                ):
                    hit = i
                    break
            if hit is not None:
                scores.true_findings += 1
                matched.add(hit)
                continue
            scores.false_positive_kinds[kind] += 1
            for noise in doc.noise:
                if noise.path == path and _overlaps(start, end, noise.start, noise.end):
                    scores.noise_hits[noise.kind] += 1
        for i, label in enumerate(doc.labels):
            scores.labelled[label.kind] += 1
            if i in matched:
                scores.found[label.kind] += 1
    return scores
