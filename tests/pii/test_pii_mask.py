"""Masking operators and the mask functions: replacements, stability, valid JSON out."""

from __future__ import annotations

import json
import secrets

import pytest
from bench.corpus import generate

from tokenveil import pii
from tokenveil.errors import ConfigurationError
from tokenveil.pii import Drop, Partial, Pseudonymize, Redact


def test_redact_replaces_values_with_their_kind() -> None:
    """The default operator writes [KIND] in place of each value."""
    assert (
        pii.mask("mail ana@example.org or call +33 6 12 34 56 78") == "mail [EMAIL] or call [PHONE]"
    )


def test_partial_keeps_the_last_four_and_the_separators() -> None:
    """Cards keep their grouping and last four digits; secrets are redacted whole."""
    assert pii.mask("card 4111 1111 1111 1111", operator="partial") == "card **** **** **** 1111"
    token = "ghp_" + "a1" * 18
    assert pii.mask(f"token {token}", operator=Partial(keep=4)) == "token [API_KEY]"


def test_partial_never_reveals_a_short_value_whole() -> None:
    """A value no longer than ``keep`` still gets at least half of it masked."""
    assert Partial(keep=4)("1234", "PHONE") == "**34"


def test_pseudonyms_are_stable_keyed_and_canonical() -> None:
    """Same value and key give the same pseudonym, whatever the spelling; another key differs."""
    key = secrets.token_bytes(32)
    op = Pseudonymize({"k1": key})
    a = pii.mask("card 4111 1111 1111 1111", operator=op)
    b = pii.mask("card 4111-1111-1111-1111", operator=Pseudonymize({"k1": key}))
    assert a == b
    assert a.startswith("card [CREDIT_CARD:k1:")
    other = pii.mask(
        "card 4111 1111 1111 1111", operator=Pseudonymize({"k1": secrets.token_bytes(32)})
    )
    assert other != a
    assert op("Ana@Example.org", "EMAIL") == op("ana@example.org", "EMAIL")


def test_key_rotation_writes_the_new_key_id_and_still_matches_old_pseudonyms() -> None:
    """After rotation new pseudonyms carry the new id; pseudonyms() gives one per key."""
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    before = Pseudonymize({"k1": old})("ana@example.org", "EMAIL")
    rotated = Pseudonymize({"k1": old, "k2": new}, active="k2")
    after = rotated("ana@example.org", "EMAIL")
    assert after.startswith("[EMAIL:k2:")
    assert rotated.pseudonyms("ana@example.org", "EMAIL") == {"k1": before, "k2": after}


def test_operators_hide_their_keys_and_refuse_weak_ones() -> None:
    """repr shows key ids only; short keys, unknown active ids and unknown names are refused."""
    key = secrets.token_bytes(32)
    assert key.hex() not in repr(Pseudonymize({"k1": key}))
    assert repr(Pseudonymize({"k1": key})) == "Pseudonymize(active='k1', key_ids=('k1',))"
    with pytest.raises(ConfigurationError):
        Pseudonymize({"k1": b"short"})
    with pytest.raises(ConfigurationError):
        Pseudonymize({"k1": key}, active="k9")
    with pytest.raises(ConfigurationError):
        pii.mask("x", operator="pseudonymize")
    with pytest.raises(ConfigurationError):
        pii.mask("x", operator="scramble")


def test_drop_removes_spans_in_text_and_keys_or_items_in_json() -> None:
    """Drop deletes: the span in text, the whole key in objects, the item in arrays."""
    assert pii.mask("a ana@example.org b", operator=Drop()) == "a  b"
    doc = {"email": "ana@example.org", "ok": 1, "cc": ["x", "ana@example.org"]}
    assert json.loads(pii.mask_json(json.dumps(doc), operator="drop")) == {"ok": 1, "cc": ["x"]}


def test_mask_json_masks_numbers_as_strings_and_keeps_the_shape() -> None:
    """A card held as a JSON number becomes a masked string; other values are untouched."""
    doc = {"card": 4111111111111111, "n": 3, "who": {"email": "ana@example.org"}}
    out = json.loads(pii.mask_json(json.dumps(doc)))
    assert out == {"card": "[CREDIT_CARD]", "n": 3, "who": {"email": "[EMAIL]"}}


def test_mask_json_on_invalid_json_returns_a_valid_json_string() -> None:
    """Invalid input is masked as text and returned as one JSON string."""
    out = pii.mask_json(b'{"email": "ana@example.org", ')
    assert json.loads(out) == '{"email": "[EMAIL]", '


@pytest.mark.parametrize("operator", ["redact", "partial", "drop"])
def test_masked_corpus_documents_stay_valid_json_and_come_back_clean(operator: str) -> None:
    """Every corpus JSON body masks to valid JSON in which nothing is found any more."""
    docs = [d for d in generate(60, seed=77) if d.format == "json"]
    assert docs
    for doc in docs:
        masked = pii.mask_json(doc.body, operator=operator)
        json.loads(masked)
        if operator != "partial":
            assert pii.find_in_json(masked) == []


def test_mask_object_returns_a_masked_copy_and_leaves_the_input_alone() -> None:
    """mask_object does not mutate its argument; tuples stay tuples."""
    obj = {"emails": ("ana@example.org", "none")}
    out = pii.mask_object(obj, operator=Redact(template="<{kind}>"))
    assert out == {"emails": ("<EMAIL>", "none")}
    assert obj == {"emails": ("ana@example.org", "none")}


def test_mask_json_with_a_lone_surrogate_still_returns_valid_json() -> None:
    """An escaped lone surrogate cannot be written as UTF-8; the output escapes it instead."""
    for body in (b'{"s": "\\ud800 ana@example.org"}', '"\ud800 mail ana@example.org'):
        masked = pii.mask_json(body)
        assert "ana@example.org" not in masked.decode()
        assert "[EMAIL]" in str(json.loads(masked))
