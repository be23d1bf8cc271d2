"""Storage: SQLModel tables, the database (group commit), and the queries."""

from .db import Database, make_engine, migrate

__all__ = ["Database", "make_engine", "migrate"]
