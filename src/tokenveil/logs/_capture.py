"""``capture_logs()``: every log record of the block, as plain data (structlog testing style)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tokenveil.logs._stdlib import _STANDARD_ATTRS, RedactingFilter, installed_filter

__all__ = ["CapturedLog", "capture_logs"]


@dataclass(frozen=True, slots=True)
class CapturedLog:
    """One record as a handler would have received it. ``text`` is everything, joined."""

    logger: str
    level: str
    message: str
    exc_text: str | None = None
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        parts = [self.message, self.exc_text or "", *self.extras.values()]
        return "\n".join(p for p in parts if p)


class _CaptureHandler(logging.Handler):
    def __init__(self, sink: list[CapturedLog], redactor: RedactingFilter | None) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        if redactor is not None:
            self.addFilter(redactor)

    def emit(self, record: logging.LogRecord) -> None:
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = logging.Formatter().formatException(record.exc_info)
        extras = {k: str(v) for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        self.sink.append(
            CapturedLog(record.name, record.levelname, record.getMessage(), exc_text, extras)
        )


@contextmanager
def capture_logs(
    level: int = logging.DEBUG, *, redact: bool | None = None
) -> Iterator[list[CapturedLog]]:
    """Collect every record emitted in the block, from every logger.

    ``redact=None`` captures what a handler sees in this process: redacted when
    :func:`tokenveil.logs.install` ran, raw otherwise (so a leak harness can tell the two apart).
    Loggers that do not propagate (``uvicorn.access``) are captured too, including those
    configured inside the block (a lifespan that runs ``dictConfig``).
    """
    sink: list[CapturedLog] = []
    redactor = installed_filter() if redact is None else (RedactingFilter() if redact else None)
    handler = _CaptureHandler(sink, redactor)
    root = logging.getLogger()
    targets: list[logging.Logger] = [root] + [
        lg
        for lg in list(logging.Logger.manager.loggerDict.values())
        if isinstance(lg, logging.Logger) and not lg.propagate
    ]
    active = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if active:
            # A record stops at the first logger that does not propagate: listen there too.
            logger: logging.Logger | None = logging.getLogger(record.name)
            while logger is not None and logger.propagate:
                logger = logger.parent
            if logger is not None and handler not in logger.handlers:
                logger.addHandler(handler)
                targets.append(logger)
        return record

    old_level = root.level
    root.setLevel(min(level, old_level) if old_level else level)
    for logger in targets:
        logger.addHandler(handler)
    logging.setLogRecordFactory(factory)
    try:
        yield sink
    finally:
        active = False  # if another factory now wraps ours, ours is left as a pass-through
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)
        for logger in targets:
            logger.removeHandler(handler)
        root.setLevel(old_level)
