"""Fixed SQL on the raw DBAPI cursor, for the statements of the hot paths.

Why: building a SQLAlchemy Core statement and its cache key costs far more
than running the statement (bench/ANALYSIS.md measured 1,164 µs for the five
statements of ``/message`` against 20 µs on the bare cursor). The tables stay
SQLModel's; only the per-request statements are fixed strings, written once
with ``:name`` parameters and translated to each driver's style here.

Times: SQLite has no time type. SQLAlchemy's ``DateTime`` stores naive UTC as
``YYYY-MM-DD HH:MM:SS.ffffff`` text (see ``models.UtcDateTime``), and we bind
and compare the same text, so both layers read and write one format.
PostgreSQL gets and returns aware datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["Statement", "db_time", "execute", "first", "iso_from_db", "rows"]

_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_TIME_LENGTH = len("2026-01-01 00:00:00.000000")


class Statement:
    """One SQL text with ``:name`` parameters, ready for SQLite and psycopg."""

    __slots__ = ("named", "pyformat")

    def __init__(self, text: str) -> None:
        self.named = " ".join(text.split())  # sqlite3's named style
        self.pyformat = _NAMED.sub(r"%(\1)s", self.named.replace("%", "%%"))  # psycopg

    def text_for(self, connection: Connection) -> str:
        return self.named if connection.dialect.name == "sqlite" else self.pyformat


def _cursor(connection: Connection) -> Any:
    # The DBAPI connection under SQLAlchemy's: same transaction, no wrapping.
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


def execute(connection: Connection, statement: Statement, params: Mapping[str, Any]) -> Any:
    cursor = _cursor(connection)
    cursor.execute(statement.text_for(connection), params)
    return cursor


def rows(connection: Connection, statement: Statement, params: Mapping[str, Any]) -> list[Any]:
    return execute(connection, statement, params).fetchall()


def first(connection: Connection, statement: Statement, params: Mapping[str, Any]) -> Any:
    return execute(connection, statement, params).fetchone()


def db_time(connection: Connection, moment: datetime) -> Any:
    """A datetime as this database stores it (see the module docstring)."""
    if connection.dialect.name == "sqlite":
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        # = strftime(_SQLITE_TIME), a few times cheaper (it runs for every message)
        return moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    return moment


def iso_from_db(value: Any) -> str | None:
    """A stored time (text on SQLite, datetime elsewhere) as ISO 8601 UTC with ``Z``."""
    if value is None:
        return None
    if isinstance(value, str):
        # "YYYY-MM-DD HH:MM:SS.ffffff" (or without fraction) -> "...THH:MM:SS.mmmZ"
        if len(value) == _SQLITE_TIME_LENGTH:  # the usual case, 80 times a page
            return f"{value[:10]}T{value[11:23]}Z"
        date, _, clock = value.partition(" ")
        whole, _, fraction = clock.partition(".")
        return f"{date}T{whole}.{(fraction + '000')[:3]}Z"
    moment: datetime = value
    if moment.tzinfo is not None and moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
