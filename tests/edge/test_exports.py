"""The public names of the edge modules are pinned: adding or removing one is a decision."""

from __future__ import annotations

import importlib

import pytest

EXPORTS = {
    "tokenveil.logs": {
        "REDACTED",
        "BearerRedactor",
        "CapturedLog",
        "HeaderRedactor",
        "JWTRedactor",
        "PIIRedactor",
        "QueryStringRedactor",
        "RedactingFilter",
        "RedactingFormatter",
        "RedactionChain",
        "Redactor",
        "RefreshTokenRedactor",
        "SecretFieldRedactor",
        "StructlogRedactor",
        "capture_logs",
        "default_chain",
        "install",
        "installed_filter",
        "scrub_exception",
        "uninstall",
        "uvicorn_log_config",
    },
    "tokenveil.testing": {"Canaries", "Flow", "Leak", "LeakHarness", "LeakReport"},
    "tokenveil.web.fields": {
        "ALLOWED_PATHS_STATE_KEY",
        "PII",
        "FieldPolicy",
        "MaskName",
        "Present",
        "Presenter",
        "get_presenter",
        "iter_api_routes",
        "pii_fields",
        "routes_missing_presenter",
        "use_field_policy",
    },
    "tokenveil.web.egress": {"EGRESS_ROUTE_KEY", "EgressFilter", "EgressMode", "egress_mode"},
    "tokenveil.web.errors": {
        "ErrorBoundary",
        "correlation_id",
        "error_response",
        "install_error_handlers",
        "send_error",
    },
    "tokenveil.web.transport": {
        "DEFAULT_AUTH_COOKIE",
        "QUERY_TOKEN_PARAMS",
        "SENSITIVE_STATE_KEY",
        "TOKENVEIL_COOKIES",
        "CSRFProtection",
        "TransportSecurity",
        "clear_auth_cookie",
        "mark_sensitive",
        "set_auth_cookie",
    },
    "tokenveil.web.harden": {"UnpresentedPIIWarning", "harden"},
}


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_exported_names_are_exactly_the_curated_ones(module_name: str) -> None:
    """__all__ lists the curated names, and each of them exists."""
    module = importlib.import_module(module_name)
    assert set(module.__all__) == EXPORTS[module_name]
    for name in module.__all__:
        assert hasattr(module, name), name
