"""Attack probes on the protected endpoints found by the baseline: forged tokens, token in the
query string, provoked errors, BOLA with the second user, HTTPS enforcement, refresh and (with
``active``) introspection and revocation. Each request is recorded under a probe name that the
pure checks read."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from tokenveil.scan import _jose
from tokenveil.scan._checks._base import json_body
from tokenveil.scan._discovery import fill_template, tokens_from_response
from tokenveil.scan._model import Endpoint
from tokenveil.scan._session import Session

__all__ = ["MAX_FORGE_ENDPOINTS", "Probes"]

#: Forged-token probes go to at most this many protected endpoints (each costs ~20 requests).
MAX_FORGE_ENDPOINTS = 12
#: Requests kept for the phases after forging.
_RESERVE = 60
_LOGOUT = re.compile(r"log-?out|sign-?out", re.IGNORECASE)
_ID_KEY = re.compile(r"^(id|uuid|sub|username|.+_id|.+Id)$")
_MAX_IDS = 6


def _id_values(body: object, depth: int = 0) -> list[str]:
    """Id-like values (``id``, ``uuid``, ``*_id``, ``*Id``...) anywhere in a JSON answer."""
    out: list[str] = []
    if depth > 4:
        return out
    if isinstance(body, dict):
        for key, value in body.items():
            if (
                isinstance(value, int | str)
                and not isinstance(value, bool)
                and _ID_KEY.match(str(key))
            ):
                out.append(str(value))
            elif isinstance(value, dict | list):
                out.extend(_id_values(value, depth + 1))
    elif isinstance(body, list):
        for item in body[:20]:
            out.extend(_id_values(item, depth + 1))
    return out


class Probes(Session):
    """The phases that attack what the baseline proved to be protected."""

    _consumed_refresh: tuple[str, dict[str, str]] | None = None

    def _forgeries(self) -> list[_jose.Forgery]:
        token = self._access()
        if token is None or _jose.decode_unverified(token) is None:
            return []
        attacker = self._attacker
        forged = [
            *_jose.tampered(token),
            *_jose.alg_none_variants(token),
            *_jose.key_confusion(token, self.target.jwks),
            *_jose.embedded_jwk(token, attacker),
            *_jose.key_url_headers(token, attacker, *self._key_urls),
            *_jose.kid_injection(token),
            *_jose.ecdsa_zero_signature(token)[:1],
        ]
        secret = _jose.guess_hmac_secret(token, _jose.load_wordlist())
        self.target.guessed_secret = secret
        if secret is not None:
            # With the secret in hand, claim checks can be tested one at a time.
            forged.extend(_jose.claim_forgeries(token, secret, now=int(self._clock())))
        if self.options.expired_token:
            forged.append(_jose.Forgery("expired", "supplied", self.options.expired_token))
        own = self.target.tokens.get("user1")
        if own is not None and own.refresh:
            forged.append(_jose.Forgery("refresh-as-access", "bearer", own.refresh))
        if own is not None and own.id_token:
            # RFC 8725 §3.11 cross-JWT confusion: an ID token is not an access token.
            forged.append(_jose.Forgery("id-as-access", "bearer", own.id_token))
        return forged

    async def _forge(self, protected: list[Endpoint]) -> None:
        forged = self._forgeries()
        if not forged:
            return
        # Keep a reserve for the later phases (query string, errors, BOLA, revocation).
        affordable = max(1, (self._d.remaining - _RESERVE) // len(forged))
        count = min(MAX_FORGE_ENDPOINTS, affordable, len(protected))
        if count < min(MAX_FORGE_ENDPOINTS, len(protected)):
            self.notes.append(
                f"budget: forged tokens sent to {count} of {len(protected)} protected endpoints"
            )
        for endpoint in protected[:count]:
            url = self._url(endpoint.path)
            for f in forged:
                await self._get(f"forge:{f.attack}:{f.variant}", endpoint.key, url, token=f.token)

    async def _query_token(self, protected: list[Endpoint]) -> None:
        """The token in the URL (RFC 6750 §2.3 ``access_token``, and the home-made ``token`` and
        ``jwt`` on the first endpoint): URLs end up in logs, history and Referer (CWE-598)."""
        token = self._access()
        if token is None:
            return
        for index, endpoint in enumerate(protected[:MAX_FORGE_ENDPOINTS]):
            url = self._url(endpoint.path)
            sep = "&" if "?" in url else "?"
            for name in ("access_token", "token", "jwt") if index == 0 else ("access_token",):
                await self._get(
                    f"query-token:{name}", endpoint.key, f"{url}{sep}{urlencode({name: token})}"
                )

    async def _provoke_errors(self, protected: list[Endpoint]) -> None:
        token = self._access()
        malformed = {"garbage": "not-a-jwt", "three-dots": "a.b.c", "bad-base64": "eyJ!.eyJ!.x"}
        if token is not None:
            # A truncated real token: a server that echoes what it could not parse shows it here.
            malformed["truncated"] = token[:-8]
        for endpoint in protected[:5]:
            url = self._url(endpoint.path)
            for name, value in malformed.items():
                await self._get(f"error:{name}", endpoint.key, url, token=value)
        templated = [e for e in self.target.endpoints if e.params and e.method == "GET"]
        for endpoint in templated[:6]:
            for name, value in (("quote", "1'\"<>"), ("negative", "-1"), ("huge", "9" * 40)):
                url = self._url(
                    fill_template(endpoint.template, dict.fromkeys(endpoint.params, value))
                )
                await self._get(f"error:{name}", endpoint.key, url, token=token)

    def _ids_of(self, user: str) -> list[str]:
        """Values that may name ``user``'s objects: their ``sub`` and the id-like fields of
        what they were served (their profile, their lists)."""
        values: list[str] = []
        token = self._access(user)
        decoded = _jose.decode_unverified(token) if token else None
        if decoded is not None and "sub" in decoded[1]:
            values.append(str(decoded[1]["sub"]))
        for ex in self._d.exchanges:
            if ex.user != user or ex.probe not in ("baseline:access", "bola:harvest"):
                continue
            if ex.response is not None and ex.response.ok:
                values.extend(_id_values(json_body(ex)))
        return list(dict.fromkeys(v for v in values if v))[:_MAX_IDS]

    async def _bola(self, protected: list[Endpoint]) -> None:
        """User 2 reads their own objects (ids harvested from what they are served), then user 1
        asks for the very same URLs (OWASP API1:2023)."""
        token1, token2 = self._access("user1"), self._access("user2")
        if token1 is None or token2 is None:
            return
        for endpoint in [e for e in protected if not e.params][:4]:
            await self._get(
                "bola:harvest", endpoint.key, self._url(endpoint.path), token=token2, user="user2"
            )
        ids = self._ids_of("user2")
        mine = set(self._ids_of("user1"))
        templated = [e for e in self.target.endpoints if e.params and e.method == "GET"]
        for endpoint in templated[:8]:
            for value in ids:
                if value in mine:
                    continue
                url = self._url(
                    fill_template(endpoint.template, dict.fromkeys(endpoint.params, value))
                )
                ref = await self._get("bola:ref", endpoint.key, url, token=token2, user="user2")
                if ref.response is not None and ref.response.ok:
                    await self._get("bola:cross", endpoint.key, url, token=token1)

    async def _transport(self, protected: list[Endpoint]) -> None:
        if not self.target.https:
            return
        http_root = "http://" + urlsplit(self.target.base_url).netloc + "/"
        await self._get("https-redirect", "GET /", http_root)
        token = self._access()
        if self.options.active and token and protected:
            # Puts a live token on the wire in clear text: only when the user asked for --active.
            endpoint = protected[0]
            url = "http://" + urlsplit(self.target.base_url).netloc + endpoint.path
            await self._get("plain-http", endpoint.key, url, token=token)

    async def _refresh(self) -> None:
        tokens = self.target.tokens.get("user1")
        url = self.target.token_endpoint
        if tokens is None or not tokens.refresh or not url or not self._d.allows(url):
            return
        fields = {"grant_type": "refresh_token", "refresh_token": tokens.refresh}
        if self.options.client_id:
            fields["client_id"] = self.options.client_id
        ex = await self._d.send(
            "refresh", f"POST {urlsplit(url).path}", "POST", url, data=fields, sanctioned=True
        )
        if ex.response is None or not ex.response.ok:
            return
        fresh = tokens_from_response(json_body(ex), ex.response)
        if fresh.access:
            self.target.tokens["user1-refreshed"] = fresh
        if fresh.refresh != tokens.refresh:
            self._consumed_refresh = (url, fields)

    async def _reuse_refresh(self) -> None:
        """--active only, last (a sound server revokes the whole family): present the refresh
        token that the refresh consumed again. RFC 9700 §4.14.2 calls that theft."""
        if not self.options.active or self._consumed_refresh is None:
            return
        url, fields = self._consumed_refresh
        await self._d.send("refresh:reuse", f"POST {urlsplit(url).path}", "POST", url, data=fields)

    async def _introspect(self) -> None:
        """--active only (it is a POST): ask the RFC 7662 endpoint about our own token, to see
        whether its answer carries personal data (TV-PII-001)."""
        url = self.target.metadata.get("introspection_endpoint")
        token = self._access()
        if not self.options.active or not url or token is None or not self._d.allows(str(url)):
            return
        fields = {"token": token, "token_type_hint": "access_token"}
        if self.options.client_id:
            fields["client_id"] = self.options.client_id
        await self._d.send(
            "introspect", f"POST {urlsplit(str(url)).path}", "POST", str(url), data=fields
        )

    async def _revoke(self, protected: list[Endpoint]) -> None:
        """--active only: revoke (RFC 7009 endpoint from RFC 8414 metadata) or log out (a POST
        .../logout route from the OpenAPI document), then present the same token again."""
        if not self.options.active or not protected:
            return
        tokens = self.target.tokens.get("user1-refreshed") or self.target.tokens.get("user1")
        if tokens is None or not tokens.access:
            return
        metadata_url = self.target.metadata.get("revocation_endpoint")
        logout = next(
            (
                e
                for e in self.target.endpoints
                if e.method == "POST" and _LOGOUT.search(e.template) and not e.params
            ),
            None,
        )
        if metadata_url:
            url = str(metadata_url)
            if not self._d.allows(url):
                self.notes.append("revocation endpoint is on another host: not tested")
                return
            fields = {"token": tokens.access, "token_type_hint": "access_token"}
            if self.options.client_id:
                fields["client_id"] = self.options.client_id
            ex = await self._d.send(
                "revoke", f"POST {urlsplit(url).path}", "POST", url, data=fields
            )
            variant = "after-revocation"
        elif logout is not None:
            ex = await self._d.send(
                "revoke",
                logout.key,
                "POST",
                self._url(logout.path),
                headers=self._auth(tokens.access),
            )
            variant = "after-logout"
        else:
            return
        if ex.response is None or not ex.response.ok:
            self.notes.append("revocation or logout was refused: TV-VAL-010 not tested")
            return
        target = protected[0]
        await self._get(
            f"forge:revoked:{variant}", target.key, self._url(target.path), token=tokens.access
        )
