"""Storage: SQLModel tables, the database (group commit), and the queries.

``models`` (tables), ``migrations`` (alembic), ``fastsql`` (fixed SQL of the
hot paths), ``queries`` (one function a question), ``counters`` (unread
counters' repair), ``commit`` (engines and the committer: what the writer
process runs), ``writer`` (the writer process), ``db`` (``Database``: reads,
the write queue, the writer thread). Nothing is imported here: the writer
process loads ``commit`` and ``writer`` and the queries its jobs use, not the
event loop's side.
"""

__all__ = ["commit", "counters", "db", "fastsql", "models", "queries", "writer"]
