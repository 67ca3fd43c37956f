"""The public surface of tokenveil.pii, pinned (STYLE §2)."""

from __future__ import annotations

import dataclasses

import pytest

import tokenveil.pii as pii
from tokenveil.pii import Finding, Kind


def test_exported_names_are_exactly_the_curated_list() -> None:
    """__all__ lists the public API and nothing private leaks into it."""
    assert sorted(pii.__all__) == [
        "Drop",
        "Finding",
        "Kind",
        "Operator",
        "Partial",
        "Pseudonymize",
        "Redact",
        "StreamScanner",
        "find",
        "find_in_json",
        "find_in_object",
        "lint_claims",
        "lint_token",
        "mask",
        "mask_json",
        "mask_object",
    ]
    for name in pii.__all__:
        assert getattr(pii, name).__module__.startswith("tokenveil.pii")


def test_kind_names_are_the_fifteen_agreed_strings() -> None:
    """Teammates match on these strings; renaming one is a breaking change."""
    assert [k.value for k in Kind] == [
        "EMAIL",
        "PHONE",
        "CREDIT_CARD",
        "IBAN",
        "US_SSN",
        "NATIONAL_ID",
        "IP_ADDRESS",
        "DATE_OF_BIRTH",
        "PERSON",
        "ADDRESS",
        "JWT",
        "BEARER_TOKEN",
        "API_KEY",
        "PRIVATE_KEY",
        "PASSWORD",
    ]


def test_finding_is_a_frozen_slotted_value_without_the_value() -> None:
    """A Finding holds a location only; its repr and str never contain the found value."""
    text = "contact: jane.roe@example.org"
    (finding,) = pii.find(text)
    assert finding == Finding("EMAIL", 9, 29, 0.9)
    assert type(finding.kind) is str
    assert not hasattr(finding, "__dict__")
    assert "jane" not in repr(finding)
    assert "example" not in str(finding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.start = 0  # type: ignore[misc]
