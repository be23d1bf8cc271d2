"""N instances as one server (issue 14, docs/scaling.md): two real server
processes, each with its own folder and port, on one PostgreSQL database and
one Redis logical database, both created and emptied by the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import (
    ADMIN_KEY,
    Line,
    ServerProcess,
    scratch_postgres_database,
    scratch_redis_database,
)

pytestmark = pytest.mark.postgres

REDIS_DATABASE = 11  # this module's Redis logical database (see scratch_redis_database)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_postgres_database("tchatator_scale") as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with scratch_redis_database(REDIS_DATABASE) as url:
        yield url


def instance(folder: Path, database_url: str, redis_url: str = "", **settings) -> ServerProcess:
    """One instance: a folder (data_dir, certificates, log) of its own."""
    if redis_url:
        settings["redis_url"] = redis_url
    return ServerProcess(folder, database_url=database_url, **settings)


@pytest.fixture(scope="module")
def pair(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two instances started side by side, each with its own data_dir: nothing copied."""
    root = tmp_path_factory.mktemp("scale")
    first = instance(root / "a", database_url, redis_url, instance_name="a").start()
    second = instance(root / "b", database_url, redis_url, instance_name="b").start()
    yield first, second
    first.stop()
    second.stop()


# --- 2. nothing to copy between instances -------------------------------------------------------


def test_second_instance_accepts_the_keys_and_tokens_of_the_first(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = pair
    # Different data_dirs: neither holds a secret.key, the database does.
    assert first.folder / "data" != second.folder / "data"
    assert not (first.folder / "data" / "secret.key").exists()
    assert not (second.folder / "data" / "secret.key").exists()
    pro = first.add_user("pro", "Clé partagée")  # the CLI of the first instance's folder
    with Line(second) as on_second, Line(first) as on_first:
        token = on_second.login(pro["api_key"]).body["token"]
        assert on_first.ask(f"/connexion {token}").code == 200  # issued by B, resumed on A
        assert on_first.ask("/deconnexion").code == 200
    with Line(second) as again:
        assert again.ask(f"/connexion {token}").code == 401  # revoked on A: dead on B
        assert again.ask(f"/connexion {ADMIN_KEY}").code == 200


def test_an_upgraded_instance_keeps_its_file_secret(database_url: str, tmp_path: Path) -> None:
    """A single PostgreSQL instance from before: its secret.key goes into the
    database (when none is there yet), so its users' keys keep working."""
    with scratch_postgres_database("tchatator_upgrade") as url:
        old = ServerProcess(tmp_path / "old", database_url=url)
        secret_file = old.folder / "data" / "secret.key"
        secret_file.parent.mkdir(mode=0o700)
        secret_file.write_text("ab" * 32)
        secret_file.chmod(0o600)
        pro = old.add_user("pro", "D'avant")
        fresh = ServerProcess(tmp_path / "fresh", database_url=url).start()
        try:
            with Line(fresh) as line:
                assert line.ask(f"/connexion {pro['api_key']}").code == 200
        finally:
            fresh.stop()
