"""``tokenveil pii scan|mask``: the engine on files, logs and stdin.

Output names the kind, the location and a masked preview; never the value. Exit codes of
``scan``: 0 clean, 1 something found, 2 input unreadable (or bad options).
"""

from __future__ import annotations

import json
import sys
from bisect import bisect_right
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tokenveil.errors import ConfigurationError
from tokenveil.pii._find import find, find_in_json
from tokenveil.pii._finding import SECRET_KINDS, Finding
from tokenveil.pii._mask import mask, mask_json
from tokenveil.pii._operators import Operator, Partial, Pseudonymize, operator_named
from tokenveil.pii._structure import is_not_json, json_or_none, value_at

__all__ = ["app"]

app = typer.Typer(
    name="pii",
    help="Find and mask personal data and secrets in files, logs and stdin.",
    no_args_is_help=True,
    add_completion=False,
)

_PREVIEW = Partial(keep=4)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class OperatorName(StrEnum):
    redact = "redact"
    partial = "partial"
    pseudonymize = "pseudonymize"
    drop = "drop"


@dataclass(frozen=True, slots=True)
class _Located:
    finding: Finding
    line: int
    column: int
    preview: str


def _read(path: str) -> tuple[str, str]:
    """(display name, text). Exit 2 when the input cannot be read."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {path}: {exc.strerror or 'unreadable'}", err=True)
        raise typer.Exit(2) from exc
    return ("<stdin>" if path == "-" else path), data.decode("utf-8", "replace")


def _preview(value: str, kind: str) -> str:
    if kind in SECRET_KINDS:
        return f"[{kind}, {len(value)} chars]"
    return _PREVIEW(value, kind)


def _scan_document(text: str, min_confidence: float) -> list[_Located]:
    document = json_or_none(text)
    if not is_not_json(document):
        return [
            _Located(f, 1, 0, _preview((value_at(document, f.path) or "")[f.start : f.end], f.kind))
            for f in find_in_json(text, min_confidence=min_confidence)
        ]
    lines = text.splitlines(keepends=True)
    parsed = [json_or_none(line) for line in lines if line.strip()]
    if parsed and not any(is_not_json(p) for p in parsed):
        return _scan_ndjson(lines, min_confidence)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    out = []
    for f in find(text, min_confidence=min_confidence):
        line_index = bisect_right(starts, f.start) - 1
        preview = _preview(text[f.start : f.end], f.kind)
        out.append(_Located(f, line_index + 1, f.start - starts[line_index] + 1, preview))
    return out


def _scan_ndjson(lines: list[str], min_confidence: float) -> list[_Located]:
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        document = json.loads(line)
        for f in find_in_json(line, min_confidence=min_confidence):
            value = (value_at(document, f.path) or "")[f.start : f.end]
            out.append(_Located(f, number, 0, _preview(value, f.kind)))
    return out


def _render_text(source: str, located: list[_Located]) -> None:
    for item in located:
        f = item.finding
        where = f"{source}:{item.line}"
        where += f":{item.column}" if f.path is None else f" {f.path}[{f.start}:{f.end}]"
        typer.echo(f"{where}: {f.kind} ({f.confidence:.2f}) {item.preview}")
    noun = "finding" if len(located) == 1 else "findings"
    typer.echo(f"{len(located)} {noun} in {source}", err=True)


def _render_json(source: str, located: list[_Located]) -> None:
    items = [
        {
            "kind": item.finding.kind,
            "path": item.finding.path,
            "line": item.line,
            "column": item.column if item.finding.path is None else None,
            "start": item.finding.start,
            "end": item.finding.end,
            "confidence": item.finding.confidence,
            "preview": item.preview,
        }
        for item in located
    ]
    typer.echo(json.dumps({"source": source, "count": len(items), "findings": items}, indent=2))


@app.command()
def scan(
    path: Annotated[str, typer.Argument(help="File to scan, or - for stdin.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.text,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Report findings at least this sure.")
    ] = 0.5,
) -> None:
    """Report personal data and secrets: JSON, NDJSON logs or text. Exit 1 if any is found."""
    source, text = _read(path)
    located = _scan_document(text, min_confidence)
    if output is OutputFormat.json:
        _render_json(source, located)
    else:
        _render_text(source, located)
    raise typer.Exit(1 if located else 0)


def _operator(name: OperatorName, key_file: Path | None, key_id: str) -> Operator:
    if name is not OperatorName.pseudonymize:
        return operator_named(name.value)
    if key_file is None:
        typer.echo("error: --operator pseudonymize needs --key-file", err=True)
        raise typer.Exit(2)
    try:
        return Pseudonymize({key_id: key_file.read_bytes().strip()})
    except OSError as exc:
        typer.echo(f"error: cannot read key file {key_file}", err=True)
        raise typer.Exit(2) from exc
    except ConfigurationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@app.command("mask")
def mask_command(
    path: Annotated[str, typer.Argument(help="File to mask, or - for stdin.")],
    operator: Annotated[
        OperatorName, typer.Option("--operator", "-o", help="How each value is replaced.")
    ] = OperatorName.redact,
    key_file: Annotated[
        Path | None, typer.Option(help="Secret for pseudonymize (16+ bytes).")
    ] = None,
    key_id: Annotated[str, typer.Option(help="Key id written into pseudonyms.")] = "k1",
    min_confidence: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.5,
) -> None:
    """Write the input to stdout with every finding masked (JSON stays valid JSON)."""
    op = _operator(operator, key_file, key_id)
    _source, text = _read(path)
    if not is_not_json(json_or_none(text)):
        typer.echo(mask_json(text, operator=op, min_confidence=min_confidence).decode())
        return
    lines = text.splitlines(keepends=True)
    non_empty = [line for line in lines if line.strip()]
    if non_empty and not any(is_not_json(json_or_none(line)) for line in non_empty):
        for line in non_empty:
            typer.echo(mask_json(line, operator=op, min_confidence=min_confidence).decode())
        return
    typer.echo(mask(text, operator=op, min_confidence=min_confidence), nl=False)
