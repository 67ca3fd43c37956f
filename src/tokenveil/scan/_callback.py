"""The scanner's own key server, for jku/x5u probes against loopback targets.

A server that fetches the key URL named in a token header (RFC 8725 §3.10) fetches it from here,
gets the attacker's key, and may accept a token the scanner signed: the real attack, proven
end to end. The listener binds 127.0.0.1 only and is started only when the target is itself on
loopback, so the scan never opens a port anyone else can reach. Every fetch is recorded: a
target that fetches at all is doing server-side requests on the token's say-so (CWE-918).
"""

from __future__ import annotations

import asyncio
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CallbackServer", "self_signed_pem"]

_MAX_REQUEST = 16 * 1024


def self_signed_pem(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> bytes:
    """A one-day self-signed certificate for ``key``: what an ``x5u`` URL serves."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokenveil-scanner")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class CallbackServer:
    """A minimal HTTP/1.1 responder on 127.0.0.1: fixed documents by path, every hit recorded."""

    def __init__(self, documents: dict[str, tuple[str, bytes]]) -> None:
        self._documents = documents
        self._server: asyncio.Server | None = None
        self.hits: list[str] = []
        self.base_url = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        parts = head[:_MAX_REQUEST].split(b"\r\n", 1)[0].split()
        path = parts[1].decode("ascii", errors="replace").split("?", 1)[0] if len(parts) > 1 else ""
        self.hits.append(path)
        content_type, body = self._documents.get(path, ("text/plain", b"not found"))
        status = "200 OK" if path in self._documents else "404 Not Found"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        try:
            await writer.drain()
        finally:
            writer.close()
