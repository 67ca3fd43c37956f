"""The compiled patterns and gates of the detection engine, and why each looks the way it does.

Python's ``re`` scans at memchr speed for a pattern that starts with a literal and at roughly
20-40 MB/s for one that starts with a character class, so every detector has a literal-led
*gate*; the full pattern is matched only where a gate opened. Digit and letter gates run on the
text's *shape* (see :data:`SHAPE`), where every digit is ``0`` and every letter ``A``/``a``.
Possessive quantifiers keep the patterns linear: a timestamp never backtracks into ever shorter
digit runs.
"""

from __future__ import annotations

import re

__all__ = [
    "AA00",
    "ALL_TRIGGERS",
    "ALNUM",
    "AT",
    "BIRTH_TRIGGERS",
    "BIRTH_TRIGGER_RE",
    "CODE_AFTER",
    "CODE_VALUE",
    "COLON_GATE",
    "DATE_SHAPE",
    "HASH_GATE",
    "IPV4",
    "IPV4_AT",
    "IPV4_GATE",
    "IPV4_PREFIX",
    "IPV6",
    "JWT",
    "KEEP_ALNUM",
    "LABEL_GATE",
    "LATIN1_LOWER",
    "LATIN1_UPPER",
    "LOCAL_SYMBOLS",
    "MASKED_VALUE",
    "MONTH_WORDS",
    "NAME_WORD",
    "NIE_GATE",
    "PHRASES",
    "PHRASE_TRIGGERS",
    "PHRASE_TRIGGER_RE",
    "PROSE_GATE",
    "RUN",
    "RUN_STARTS",
    "SECRETS",
    "SECRET_GATES",
    "SECRET_LITERALS",
    "SHAPE",
    "SHAPE_KEEP",
    "SSN_SHAPE",
    "WDATE",
    "YEAR_RANGE",
]

# RFC 5322 atext minus the rarely used symbols, plus any letter (RFC 6531 internationalised).
LOCAL_SYMBOLS = frozenset("._%+-'")

AT = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")

MONTH_WORDS = (
    r"(?:jan|feb|f[eé]v|mar|m[aä]r|apr|avr|abr|may|mai|mei|mag|jun|jui|jul|lug|aug|ao[uû]|ago|"
    r"sep|set|oct|okt|ott|nov|dec|d[eé]c|dez|dic|gen|ene|giu|lu)[a-zéû]*"
)

# A capitalised name word, hyphenated parts included: "Karl-Heinz", "O'Neil", "Tirabassi-Persico".
NAME_WORD = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'’]+(?:-[A-ZÀ-ÖØ-Þ]?[a-zà-öø-ÿ'’]+)*"

# Secrets. Each is matched *at* a position found by a literal gate (see SECRET_GATES).
SECRETS = re.compile(
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
# One pattern per leading literal: an alternation of them starts with a character class, which
# sre tries at every position (~3x slower over a body than these five searches together).
SECRET_GATES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(gate)
    for gate in (
        r"A(?:KIA|SIA|GPA|IDA|ROA|Iza)",
        r"g(?:h[pousr]_|ithub_pat_)",
        r"xox[abposr]-",
        r"_live_",
        r"sk(?:_test_|-)",
    )
)
SECRET_LITERALS: tuple[tuple[str, int], ...] = (
    ("eyJ", 0),
    ("earer", 1),
    ("-----BEGIN", 0),
    ("pbkdf2_", 0),
)
# Password hashes start with "$"; prices do too ("$530.05"), so "$" alone opens too often. The
# gate holds each hash's literal head and is searched from the "$" literal, in C.
HASH_GATE = re.compile(r"\$(?:argon2|2[abxy]?\$|scrypt\$|7\$|pbkdf2)")

# Phrases that introduce a person, an address, a password or a birth date in free text.
PHRASES = re.compile(
    "|".join(
        (
            r"(?P<pw_kw>(?i:\b(?:password|passwd|pwd|passphrase|passwort|mot de passe|"
            r"contrase[ñn]a|wachtwoord)[\"']?\s*(?:[:=]|is\b|ist\b|est\b|es\b)\s*[\"']?)"
            r"(?P<pw>[^\s\"',;\x00]{4,128}+))",
            r"(?P<name_kw>(?i:\bmy name is|(?<![\w-])name[ \t]*:|\bdear|\bmein name ist|"
            r"\bje m'appelle|\bme llamo|\bmi chiamo|\bmijn naam is|\bich bin|\bje suis|"
            r"\bsoy|\bsono|"
            r"\bregards,|\bsincerely,|\bcordialement,|\bgrüße,|\bsaludos,|\bsaluti,|\bgroeten,)"
            r"[ \t]*\n?[ \t]*)"
            r"(?P<name>" + NAME_WORD + r"(?:[ \t]+(?:(?:van|von|de|der|den|di|da|du|del|"
            r"la|le|dos|das|ten|ter)[ \t]+)*" + NAME_WORD + r"){1,3})",
            r"(?P<addr_kw>(?i:\bi live at|\blives at|\bmy address is|\baddress[ \t]*:|"
            r"\badresse[ \t]*:|"
            r"\bship to|\bdeliver to|\bsend it to|\bwohne in der|\bwohne in|\bj'habite au|"
            r"\bj'habite|\bvivo en|\babito in|\bwoon op|\bwoon aan|\bdirección[ \t]*:|"
            r"\bindirizzo[ \t]*:|\badres[ \t]*:)[ \t]*)"
            # Ends at a sentence end, not at an abbreviation: "Hauptstr. 5" goes on.
            r"(?P<addr>[^\n\x00]{4,160}?)(?=\.(?:[ \t]+[A-ZÀ-Ö]|\s*$|\s*\n)|\n|\x00|$)",
        )
    )
)
# Lower-case pieces of every phrase above ("pass" in "mot de passe", "name" in "my name is").
# Finding them with str.find is ~100x cheaper than running PHRASES over all prose, so PHRASES
# only runs in a window around a trigger.
PHRASE_TRIGGERS: tuple[str, ...] = (
    "pass", "pwd", "contrase", "wachtwoord",
    "name", "dear", "appelle", "llamo", "chiamo", "naam", "ich bin", "je suis", "soy", "sono",
    "regards", "sincerely", "cordialement", "grüße", "saludos", "saluti", "groeten",
    "live", "address", "adres", "ship to", "deliver to", "send it", "wohne", "habite",
    "vivo en", "abito", "woon", "direcci", "indirizzo",
)  # fmt: skip
BIRTH_TRIGGERS: tuple[str, ...] = (
    "born", "birth", "dob", "d.o.b", "geboren", "geburt", "né le", "née le", "naissance",
    "nacid", "nacimiento", "nato il", "nata il", "nascita", "geboorte",
)  # fmt: skip
# One search per segment: on short values a call per trigger word would cost more than the scan.
PHRASE_TRIGGER_RE = re.compile("|".join(map(re.escape, PHRASE_TRIGGERS)))
BIRTH_TRIGGER_RE = re.compile("|".join(map(re.escape, BIRTH_TRIGGERS)))
ALL_TRIGGERS = PHRASE_TRIGGERS + BIRTH_TRIGGERS

# Dates spelled with a month name; only looked for where birth words appear.
WDATE = re.compile(
    r"(?i:\b\d{1,2}\.?[ \t]+" + MONTH_WORDS + r"\.?,?[ \t]+\d{4}\b"
    r"|\b" + MONTH_WORDS + r"\.?[ \t]+\d{1,2},?[ \t]+\d{4}\b)"
)

# Letter-led national identifiers and IBANs (upper case, as printed).
ALNUM = re.compile(
    r"(?P<iban>(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,32}+)"
    r"|(?P<idalnum>(?<![A-Za-z0-9])(?:[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]"
    r"|[XYZ]-?\d{7}-?[A-Z]|\d{8}-?[A-Z]|[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])"
    r"(?![A-Za-z0-9]))"
)
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}+[0-9A-Fa-f]{0,4}+"
    r"(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?(?![\w:])"
)
COLON_GATE = re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")

# The shape of a text: digits -> "0", upper case -> "A", lower case -> "a", in bytes with one
# byte per character (latin-1, anything else -> "?"), so offsets are the text's offsets. Runs of
# digits and separators are then found with a pattern led by the literal "0", which sre scans
# for at memchr speed instead of trying a character class at every position.
# "x" keeps its own shape so a phone extension ("...6317x066") does not glue a number to a word.
SHAPE_KEEP = b"_./-()+ :,;"
LATIN1_UPPER = bytes([*range(0xC0, 0xD7), *range(0xD8, 0xDF)])
LATIN1_LOWER = bytes([*range(0xDF, 0xF7), *range(0xF8, 0x100)])
SHAPE = bytes.maketrans(
    bytes(range(256)),
    bytes(
        b"0"[0]
        if chr(i).isdigit() and i < 0x80
        else b"A"[0]
        if (0x41 <= i <= 0x5A or i in LATIN1_UPPER)
        else (i if i == 0x78 else b"a"[0])  # "x" keeps its own shape
        if (0x61 <= i <= 0x7A or i in LATIN1_LOWER)
        else i
        if i in SHAPE_KEEP
        else b"|"[0]  # every other character: not glue, not a separator
        for i in range(256)
    ),
)
# Seven or more digits with the separators people type, not glued to a word on either side.
# The lookbehind sits after the first "0" so the literal prefix (and its fast search) survives.
# (Trying the pattern only at run starts found by literal search was measured: 2-3x slower.)
RUN = re.compile(rb"0(?<![0Aa_./-]0)(?:[ .()/-]{0,2}+0){6,}+(?![0Aa_])")
# Dotted quads are shorter ("8.8.8.8" has four digits): gated on ".0.0." (dots are rarer than
# digits), then matched from the first digit.
IPV4_GATE = re.compile(rb"\.0{1,3}\.0{1,3}\.0")
IPV4_AT = re.compile(rb"0(?<![0Aa_./-]0)0{0,2}\.0{1,3}\.0{1,3}\.0{1,3}(?![0Aa_]|\.0)")
# Spanish DNI (8 digits + letter) and NIE (letter + 7 digits + letter) end glued to a letter.
NIE_GATE = re.compile(rb"0000000-?A(?![Aa0])")
AA00 = re.compile(rb"AA00")
# Phrase detection only runs on values that read like prose (three words in a row) or hold a
# "label: value" pair.
PROSE_GATE = re.compile(rb" [aA]a*[,;]? [aA]a*[,;]? [aA]")
LABEL_GATE = re.compile(rb"a: ")
RUN_STARTS = frozenset(b"+(")


JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
SSN_SHAPE = re.compile(r"\d{3}[- ]\d{2}[- ]\d{4}")
DATE_SHAPE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{4}")
KEEP_ALNUM = str.maketrans("", "", " -./()\t")
MASKED_VALUE = re.compile(r"[*•xX#]{3,}|\[[A-Z_]+\]|<[a-z_ -]+>|redacted|null|none|\*+", re.I)
# "password = get_auth(url)", "password: bytes | str", "password=${DB_PASSWORD}": source code,
# type annotations and templates around the word are not passwords.
CODE_VALUE = re.compile(
    # snake_case calls and indexing (get_auth(url), proxies[scheme]); mixed-case tokens with a
    # parenthesis are left alone: "xWYY0(V(9" is a password.
    r"[a-z_][a-z0-9_.]{2,}[(\[].*|[A-Za-z_]\w*(?:\.\w+)+,?|[A-Za-z_]\w*,|\$\{.*|\$[A-Z_][A-Z0-9_]*|%\(?\w*\)?s|\{\{?[\w.]*\}?\}?|<\w*>?|"
    r"(?i:str|bytes|string|int|bool|none|null|optional|any|"
    r"password|passwd|pwd|kwargs|args|true|false|undefined|value|return|raise|yield|lambda|"
    r"not|and|or|is|in|if|else)[\]),:]?"
)
# After a password-like value: "passwd = acct = ''" is a chained assignment, not a password.
CODE_AFTER = re.compile(
    r"[ \t]*(?:=[^=]|\)|\.\w)|,[ \t]*[A-Za-z_]\w*[ \t]*(?:$|[=,)\n])", re.MULTILINE
)
# A dotted quad at the start of a digit run ("191.250.0.0/15"): an address or network, not a phone.
IPV4_PREFIX = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\d)")
# "2015-2016", "1999/2000": year ranges in copyright lines, never phone numbers.
YEAR_RANGE = re.compile(r"(?:19|20)\d\d\s?[-–/]\s?(?:19|20)\d\d")
