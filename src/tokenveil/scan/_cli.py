"""``tokenveil scan URL``: the CLI edge of the scanner. The lead mounts :func:`scan_command` as
``app.command("scan")(scan_command)``.

Exit codes: 0 no finding at or over ``--fail-on``; 1 findings at or over it; 2 usage or
connection errors (one line on stderr, never a traceback). Passwords come only from environment
variables: argv is visible to every local user through ``ps`` (CWE-214).
"""

from __future__ import annotations

import asyncio
import enum
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tokenveil.scan._driver import ScanError
from tokenveil.scan._engine import Scanner, ScanOptions
from tokenveil.scan._model import Exchange, ScanResult, Severity
from tokenveil.scan._report import render, render_text

__all__ = ["ReportFormat", "scan_command"]

#: The event-loop runner; a seam so tests can simulate Ctrl-C without touching asyncio itself.
_run_async = asyncio.run


class ReportFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    HTML = "html"


class FailOn(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NEVER = "never"


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"[red]error:[/] {message}")
    return typer.Exit(2)


def _secret_from_env(var: str | None, what: str) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise _fail(f"{what}: environment variable {var} is not set")
    return value


def scan_command(
    url: Annotated[str, typer.Argument(help="Base URL of the API to audit.")],
    openapi: Annotated[
        str | None, typer.Option("--openapi", help="OpenAPI document: URL or file.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="An access token to scan with.")
    ] = None,
    token_env: Annotated[
        str | None, typer.Option("--token-env", help="Read the access token from this variable.")
    ] = None,
    expired_token: Annotated[
        str | None,
        typer.Option("--expired-token", help="A naturally expired token, to test exp checks."),
    ] = None,
    login: Annotated[
        str | None, typer.Option("--login", help="Login/token URL (OAuth2 password grant).")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", help="First user.")] = None,
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="Variable holding the first password.")
    ] = None,
    second_user: Annotated[
        str | None, typer.Option("--second-user", help="Second user, for BOLA checks.")
    ] = None,
    second_password_env: Annotated[
        str | None,
        typer.Option("--second-password-env", help="Variable holding the second password."),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="OAuth2 client_id sent with the login.")
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a finding is at or over this.")
    ] = FailOn.HIGH,
    max_requests: Annotated[
        int, typer.Option("--max-requests", min=1, help="Request budget.")
    ] = 300,
    rate: Annotated[
        float, typer.Option("--rate", min=0.0, help="Requests per second (0: no limit).")
    ] = 10.0,
    active: Annotated[
        bool,
        typer.Option("--active", help="Allow requests that may change data (revocation...)."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds per request.")
    ] = 10.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Audit an HTTP API for JWT weaknesses and personal-data leaks."""
    if login and not (username and password_env):
        raise _fail("--login needs --username and --password-env")
    if second_user and not (login and second_password_env):
        raise _fail("--second-user needs --login and --second-password-env")
    options = ScanOptions(
        url=url,
        openapi=openapi,
        token=token or _secret_from_env(token_env, "--token-env"),
        expired_token=expired_token,
        login_url=login,
        username=username,
        password=_secret_from_env(password_env, "--password-env"),
        second_username=second_user,
        second_password=_secret_from_env(second_password_env, "--second-password-env"),
        client_id=client_id,
        max_requests=max_requests,
        rate=rate,
        active=active,
        timeout=timeout,
    )
    result = _run(options, show_progress=not quiet)
    _emit(result, fmt, output)
    threshold = None if fail_on is FailOn.NEVER else Severity(fail_on.value)
    if threshold is not None and result.at_or_over(threshold):
        raise typer.Exit(1)


def _run(options: ScanOptions, *, show_progress: bool) -> ScanResult:
    stderr = Console(stderr=True)
    progress = Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not show_progress,
    )
    task = progress.add_task("", total=options.max_requests)

    def tick(exchange: Exchange) -> None:
        # The probe name only: never the URL (it may carry a token in its query string).
        progress.update(task, advance=1, description=exchange.kind)

    try:
        scanner = Scanner(options, on_request=tick)
    except ScanError as exc:
        raise _fail(exc.message) from None
    with progress:
        try:
            return _run_async(scanner.run())
        except KeyboardInterrupt:
            # Ctrl-C: analyse what was recorded; the report says it is partial.
            return scanner.result(interrupted=True)
        except ScanError as exc:
            raise _fail(exc.message) from None
        except httpx.HTTPError as exc:
            raise _fail(f"HTTP error ({type(exc).__name__})") from None


def _emit(result: ScanResult, fmt: ReportFormat, output: Path | None) -> None:
    if output is not None:
        output.write_text(render(result, fmt.value), encoding="utf-8")
        worst = result.worst()
        Console(stderr=True).print(
            f"{len(result.findings)} findings (worst: {worst.value if worst else 'none'}) "
            f"written to {output}",
            highlight=False,
        )
        return
    if fmt is ReportFormat.TEXT:
        render_text(result, Console())
    else:
        sys.stdout.write(render(result, fmt.value))
