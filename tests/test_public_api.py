"""The curated public API: exactly these names are exported (STYLE 2); a change is a decision."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "tokenveil": {"Principal", "Settings", "__version__"},
    "tokenveil.web": {
        "PII",
        "Authenticator",
        "FieldPolicy",
        "Present",
        "Presenter",
        "TokenVerifier",
        "get_principal",
        "harden",
        "require_scopes",
    },
    "tokenveil.keys": {
        "ASYMMETRIC_ALGORITHMS",
        "KeyEncryptor",
        "KeyInfo",
        "KeyRing",
        "PrivateKey",
        "PublicKey",
        "SymmetricKey",
        "generate_private_key",
        "jwk_thumbprint",
        "public_key_from_jwk",
    },
    "tokenveil.tokens": {
        "ACCESS_TOKEN_CLAIMS",
        "REFRESH_TOKEN_PATTERN",
        "AccessTokenVerifier",
        "ClaimsPolicy",
        "IssuedToken",
        "JWKSKeys",
        "KeyResolver",
        "NewRefreshToken",
        "RefreshTokens",
        "RemoteVerifier",
        "RevocationView",
        "TokenIssuer",
        "UnknownSigningKey",
        "hash_refresh_token",
    },
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_names_are_pinned(module: str) -> None:
    """Each public package exports exactly the names listed here, and each one exists."""
    mod = importlib.import_module(module)
    assert set(mod.__all__) == EXPECTED[module]
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_every_error_has_a_code_and_descends_from_the_root() -> None:
    """One rooted exception tree: every public error is a TokenveilError with a code."""
    from tokenveil import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.TokenveilError)
        assert isinstance(cls.code, str)
        assert cls.code


def test_importing_tokenveil_pulls_no_server_dependency() -> None:
    """The core stays light: importing tokenveil and its token modules imports no web stack."""
    import subprocess
    import sys

    code = (
        "import sys, tokenveil, tokenveil.tokens, tokenveil.keys;"
        "print(any(m in sys.modules for m in ('fastapi', 'sqlalchemy', 'uvicorn')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
