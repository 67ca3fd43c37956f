"""The SQL store's error boundary: driver and SQLAlchemy exceptions in, tokenveil errors out.

::

    OSError, TimeoutError, OperationalError, InterfaceError,   ──► StoreUnavailable (from exc)
    pool timeouts, asyncpg errors, SQLSTATE 08/28/3D/53/57/58
    IntegrityError (unique, foreign key)                        ──► StoreError (not chained)
    any other SQLAlchemyError                                   ──► StoreError (from exc)

Constraint violations are not chained because PostgreSQL's error detail repeats the offending key
value (``Key (username)=(alice) already exists``), and a chained cause ends up in tracebacks and
logs (invariant 6). The other causes are safe to chain: engines are built with
``hide_parameters=True``, so SQLAlchemy's messages show the statement, never the values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from sqlalchemy import exc as sa_exc

from tokenveil.errors import StoreError, StoreUnavailable

__all__ = ["boundary", "is_unavailable"]

#: SQLSTATE classes meaning "the server is not there for you": connection exception, invalid
#: authorization, invalid catalog (no such database), insufficient resources, operator
#: intervention (shutdown), system error.
_UNAVAILABLE_SQLSTATE_CLASSES: Final = frozenset({"08", "28", "3D", "53", "57", "58"})

try:  # asyncpg raises its own errors while connecting, before SQLAlchemy can wrap them.
    import asyncpg

    _DRIVER_ERRORS: tuple[type[BaseException], ...] = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    )
except ImportError:  # pragma: no cover - the postgres extra is optional
    _DRIVER_ERRORS = ()

_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    *_DRIVER_ERRORS,
)

_TRANSLATED: tuple[type[BaseException], ...] = (sa_exc.SQLAlchemyError, *_UNAVAILABLE_ERRORS)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached or used right now."""
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(code, str) and code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    return False


@contextlib.contextmanager
def boundary(conflict: str = "the record conflicts with a stored one") -> Iterator[None]:
    """Translate every database failure inside the block; ``conflict`` names what was taken."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise StoreError(conflict) from None
    except _TRANSLATED as exc:
        if is_unavailable(exc):
            raise StoreUnavailable("the database is unavailable") from exc
        raise StoreError("the database refused the operation") from exc
