"""Several instances behaving as one server (docs/scaling.md).

N identical instances share one PostgreSQL database (the data, the server
secret) and, with ``redis_url`` set, one Redis (what they tell each other):
live pushes, ``/sync``, the request log of ``/logs``, and the rate limits
(``server.sharedlimits``). This module holds the first two parts:

- ``server_secret``: the secret that keys every key digest and session token.
  On SQLite it stays the 0600 file of ``data_dir`` (one instance). On
  PostgreSQL it lives in the database (``shared_secrets``), set once by
  whichever instance or CLI command comes first, so an instance started with
  a fresh ``data_dir`` accepts the keys and tokens issued by the others. An
  existing ``secret.key`` (a single PostgreSQL instance upgraded) is what gets
  stored, so its users' keys keep working.
- ``Cluster``: the Redis side, used only when ``redis_url`` is set.
"""

from __future__ import annotations

import logging
import secrets

from . import security
from .config import Settings
from .storage import Database, queries

__all__ = ["SERVER_SECRET_NAME", "server_secret"]

log = logging.getLogger("tchatator.cluster")

SERVER_SECRET_NAME = "server"


def server_secret(settings: Settings, database: Database) -> bytes:
    """The server secret: the ``data_dir`` file on SQLite, the database's on
    PostgreSQL (migrated first: the table must exist)."""
    path = settings.data_dir / "secret.key"
    if database.is_sqlite:
        return security.load_or_create_secret(path)
    try:
        candidate = security.read_private_file(path).decode().strip()
    except FileNotFoundError:
        candidate = secrets.token_bytes(security.SECRET_BYTES).hex()
    stored = database.run_sync(queries.shared_secret, SERVER_SECRET_NAME, candidate)
    if path.exists() and stored != candidate:
        log.warning("%s is not the secret of this PostgreSQL database: using the database's", path)
    secret = bytes.fromhex(stored)
    if len(secret) < security.SECRET_BYTES:
        raise security.InsecureFileError(
            f"the database holds a server secret shorter than {security.SECRET_BYTES} bytes"
        )
    return secret
