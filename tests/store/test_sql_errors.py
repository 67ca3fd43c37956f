"""The SQL error boundary: which failures mean "unavailable" and what may be chained."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from tokenveil.errors import StoreError, StoreUnavailable
from tokenveil.store._sql_errors import boundary


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ConnectionRefusedError(111, "refused"), StoreUnavailable),
        (TimeoutError(), StoreUnavailable),
        (
            sa_exc.OperationalError("SELECT 1", {}, Exception("database is locked")),
            StoreUnavailable,
        ),
        (sa_exc.InterfaceError("SELECT 1", {}, Exception("connection closed")), StoreUnavailable),
        (sa_exc.ProgrammingError("SELECT 1", {}, Exception("syntax")), StoreError),
    ],
)
def test_boundary_translates_driver_errors(raised: Exception, expected: type[StoreError]) -> None:
    """Connection-level failures become StoreUnavailable, other SQL failures StoreError."""
    with pytest.raises(StoreError) as caught, boundary():
        raise raised
    assert type(caught.value) is expected
    assert caught.value.__cause__ is raised


def test_boundary_does_not_chain_constraint_violations() -> None:
    """A unique violation is a StoreError whose cause (which echoes the value) is suppressed."""
    violation = sa_exc.IntegrityError(
        "INSERT", {}, Exception("Key (username)=(carol) already exists")
    )
    with pytest.raises(StoreError) as caught, boundary("the username is already taken"):
        raise violation
    assert type(caught.value) is StoreError
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert "carol" not in str(caught.value)


class _PgError(Exception):
    """Stands in for the asyncpg adapter's error, which carries a SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__("server said no")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("57P01", StoreUnavailable),  # admin_shutdown
        ("08006", StoreUnavailable),  # connection_failure
        ("3D000", StoreUnavailable),  # invalid_catalog_name: no such database
        ("53300", StoreUnavailable),  # too_many_connections
        ("22P02", StoreError),  # invalid_text_representation: a bug, not an outage
    ],
)
def test_generic_dbapi_errors_are_classified_by_sqlstate(
    sqlstate: str, expected: type[StoreError]
) -> None:
    """A generic DBAPIError is 'unavailable' only for connection-level SQLSTATE classes."""
    with pytest.raises(StoreError) as caught, boundary():
        raise sa_exc.DBAPIError("SELECT 1", {}, _PgError(sqlstate))
    assert type(caught.value) is expected
