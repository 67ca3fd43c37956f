"""Evidence around a candidate: the JSON key it sits under, or the words just before it.

A ten-digit run is an order number under ``order_id`` and a phone number under ``mobile``; the
value alone cannot tell. Keys are split into words (``billingAddress`` → ``billing address``) and
matched on words, so ``zip`` never reads as ``ip`` and ``password_hash`` still reads as a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tokenveil.pii._finding import Kind

__all__ = [
    "NO_HINT",
    "WHOLE_VALUE_KINDS",
    "Hint",
    "context_kinds",
    "context_supports",
    "key_hint",
    "negative_context",
]


#: The kinds a key alone can decide, whole value: names, addresses, birth dates, passwords and
#: opaque tokens have no shape a pattern could recognise.
WHOLE_VALUE_KINDS = frozenset(
    {
        Kind.PASSWORD,
        Kind.PRIVATE_KEY,
        Kind.DATE_OF_BIRTH,
        Kind.PERSON,
        Kind.ADDRESS,
        Kind.API_KEY,
        Kind.BEARER_TOKEN,
    }
)


@dataclass(frozen=True, slots=True)
class Hint:
    """What a key says about its value: kinds it supports, whether it argues against PII, and
    whether a child ``name`` key is a person's name (``user.name``, not ``product.name``).
    ``decides`` (derived) is True when a kind it supports can be decided by the key alone
    (:data:`WHOLE_VALUE_KINDS`): only such values are offered to ``whole_value``."""

    kinds: frozenset[str] = frozenset()
    negative: bool = False
    person_container: bool = False
    decides: bool = field(init=False, compare=False, repr=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decides", not self.kinds.isdisjoint(WHOLE_VALUE_KINDS))


NO_HINT = Hint()


def _vocab(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

_PERSON_CONTAINERS = _vocab(
    "user users customer customers person people contact contacts patient employee "
    "author owner member client profile recipient sender buyer seller guest holder "
    "passenger applicant student driver billing shipping subscriber account "
    "cardholder beneficiary payer payee claimant kunde utilisateur cliente utente "
    "klant"
)
_NAME_QUALIFIERS = _vocab(
    "first last full given family middle sur display holder contact customer legal "
    "maiden nick real birth"
)
_PERSON_WORDS = _vocab(
    "firstname lastname fullname givenname familyname surname middlename displayname "
    "cardholder vorname nachname prenom prénom nom nombre apellido apellidos cognome "
    "voornaam achternaam"
)
_NEGATIVE_WORDS = _vocab(
    "id ids uuid guid sha sha1 sha256 sha512 md5 hash checksum digest etag version "
    "ver build release amount price total subtotal tax quantity qty count order "
    "invoice sku tracking request trace span correlation created updated modified "
    "timestamp ts revision commit transaction product item reference ref nonce seq "
    "sequence size length offset port"
)

_KIND_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    (Kind.EMAIL, _vocab("email emails mail courriel correo")),
    (
        Kind.PHONE,
        _vocab(
            "phone phones telephone tel mobile cell cellphone fax msisdn telefon "
            "telefono teléfono téléphone handy portable telefoon whatsapp"
        ),
    ),
    (
        Kind.DATE_OF_BIRTH,
        _vocab("dob birthdate birthday birth geburtsdatum naissance nacimiento nascita"),
    ),
    (Kind.US_SSN, _vocab("ssn")),
    (
        Kind.NATIONAL_ID,
        _vocab(
            "idnr steuerid nir insee dni nie nif codicefiscale fiscal bsn nino "
            "burgerservicenummer national"
        ),
    ),
    (Kind.CREDIT_CARD, _vocab("card pan cc ccnumber creditcard")),
    (Kind.IBAN, _vocab("iban")),
    (Kind.IP_ADDRESS, _vocab("ip ipv4 ipv6 ipaddress remoteaddr forwarded")),
    (
        Kind.PASSWORD,
        _vocab("password passwd pwd passphrase passcode passwort contrasena wachtwoord"),
    ),
    (
        Kind.API_KEY,
        _vocab("apikey secret secrets accesskey secretkey webhooksecret signingkey"),
    ),
    (
        Kind.BEARER_TOKEN,
        _vocab("token tokens authorization bearer session sessionid"),
    ),
    (
        Kind.ADDRESS,
        _vocab(
            "address street streetaddress addr adresse strasse straße direccion "
            "dirección indirizzo adres residence"
        ),
    ),
)

# One cache per parent kind, keyed by the bare key string: no tuple built per lookup.
_HINT_CACHE: tuple[dict[str, Hint], dict[str, Hint]] = ({}, {})
_HINT_CACHE_MAX = 8192


def _words(key: str) -> list[str]:
    return [w.lower() for w in _WORD_SPLIT.split(key) if w]


def _compute_hint(key: str, parent_is_person: bool) -> Hint:
    words = _words(key)
    if not words:
        return NO_HINT
    wordset = set(words)
    joined = "".join(words)
    wordset.add(joined)
    # Plurals name lists of the same thing: "addresses", "phones", "ips".
    wordset.update(w[:-2] if w.endswith("sses") else w[:-1] for w in words if w.endswith("s"))
    kinds: set[str] = set()
    for kind, vocabulary in _KIND_WORDS:
        if wordset & vocabulary:
            kinds.add(kind)
    # "email address", "ip address" and "mac address" are addresses of something else.
    if Kind.ADDRESS in kinds and (wordset & {"email", "mail", "ip", "mac", "wallet", "ipaddress"}):
        kinds.discard(Kind.ADDRESS)
    if "ip" in wordset or "ipaddress" in wordset:
        kinds.add(Kind.IP_ADDRESS)
    # A private key, not an API key; "key" alone (a cache key, a sort key) says nothing.
    if "private" in wordset and "key" in wordset:
        kinds.add(Kind.PRIVATE_KEY)
    elif "api" in wordset and "key" in wordset:
        kinds.add(Kind.API_KEY)
    if "client" in wordset and "secret" in wordset:
        kinds.add(Kind.API_KEY)
    if Kind.PASSWORD in kinds:
        # password_hash, password_reset_token: still the password family, never API keys.
        kinds.discard(Kind.API_KEY)
        kinds.discard(Kind.BEARER_TOKEN)
    if Kind.BEARER_TOKEN in kinds and wordset & {"type", "count", "expires", "ttl", "url"}:
        kinds.discard(Kind.BEARER_TOKEN)
    if ("name" in wordset or "names" in wordset) and (
        wordset & _NAME_QUALIFIERS or (len(words) == 1 and parent_is_person)
    ):
        kinds.add(Kind.PERSON)
    if wordset & _PERSON_WORDS:
        kinds.add(Kind.PERSON)
    if Kind.CREDIT_CARD in kinds and Kind.PERSON in kinds:
        kinds.discard(Kind.CREDIT_CARD)  # card_holder_name
    negative = bool(wordset & _NEGATIVE_WORDS) and not kinds
    container = bool(wordset & _PERSON_CONTAINERS)
    return Hint(frozenset(kinds), negative, container)


def key_hint(key: str, parent: Hint | None = None) -> Hint:
    """The evidence a JSON key (or claim name) gives about its value. Memoised: keys repeat."""
    parent_is_person = parent is not None and parent.person_container
    cache = _HINT_CACHE[parent_is_person]
    hint = cache.get(key)
    if hint is None:
        hint = _compute_hint(key, parent_is_person)
        if len(cache) < _HINT_CACHE_MAX:
            cache[key] = hint
    return hint


# Context words searched in the ~48 characters before a candidate in free text (lower-cased).
# Raw JSON keys ('"mobile": "') count too, which is what lets StreamScanner use them.
_CONTEXT: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        Kind.PHONE,
        re.compile(
            # Word starts matter: "Intel" is not "tel", "excellent" not "cell". Generic
            # "number" words (Nummer, número) are left out: Bestellnummer is an order number.
            # "call" only as in "call me on": "most recent call last" is a traceback.
            r"phone|\btel\b|\btel[.:]|mobile|\bcell|\bcall (?:me|us)\b|\bcall (?:on|at)\b|"
            r"\bfax\b|whatsapp|\bsms\b|ring me|"
            r"reach me|telefon|téléphone|telefono|teléfono|móvil|movil|cellulare|\bhandy:|"
            r"portable|bellen|anrufen|\bappel|\bllam|\bchiam|mobiel"
        ),
    ),
    (Kind.US_SSN, re.compile(r"ssn|social security|soc\.? ?sec")),
    (
        Kind.NATIONAL_ID,
        re.compile(
            r"steuer|idnr|identifikationsnummer|\bnir\b|sécurité sociale|securite sociale|"
            r"insee|\bdni\b|\bnie\b|\bnif\b|documento|codice fiscale|c\.f\.|\bbsn\b|"
            r"burgerservice|national insurance|\bnino\b|ni number|national id|tax id|"
            r"id number|identity|identité|identidad|identità"
        ),
    ),
    (
        Kind.DATE_OF_BIRTH,
        re.compile(
            r"born|birth|\bdob\b|d\.o\.b|geboren|geburt|né le|née le|naissance|nacid|"
            r"nacimiento|nato il|nata il|nascita|geboorte"
        ),
    ),
    (
        Kind.CREDIT_CARD,
        re.compile(r"card|visa|mastercard|amex|credit|debit|karte|carte|tarjeta|carta|kaart"),
    ),
    (Kind.IBAN, re.compile(r"iban|bank|account|konto|compte|cuenta|conto|rekening")),
    (Kind.IP_ADDRESS, re.compile(r"\bip\b|address|client|remote|host|from|origin")),
)

_NEGATIVE_CONTEXT = re.compile(
    r"order|invoice|tracking|\bref|reference|\bsku|\bid\b|#|amount|price|total|\bsha|hash|"
    r"checksum|build|version|\bver\b|\bv$|release|serial|commit|transaction|ticket|bestell|"
    r"commande|pedido|ordine|bestelling|rechnung|facture|factura|fattura|factuur|"
    # Version specifiers ("brotli>=1.2.0.0") and section numbers ("sections 8.2.4.44").
    r"(?:[<>~!=]=|[<>])\s*$|section|§|chapter|paragraph|\brfc"
)


_CONTEXT_BY_KIND: dict[str, re.Pattern[str]] = dict(_CONTEXT)


def context_supports(lowered_window: str, kind: str) -> bool:
    """True when the (lower-cased) words just before a candidate speak for ``kind``."""
    pattern = _CONTEXT_BY_KIND.get(kind)
    return pattern is not None and pattern.search(lowered_window) is not None


def context_kinds(window: str) -> frozenset[str]:
    """Kinds that the words in ``window`` (text just before a candidate) speak for."""
    lowered = window.lower()
    return frozenset(kind for kind, pattern in _CONTEXT if pattern.search(lowered))


def negative_context(window: str) -> bool:
    """True when the words just before a candidate call it an order, hash, version, amount..."""
    return _NEGATIVE_CONTEXT.search(window.lower()) is not None
