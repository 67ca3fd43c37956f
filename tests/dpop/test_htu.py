"""``htu`` normalization (RFC 9449 §4.3 check 9, RFC 3986 §6.2.2 and §6.2.3)."""

from __future__ import annotations

import pytest

from tokenveil.dpop import normalize_htu


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.example.com/orders?id=7#top", "https://api.example.com/orders"),
        ("HTTPS://API.Example.COM:443/orders", "https://api.example.com/orders"),
        ("http://api.example.com:80", "http://api.example.com/"),
        ("http://api.example.com:8080/a", "http://api.example.com:8080/a"),
        ("https://h/a/./b/../c", "https://h/a/c"),
        ("https://h/%7euser/%2f", "https://h/~user/%2F"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ],
)
def test_equivalent_uris_normalize_to_one_form(given: str, expected: str) -> None:
    """Case, default port, dot segments, percent-encoding, query and fragment are normalized."""
    assert normalize_htu(given) == expected


def test_path_case_is_significant() -> None:
    """Paths are case-sensitive: /Orders is not /orders."""
    assert normalize_htu("https://h/Orders") != normalize_htu("https://h/orders")


@pytest.mark.parametrize(
    "bad", ["/orders", "ftp://h/x", "https://user:pw@h/x", "https://h:99999/x", "https:///x"]
)
def test_non_http_or_relative_uris_are_refused(bad: str) -> None:
    """Relative URIs, other schemes, user information and invalid ports raise ValueError."""
    with pytest.raises(ValueError, match=r".+"):
        normalize_htu(bad)
