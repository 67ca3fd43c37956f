"""Stdlib ``logging`` adapters: a handler filter, a formatter wrapper, a record factory.

Filters on the root *logger* never see records of module loggers (they reach handlers directly),
so redaction is attached to *handlers* and to the record factory, which every logger uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from tokenveil.logs._processors import RedactionChain, default_chain, scrub_exception

__all__ = ["RedactingFilter", "RedactingFormatter", "install", "installed_filter", "uninstall"]

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName", "color_message", "_tokenveil"}
_CORE = "core"
_FULL = "full"


class RedactingFilter(logging.Filter):
    """Redacts a record in place: message and args, exception traceback, stack info, extras.

    Never drops a record (always returns True). Safe to attach to many handlers: a record is
    redacted once and marked.
    """

    def __init__(
        self,
        chain: RedactionChain | None = None,
        *,
        exception_messages: Literal["redact", "drop"] = "redact",
    ) -> None:
        super().__init__()
        self.chain = chain if chain is not None else default_chain()
        self.exception_messages: Literal["redact", "drop"] = exception_messages

    def filter(self, record: logging.LogRecord) -> bool:
        state = record.__dict__.get("_tokenveil")
        if state != _FULL:
            if state != _CORE:
                self.redact_core(record)
            self._redact_extras(record)
            record.__dict__["_tokenveil"] = _FULL
        return True

    def redact_core(self, record: logging.LogRecord) -> None:
        """Message, args, traceback and stack: everything known when the record is created."""
        chain = self.chain
        try:
            full = record.getMessage()
        except Exception:  # mismatched args: keep the template only
            full = f"{record.msg} [unformattable arguments]"
            record.args = None
        redacted = chain(full)
        if redacted != full:
            self._replace_message(record, redacted)
        if record.exc_info and record.exc_info[1] is not None:
            # Pre-rendered and exc_info cleared: JSON or structlog formatters would otherwise
            # re-render the raw traceback from exc_info (CWE-209).
            record.exc_text = scrub_exception(
                record.exc_info[1], chain, messages=self.exception_messages
            )
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = chain(record.exc_text)
        if record.stack_info:
            record.stack_info = chain(record.stack_info)
        record.__dict__["_tokenveil"] = _CORE

    def _replace_message(self, record: logging.LogRecord, redacted: str) -> None:
        chain = self.chain
        args = record.args
        if isinstance(args, tuple) and args and isinstance(record.msg, str):
            # Keep positional args when redacting them one by one is enough: formatters such
            # as uvicorn's AccessFormatter unpack record.args.
            # An argument found verbatim in the redacted line was left alone by the chain:
            # skip a second pass over it (the PII engine is the costly step).
            safe_args = tuple(
                a if isinstance(a, str) and a in redacted else chain.redact_value(a) for a in args
            )
            try:
                candidate = record.msg % safe_args
            except Exception:
                candidate = None
            # Same text as redacting the whole line: the secrets sat inside the args only.
            if candidate == redacted:
                record.args = safe_args
                return
        record.msg = redacted
        record.args = None

    def _redact_extras(self, record: logging.LogRecord) -> None:
        extras = record.__dict__.keys() - _STANDARD_ATTRS
        for key in extras:
            value = record.__dict__[key]
            record.__dict__[key] = (
                "[REDACTED]" if self.chain.is_secret_name(key) else self.chain.redact_value(value)
            )


class RedactingFormatter(logging.Formatter):
    """Wraps any formatter; the final rendered line goes through the chain once more.

    The last line of defence: whatever a formatter adds (extras, a JSON dump of the record),
    the text that reaches the handler is redacted.
    """

    def __init__(
        self, inner: logging.Formatter | None = None, chain: RedactionChain | None = None
    ) -> None:
        super().__init__()
        self.inner = inner if inner is not None else logging.Formatter()
        self.chain = chain if chain is not None else default_chain()

    def format(self, record: logging.LogRecord) -> str:
        return self.chain(self.inner.format(record))


_lock = threading.Lock()
_installed: RedactingFilter | None = None
_previous_factory: Callable[..., logging.LogRecord] | None = None


def install(
    chain: RedactionChain | None = None,
    *,
    exception_messages: Literal["redact", "drop"] = "redact",
) -> RedactingFilter:
    """Redact every log record of the process. Idempotent; returns the filter in use.

    * wraps the LogRecord factory, so records of every logger, including handlers configured
      later (uvicorn's ``dictConfig``), get message, args and traceback redacted at creation;
    * attaches the filter to every handler that exists now, which also redacts ``extra=``
      fields (they are set on a record after the factory returns).
    """
    global _installed, _previous_factory
    with _lock:
        if _installed is None:
            _installed = RedactingFilter(chain, exception_messages=exception_messages)
            _previous_factory = logging.getLogRecordFactory()
            previous = _previous_factory
            active = _installed

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                active.redact_core(record)
                return record

            logging.setLogRecordFactory(factory)
        for handler in _all_handlers():
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(_installed)
        return _installed


def uninstall() -> None:
    """Undo :func:`install` (for tests)."""
    global _installed, _previous_factory
    with _lock:
        if _installed is None:
            return
        if _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
        for handler in _all_handlers():
            handler.removeFilter(_installed)
        _installed = None
        _previous_factory = None


def installed_filter() -> RedactingFilter | None:
    """The filter :func:`install` put in place, if any."""
    return _installed


def _all_handlers() -> list[logging.Handler]:
    handlers: list[logging.Handler] = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    return handlers
