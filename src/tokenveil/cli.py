"""``tokenveil``: serve | users | clients | keys | killswitch | pii | scan.

Every command takes ``--data-dir`` (default ``$TOKENVEIL_DATA_DIR``, else ``./.tokenveil``).
Commands that change state work while the server runs: they write to the store and bump its
state version, which every running instance polls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tokenveil.config import Settings
from tokenveil.errors import TokenveilError

if TYPE_CHECKING:
    from tokenveil.service import TokenService

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="tokenveil",
    help="JWT authentication that does not leak personal data, and the scanner that proves it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users (resource owners).", no_args_is_help=True)
clients_app = typer.Typer(help="Manage OAuth clients.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys: list, rotate, revoke.", no_args_is_help=True)
killswitch_app = typer.Typer(
    help="Emergency: reject every access token issued so far, on every instance.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
app.add_typer(killswitch_app, name="killswitch")


def _mount_optional() -> None:
    """``pii`` and ``scan`` live in their own packages; mounted here so ``tokenveil`` has all."""
    from tokenveil.pii._cli import app as pii_app
    from tokenveil.scan._cli import scan_command

    app.add_typer(pii_app, name="pii", help="Find or mask personal data and secrets in files.")
    app.command("scan", help="Audit an HTTP API for JWT and PII leakage.")(scan_command)


_mount_optional()

out = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the SQLite database and the key-encryption key live.",
        envvar="TOKENVEIL_DATA_DIR",
        show_default="./.tokenveil",
    ),
]


def _settings(data_dir: Path | None) -> Settings:
    return Settings.from_env(data_dir=data_dir)


def _run(settings: Settings, action: Callable[[TokenService], Awaitable[T]]) -> T:
    """Open the service, run one action, close; errors become one clean line and exit 2."""
    from tokenveil.service import TokenService

    async def go() -> T:
        service = await TokenService.open(settings)
        try:
            return await action(service)
        finally:
            await service.close()

    try:
        return asyncio.run(go())
    except TokenveilError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the token server and the demo API (SQLite under --data-dir unless configured)."""
    import uvicorn

    from tokenveil.logs import uvicorn_log_config
    from tokenveil.server import create_app

    settings = Settings.from_env(data_dir=data_dir)
    if "TOKENVEIL_ISSUER" not in os.environ:
        settings = settings.replace(issuer=f"http://{host}:{port}")
    if "TOKENVEIL_DEVELOPMENT" not in os.environ and host in ("127.0.0.1", "localhost", "::1"):
        # Plain HTTP is accepted from loopback clients only; anything else must come over TLS
        # (directly or through a trusted proxy).
        settings = settings.replace(development=True)
    if "TOKENVEIL_MONITORING" not in os.environ:
        # The demo server shows every defence; a library user opts in through settings.
        settings = settings.replace(monitoring=True)
    shown = settings.data_dir
    base = f"http://{host}:{port}"
    # Plain print, not rich: rich wraps at the terminal width and would break the commands
    # in the middle of a word, and reads brackets in a path as markup.
    print(
        f"tokenveil serving {base} (data: {shown})\n"
        "First token, in another terminal:\n"
        f"  .venv/bin/tokenveil users add alice --data-dir {shown}\n"
        f"  curl -s -X POST {base}/oauth/token -d grant_type=password -d username=alice \\\n"
        "       -d client_id=tokenveil-demo --data-urlencode password=YOUR-PASSWORD\n"
        f"Then: curl -s {base}/api/me -H 'Authorization: Bearer ACCESS_TOKEN'   "
        f"(docs: {base}/docs)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        # The access log line carries the query string: a token sent in one is redacted.
        log_config=uvicorn_log_config(),
    )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    data_dir: DataDir = None,
    email: Annotated[str | None, typer.Option(help="Email address (never put in tokens).")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password (visible in process lists: prefer stdin).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scope granted (repeatable).")
    ] = None,
) -> None:
    """Add a user. Prompts for the password when neither --password nor --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    scopes = scope or ["profile", "orders"]

    async def action(service: TokenService) -> str:
        user = await service.add_user(name, password or "", email=email, scopes=scopes)
        return user.id

    user_id = _run(_settings(data_dir), action)
    out.print(f"added user {user_id} with scopes: {' '.join(sorted(scopes))}")


@users_app.command("list")
def users_list(data_dir: DataDir = None) -> None:
    """List users (ids, login names and scopes; never emails)."""

    async def action(service: TokenService) -> list[tuple[str, str, str, str]]:
        return [
            (u.id, u.username, " ".join(u.scopes), _when(u.created_at))
            for u in await service.store.list_users()
        ]

    table = Table("id", "username", "scopes", "created")
    for row in _run(_settings(data_dir), action):
        table.add_row(*row)
    out.print(table)


@clients_app.command("add")
def clients_add(
    client_id: Annotated[str, typer.Argument(help="Client identifier.")],
    data_dir: DataDir = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scope the client may ask for.")
    ] = None,
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", help="password, refresh_token, client_credentials (repeatable)."),
    ] = None,
    confidential: Annotated[
        bool, typer.Option(help="Give the client a secret (printed once, stored hashed).")
    ] = False,
    dpop: Annotated[bool, typer.Option(help="Require DPoP-bound tokens (RFC 9449).")] = False,
    introspect: Annotated[
        bool,
        typer.Option(help="May call the introspection endpoint (RFC 7662); needs --confidential."),
    ] = False,
) -> None:
    """Register an OAuth client."""
    grants = grant or ["password", "refresh_token"]
    if "client_credentials" in grants and not confidential:
        err.print("[red]error:[/red] client_credentials needs --confidential")
        raise typer.Exit(2)
    if introspect and not confidential:
        err.print("[red]error:[/red] --introspect needs --confidential")
        raise typer.Exit(2)

    async def action(service: TokenService) -> str | None:
        _, secret = await service.add_client(
            client_id,
            scopes=scope or [],
            grant_types=grants,
            confidential=confidential,
            dpop_bound=dpop,
            introspect=introspect,
        )
        return secret

    secret = _run(_settings(data_dir), action)
    out.print(f"added client {client_id}")
    if secret:
        # Shown once, to the operator's terminal only; the store keeps its SHA-256 hash.
        out.print(f"client secret (store it now, it is not shown again): {secret}")


@clients_app.command("list")
def clients_list(data_dir: DataDir = None) -> None:
    """List clients."""

    async def action(service: TokenService) -> list[tuple[str, ...]]:
        return [
            (
                c.client_id,
                "confidential" if c.secret_hash else "public",
                " ".join(c.grant_types),
                " ".join(c.scopes),
                " ".join(
                    flag
                    for flag, on in (("dpop", c.dpop_bound), ("introspect", c.may_introspect))
                    if on
                ),
            )
            for c in await service.store.list_clients()
        ]

    table = Table("client_id", "type", "grants", "scopes", "flags")
    for row in _run(_settings(data_dir), action):
        table.add_row(*row)
    out.print(table)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List signing keys and their states (public facts only)."""

    async def action(service: TokenService) -> list[tuple[str, ...]]:
        return [
            (
                k.kid,
                k.alg,
                k.state,
                _when(k.created_at),
                _when(k.activated_at),
                _when(k.not_after or k.revoked_at),
            )
            for k in service.keyring.list_keys()
        ]

    table = Table("kid", "alg", "state", "created", "activated", "until / revoked")
    for row in _run(_settings(data_dir), action):
        table.add_row(*row)
    out.print(table)


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Rotate now: next → active, active → retiring, a new next key is published."""

    async def action(service: TokenService) -> str:
        return await service.rotate_keys()

    out.print(f"active key is now {_run(_settings(data_dir), action)}")


# Key ids are RFC 7638 thumbprints in base64url: one in 64 starts with "-", which must read as
# the key id, not as an unknown option.
@keys_app.command("revoke", context_settings={"ignore_unknown_options": True})
def keys_revoke(
    kid: Annotated[str, typer.Argument(help="The key id to revoke.")], data_dir: DataDir = None
) -> None:
    """Revoke a key at once: tokens it signed are rejected from the next sync (≈1 s)."""

    async def action(service: TokenService) -> None:
        await service.revoke_key(kid)

    _run(_settings(data_dir), action)
    out.print(f"revoked key {kid}")


@killswitch_app.command("purge")
def killswitch_purge(
    data_dir: DataDir = None,
    rotate_keys: Annotated[
        bool,
        typer.Option(
            "--rotate-keys", help="Emergency key rotation: revoke every key, start new ones."
        ),
    ] = False,
    revoke_families: Annotated[
        str,
        typer.Option(
            "--revoke-families",
            metavar="suspect|unbound|all|USER",
            help="Also revoke refresh families: flagged by the monitor, not DPoP-bound, all, "
            "or one user's (those users must log in again).",
        ),
    ] = "none",
) -> None:
    """Reject every access token issued before now; running servers apply it within a second
    (at once with Redis). Clients with a surviving refresh token renew silently."""
    from tokenveil.killswitch import PurgeReport

    async def action(service: TokenService) -> PurgeReport:
        return await service.purge(
            rotate_keys=rotate_keys, revoke_families=revoke_families, actor="cli"
        )

    report = _run(_settings(data_dir), action)
    out.print(
        f"kill switch fired: access tokens issued before {_when(report.cutoff)} "
        f"(cutoff={report.cutoff:.6f} started={report.started_at:.6f}) rejected"
    )
    if report.keys_rotated:
        out.print(f"  {report.keys_revoked} key(s) revoked; active key is now {report.active_kid}")
    out.print(f"  refresh families revoked ({report.families}): {report.families_revoked}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
