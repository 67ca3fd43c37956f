"""Policies map anomalies to actions; the responder runs them; the webhook posts signed JSON."""

from __future__ import annotations

import hmac
import json
import logging
from hashlib import sha256

import httpx
import pytest

from tokenveil.errors import ConfigurationError, StoreUnavailable
from tokenveil.monitor import Action, Anomaly, Policy, Responder, TokenUse, WebhookSender
from tokenveil.store import SecurityEvent

from .conftest import T0

ANOMALY = Anomaly("impossible_travel", "high", "PSEUDO", {"countries": "FR,US", "elapsed_s": 60})
USE = TokenUse(
    jti="jti-1",
    sub="user-42",
    expires_at=T0 + 600,
    family_id="fam-1",
    ip="198.51.100.20",
    user_agent="Mozilla/5.0 (Alice's laptop)",
)


class Calls:
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []
        self.revoked_tokens: list[tuple[str, float]] = []
        self.revoked_families: list[tuple[str, str]] = []
        self.reauth: list[str] = []
        self.suspects: list[str] = []
        self.observed: list[tuple[str, str]] = []

    async def record_event(self, event: SecurityEvent) -> None:
        self.events.append(event)

    async def revoke_token(self, jti: str, expires_at: float) -> None:
        self.revoked_tokens.append((jti, expires_at))

    async def revoke_family(self, family_id: str, reason: str) -> None:
        self.revoked_families.append((family_id, reason))

    async def require_reauth(self, sub: str) -> None:
        self.reauth.append(sub)

    async def mark_suspect(self, family_id: str) -> None:
        self.suspects.append(family_id)

    def responder(self, webhook: WebhookSender | None = None) -> Responder:
        return Responder(
            record_event=self.record_event,
            revoke_token=self.revoke_token,
            revoke_family=self.revoke_family,
            require_reauth=self.require_reauth,
            mark_suspect=self.mark_suspect,
            webhook=webhook,
            on_action=lambda a, o: self.observed.append((a, o)),
        )


def test_default_policy_revokes_the_family_on_impossible_travel() -> None:
    """Out of the box, impossible travel records, alerts and revokes the family."""
    assert Policy().actions_for(ANOMALY) == ("record_event", "webhook", "revoke_family")


def test_policy_from_config_validates_action_names() -> None:
    """Plain config is accepted; an unknown action is a ConfigurationError naming it."""
    policy = Policy.from_mapping({"burst": ["record_event", "require_reauth"]}, default=[])
    assert policy.actions_for(Anomaly("burst", "medium", "P")) == (
        "record_event",
        "require_reauth",
    )
    assert policy.actions_for(ANOMALY) == ()
    with pytest.raises(ConfigurationError, match="'ban_user'"):
        Policy.from_mapping({"burst": ["ban_user"]})


async def test_every_action_is_executed_through_its_injected_callable() -> None:
    """Each action calls its callable with the token, family or subject it concerns."""
    calls = Calls()
    actions: tuple[Action, ...] = (
        "record_event",
        "revoke_token",
        "revoke_family",
        "require_reauth",
        "mark_suspect",
    )
    done = await calls.responder().respond(ANOMALY, USE, actions, now=T0)
    assert done == actions
    assert calls.revoked_tokens == [("jti-1", T0 + 600)]
    assert calls.revoked_families == [("fam-1", "monitor:impossible_travel")]
    assert calls.reauth == ["user-42"]
    assert calls.suspects == ["fam-1"]
    [event] = calls.events
    assert event.kind == "anomaly.impossible_travel"
    assert event.at == T0
    assert event.details["subject"] == "PSEUDO"
    assert event.details["countries"] == "FR,US"


async def test_security_event_carries_no_pii() -> None:
    """The event holds the pseudonym, never the subject id, the IP or the user agent."""
    calls = Calls()
    await calls.responder().respond(ANOMALY, USE, ("record_event",), now=T0)
    text = json.dumps(dict(calls.events[0].details))
    for personal in ("user-42", "198.51.100.20", "Alice", "Mozilla"):
        assert personal not in text


async def test_unwired_actions_are_skipped_and_reported() -> None:
    """An action with no callable (or revoke_family without a family) is skipped, not failed."""
    observed: list[tuple[str, str]] = []
    responder = Responder(on_action=lambda a, o: observed.append((a, o)))
    use = TokenUse(jti="j", sub="s", expires_at=T0)
    done = await responder.respond(ANOMALY, use, ("revoke_family", "webhook"), now=T0)
    assert done == ()
    assert observed == [("revoke_family", "skipped"), ("webhook", "skipped")]


async def test_failing_action_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """A revocation that fails is logged by type only; the event is still recorded."""
    calls = Calls()

    async def broken(jti: str, expires_at: float) -> None:
        raise StoreUnavailable("redis down at 10.0.0.7")

    responder = Responder(
        record_event=calls.record_event,
        revoke_token=broken,
        on_action=lambda a, o: calls.observed.append((a, o)),
    )
    with caplog.at_level(logging.WARNING, logger="tokenveil.monitor"):
        done = await responder.respond(ANOMALY, USE, ("revoke_token", "record_event"), now=T0)
    assert done == ("record_event",)
    assert ("revoke_token", "error") in calls.observed
    assert "StoreUnavailable" in caplog.text
    assert "10.0.0.7" not in caplog.text


async def test_webhook_posts_signed_json_without_pii() -> None:
    """The webhook body is JSON with kind and pseudonym, signed HMAC-SHA256 over the body."""
    received: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        webhook = WebhookSender("https://siem.example/hook", client, secret=b"w" * 32)
        calls = Calls()
        done = await calls.responder(webhook).respond(ANOMALY, USE, ("webhook",), now=T0)
    assert done == ("webhook",)
    [request] = received
    body = request.content
    expected = hmac.new(b"w" * 32, body, sha256).hexdigest()
    assert request.headers["X-Tokenveil-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["type"] == "tokenveil.anomaly"
    assert payload["kind"] == "impossible_travel"
    assert payload["subject"] == "PSEUDO"
    assert payload["countries"] == "FR,US"
    assert "user-42" not in body.decode()
    assert "198.51.100.20" not in body.decode()


async def test_webhook_error_status_counts_as_a_failed_action() -> None:
    """A 500 from the receiver marks the webhook action as an error."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as c:
        calls = Calls()
        webhook = WebhookSender("https://siem.example/hook", c)
        done = await calls.responder(webhook).respond(ANOMALY, USE, ("webhook",), now=T0)
    assert done == ()
    assert calls.observed == [("webhook", "error")]


async def test_webhook_refuses_plain_http_and_hides_its_url() -> None:
    """Off loopback the URL must be https; the repr never shows the URL."""
    async with httpx.AsyncClient() as client:
        for insecure in ("http://siem.example/hook", "http://localhost.evil.example/hook"):
            with pytest.raises(ConfigurationError):
                WebhookSender(insecure, client)
        WebhookSender("http://127.0.0.1:9000/hook", client)  # a local relay is fine
        sender = WebhookSender("https://siem.example/hook?token=abc", client)
        assert "abc" not in repr(sender)
