"""uvicorn logging: its default ``dictConfig`` with the redaction filter on every handler.

uvicorn's access log line carries the full path with its query string: a token sent as
``?access_token=`` (CWE-598) would be written to disk without this filter.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["uvicorn_log_config"]


def uvicorn_log_config(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping for ``uvicorn.run(log_config=...)``.

    ``base`` defaults to uvicorn's own ``LOGGING_CONFIG``; it is copied, never changed.
    """
    if base is None:
        from uvicorn.config import LOGGING_CONFIG

        base = LOGGING_CONFIG
    config = copy.deepcopy(base)
    config.setdefault("filters", {})["tokenveil_redact"] = {
        "()": "tokenveil.logs._config_filter",
    }
    for handler in config.get("handlers", {}).values():
        filters = handler.setdefault("filters", [])
        if "tokenveil_redact" not in filters:
            filters.append("tokenveil_redact")
    return config
