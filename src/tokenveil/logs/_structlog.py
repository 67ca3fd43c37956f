"""structlog adapter: the redaction chain as a processor.

Place it after ``structlog.processors.format_exc_info`` (or instead of it: it renders and scrubs
``exc_info`` itself) and before the renderer::

    structlog.configure(processors=[..., tokenveil.logs.StructlogRedactor(), JSONRenderer()])
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from typing import Any, Literal

from tokenveil.logs._processors import REDACTED, RedactionChain, default_chain, scrub_exception

__all__ = ["StructlogRedactor"]


class StructlogRedactor:
    """Redacts every value of an event dict; secret-named keys are replaced whole."""

    def __init__(
        self,
        chain: RedactionChain | None = None,
        *,
        exception_messages: Literal["redact", "drop"] = "redact",
    ) -> None:
        self.chain = chain if chain is not None else default_chain()
        self.exception_messages: Literal["redact", "drop"] = exception_messages

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        chain = self.chain
        exc_info = event_dict.pop("exc_info", None)
        if exc_info:
            exc = _exception_of(exc_info)
            if exc is not None:
                event_dict["exception"] = scrub_exception(
                    exc, chain, messages=self.exception_messages
                )
        for key, value in event_dict.items():
            event_dict[key] = REDACTED if chain.is_secret_name(key) else chain.redact_value(value)
        return event_dict


def _exception_of(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None
