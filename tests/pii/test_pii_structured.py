"""Structure-aware scanning of JSON documents and Python objects: paths, offsets, key evidence."""

from __future__ import annotations

import json

from tokenveil import pii
from tokenveil.pii import Finding
from tokenveil.pii._structure import json_or_none


def located(data: str | bytes) -> list[tuple[str, str | None, int, int]]:
    return [(f.kind, f.path, f.start, f.end) for f in pii.find_in_json(data)]


def test_paths_are_jsonpath_like_and_offsets_are_inside_the_value() -> None:
    """$.user.emails[1] names the value; start/end index the decoded string at that path."""
    doc = {"user": {"emails": ["none", "write to ana@example.org please"]}}
    (finding,) = pii.find_in_json(json.dumps(doc))
    assert finding.path == "$.user.emails[1]"
    value = doc["user"]["emails"][1]
    assert value[finding.start : finding.end] == "ana@example.org"


def test_offsets_index_the_decoded_value_not_the_escaped_source() -> None:
    """With escapes before the value, offsets still point into the decoded string."""
    raw = '{"note": "caf\\u00e9 \\"quoted\\" ana@example.org"}'
    (finding,) = pii.find_in_json(raw)
    assert json.loads(raw)["note"][finding.start : finding.end] == "ana@example.org"


def test_keys_that_are_not_identifiers_are_quoted_in_paths() -> None:
    """Keys with spaces or dots are written $["first name"]."""
    doc = {"contact info": {"e.mail": "ana@example.org"}}
    assert located(json.dumps(doc)) == [("EMAIL", '$["contact info"]["e.mail"]', 0, 15)]


def test_person_address_and_birth_date_come_from_their_keys() -> None:
    """Values without a shape of their own are found through the key that holds them."""
    doc = {
        "customer": {
            "name": "Ana Lima",
            "birth_date": "1990-04-01",
            "address": {"street": "Rua Augusta 12", "city": "Lisboa"},
        },
        "product": {"name": "Blue Mug"},
    }
    assert located(json.dumps(doc)) == [
        ("PERSON", "$.customer.name", 0, 8),
        ("DATE_OF_BIRTH", "$.customer.birth_date", 0, 10),
        ("ADDRESS", "$.customer.address.street", 0, 14),
    ]


def test_national_phone_numbers_are_found_under_phone_keys_only() -> None:
    """ "0612345678" is a phone under "mobile" and nothing under "batch"."""
    assert located('{"mobile": "06 12 34 56 78"}') == [("PHONE", "$.mobile", 0, 14)]
    assert located('{"batch": "06 12 34 56 78"}') == []


def test_negative_keys_demote_look_alikes() -> None:
    """A Luhn-valid number under order_id, an IP-shaped version, a digest: no findings."""
    doc = {
        "order_id": "4111111111111111",
        "version": "1.2.3.4",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "request_id": "123e4567-e89b-12d3-a456-426614174000",
        "amount": "4111111111111111",
    }
    assert located(json.dumps(doc)) == []


def test_a_card_as_a_json_number_is_found() -> None:
    """Numbers are scanned through their decimal spelling."""
    assert located('{"payment": {"card_number": 4111111111111111}}') == [
        ("CREDIT_CARD", "$.payment.card_number", 0, 16)
    ]


def test_small_numbers_floats_and_booleans_are_not_scanned() -> None:
    """Counts, prices and flags cannot hold personal data of the kinds we detect."""
    assert located('{"count": 12, "price": 4111111111111111.0, "ok": true}') == []


def test_password_and_token_keys_flag_whole_values() -> None:
    """Anything under a password key is a password; opaque tokens under token keys too."""
    doc = {"db": {"password": "correct horse"}, "refresh_token": "x8Fq2LmZ0pQ7vR3sT9uW1yA"}
    assert located(json.dumps(doc)) == [
        ("PASSWORD", "$.db.password", 0, 13),
        ("BEARER_TOKEN", "$.refresh_token", 0, 23),
    ]


def test_invalid_json_falls_back_to_text_scanning() -> None:
    """A truncated body is still scanned, as text, with path None."""
    raw = b'{"email": "ana@example.org", "oops'
    assert located(raw) == [("EMAIL", None, 11, 26)]


def test_find_in_object_walks_dicts_lists_tuples_and_ints() -> None:
    """Python data gets the same paths; tuples count as lists, ints are scanned when long."""
    obj = {"users": ({"contact": ["ana@example.org"]}, {"card": 4111111111111111})}
    assert [(f.kind, f.path) for f in pii.find_in_object(obj)] == [
        ("EMAIL", "$.users[0].contact[0]"),
        ("CREDIT_CARD", "$.users[1].card"),
    ]


def test_a_bare_string_document_has_the_root_path() -> None:
    """A JSON document that is one string is located at "$"."""
    assert pii.find_in_json('"ana@example.org"') == [Finding("EMAIL", 0, 15, 0.9, "$")]


def test_kinds_and_threshold_apply_to_structured_scans() -> None:
    """The filters behave as in free text."""
    doc = json.dumps({"email": "ana@example.org", "ip": "10.1.2.3"})
    assert [f.kind for f in pii.find_in_json(doc, kinds=["IP_ADDRESS"])] == ["IP_ADDRESS"]
    assert [f.kind for f in pii.find_in_json(doc, min_confidence=0.8)] == ["EMAIL"]


def test_hostile_nesting_falls_back_to_text_instead_of_crashing() -> None:
    """Documents nested past the recursion limit are scanned and masked as text (no 500s)."""
    depth = 5000
    deep = "[" * depth + '"ana@example.org"' + "]" * depth
    assert [f.kind for f in pii.find_in_json(deep)] == ["EMAIL"]
    assert "[EMAIL]" in json.loads(pii.mask_json(deep))
    walkable = "[" * 900 + '"ana@example.org"' + "]" * 900
    assert [f.kind for f in pii.find_in_json(walkable)] == ["EMAIL"]
    assert "ana@example.org" not in pii.mask_json(walkable).decode()


def test_bytes_that_are_not_utf8_are_scanned_as_text() -> None:
    """Undecodable bytes never raise; the readable parts are still scanned."""
    assert [f.kind for f in pii.find_in_json(b"\xff\xfe mail ana@example.org")] == ["EMAIL"]


def test_documents_read_the_same_as_with_the_json_module() -> None:
    """Bodies orjson refuses or reads differently (NaN, a BOM, lone surrogates, integers past
    64 bits) are parsed by json, so every body gives the findings of the parsed document."""
    bodies: list[bytes | str] = [
        b'{"x": NaN, "email": "ana@example.org"}',
        b'\xef\xbb\xbf{"email": "ana@example.org"}',
        b'{"s": "\\ud800 ana@example.org"}',
        b'{"mobile": 4915112345678, "big": 123456789012345678901234567890}',
        b'{"n": -12345678901234567890, "m": 18446744073709551616}',
        '{"name_of_user": "x", "ip": "203.0.113.9"}',
    ]
    for body in bodies:
        assert pii.find_in_json(body) == pii.find_in_object(json.loads(body)), body


def test_integers_too_long_for_64_bits_stay_integers() -> None:
    """orjson would read them as floats, which are never scanned; the parse keeps them exact."""
    for number in (2**64, -(2**63) - 1, 10**29 + 7):
        body = json.dumps({"n": number, "email": "ana@example.org"})
        assert json_or_none(body) == {"n": number, "email": "ana@example.org"}
        assert type(json_or_none(body.encode())["n"]) is int


def test_values_under_negative_keys_keep_their_place_and_other_detectors() -> None:
    """Digit runs under order_id or tracking_number are skipped, but an email there is still
    found, and findings stay in document order with the right paths."""
    doc = {
        "orders": [
            {"order_id": "4111 1111 1111 1111", "note": "call +49 30 901820"},
            {"tracking_number": "write to ana@example.org", "card": "4111 1111 1111 1111"},
            {"sha256": "10.1.2.3", "ip": "203.0.113.9"},
        ]
    }
    assert [(f.kind, f.path) for f in pii.find_in_json(json.dumps(doc))] == [
        ("PHONE", "$.orders[0].note"),
        ("EMAIL", "$.orders[1].tracking_number"),
        ("CREDIT_CARD", "$.orders[1].card"),
        ("IP_ADDRESS", "$.orders[2].ip"),
    ]
