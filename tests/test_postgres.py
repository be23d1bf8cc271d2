"""The same models on PostgreSQL (issue 3 point 5): a short scenario end to end.

Needs the PostgreSQL server on 127.0.0.1:5432 (user ``postgres``, no
password); skipped when it cannot be reached. A fresh database is created for
the module and dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import ADMIN_KEY, Line, ServerProcess, scratch_postgres_database, unread_drift

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_postgres_database("tchatator_test") as url:
        yield url


@pytest.fixture(scope="module")
def pg_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    folder: Path = tmp_path_factory.mktemp("postgres-server")
    process = ServerProcess(
        folder, database_url=database_url, max_messages=2, max_message_size=200
    ).start()
    assert any("postgresql" in line for line in process.output), process.output
    yield process
    process.stop()


def _second_server(pg_server: ServerProcess, tmp_path: Path) -> ServerProcess:
    """Scale-out: another server on the same database, with the same secret."""
    return ServerProcess(
        tmp_path / "second",
        database_url=pg_server.settings["database_url"],
        data_dir=str(pg_server.folder / "data"),  # the same server secret
        max_messages=2,
        max_message_size=200,
    ).start()


def _all_text_values(psycopg, url: str) -> list[str]:
    """Every text value of every public table."""
    values: list[str] = []
    with psycopg.connect(url, connect_timeout=3) as direct:
        columns = direct.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
        ).fetchall()
        for table, column in columns:
            query = f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            values.extend(row[0] for row in direct.execute(query))
    assert values, "no text stored in PostgreSQL at all"
    return values


def test_scenario_on_postgresql(pg_server: ServerProcess, database_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    pro = pg_server.add_user("pro", "Librairie Dubois")
    client = pg_server.add_user("client", "Élise")
    other = pg_server.add_user("client", "Fanny")
    alice, shop, fanny, admin = (Line(pg_server) for _ in range(4))
    alice.login(client["api_key"])
    shop.login(pro["api_key"])
    fanny.login(other["api_key"])
    admin.login(ADMIN_KEY)

    # A pro cannot write first; a client can.
    assert shop.ask(f"/message {client['id']} Bonjour !").code == 403
    ids = []
    for n in range(5):
        reply = alice.ask(f"/message {pro['id']} livre {n} : « Les Misérables »\\ntome {n}")
        assert reply.code == 200
        ids.append(reply.body["id"])
    assert ids == sorted(ids)

    # /liste: unread, oldest first, 2 a page; reading it marks nothing.
    first = shop.ask("/liste")
    assert (first.body["total"], first.body["pages"]) == (5, 3)
    assert [m["id"] for m in first.body["messages"]] == ids[:2]
    assert first.body["messages"][0]["text"] == "livre 0 : « Les Misérables »\ntome 0"
    assert [m["id"] for m in shop.ask("/liste 2").body["messages"]] == ids[4:]
    assert shop.ask("/liste 3").code == 416

    # /conversation: page 0 is the newest, and marks what it returns as read.
    newest = shop.ask(f"/conversation {client['id']}")
    assert [m["id"] for m in newest.body["messages"]] == ids[3:]
    assert all(m["read_at"] is not None for m in newest.body["messages"])
    oldest = shop.ask(f"/conversation {client['id']} 2")
    assert [m["id"] for m in oldest.body["messages"]] == ids[:1]
    assert shop.ask("/liste").body["total"] == 2  # ids[1], ids[2] are still unread

    # Answer, edit, delete (tombstone).
    answer = shop.ask(f"/message {client['id']} Ils sont en rayon.")
    assert answer.code == 200
    edited = alice.ask(f"/modifie {ids[1]} livre 1, édition de poche")
    assert edited.code == 200 and edited.body["modified_at"] is not None
    assert alice.ask(f"/supprime {ids[2]}").code == 200
    tomb = shop.ask(f"/info {ids[2]}")
    assert tomb.body["text"] is None and tomb.body["deleted_at"] is not None
    assert [m["id"] for m in shop.ask("/liste").body["messages"]] == [ids[1]]
    assert shop.ask(f"/info {ids[1]}").body["text"] == "livre 1, édition de poche"
    assert fanny.ask(f"/info {ids[1]}").code == 403

    # Block by the pro, ban by the admin, lifted.
    assert shop.ask(f"/bloque {client['id']}").code == 200
    assert shop.ask(f"/bloque {client['id']}").code == 409
    assert alice.ask(f"/message {pro['id']} encore moi").code == 403
    assert fanny.ask(f"/message {pro['id']} bonjour").code == 200
    assert admin.ask(f"/ban {other['id']}").code == 200
    assert fanny.ask(f"/message {pro['id']} et moi ?").code == 403
    assert admin.ask(f"/deban {other['id']}").code == 200
    assert fanny.ask(f"/message {pro['id']} merci").code == 200

    # The rows really are in PostgreSQL (whatever the schema): the edited text is
    # there, the deleted one is gone; and no SQLite file was made instead.
    texts = _all_text_values(psycopg, database_url)
    assert "livre 1, édition de poche" in texts
    assert not any("livre 2" in text for text in texts)
    assert not any(pg_server.folder.rglob("*.db")), list(pg_server.folder.rglob("*.db"))
    for line in (alice, shop, fanny, admin):
        line.close()


def test_restart_keeps_data_on_postgresql(pg_server: ServerProcess) -> None:
    pro = pg_server.add_user("pro", "Avant redémarrage")
    client = pg_server.add_user("client", "Gaston")
    line = Line(pg_server)
    line.login(client["api_key"])
    sent = line.ask(f"/message {pro['id']} persiste")
    assert sent.code == 200
    line.close()
    assert pg_server.stop() == 0
    pg_server.start()
    line = Line(pg_server)
    line.login(pro["api_key"])
    assert [m["text"] for m in line.ask("/liste").body["messages"]] == ["persiste"]
    line.close()


def test_deleted_text_leaves_the_table_files(pg_server: ServerProcess, database_url: str) -> None:
    """Section 5: a deleted message's text "is erased from storage" (as on SQLite)."""
    psycopg = pytest.importorskip("psycopg")
    pro = pg_server.add_user("pro", "Effacement")
    client = pg_server.add_user("client", "Discret")
    secret = f"PG-SECRET-{uuid.uuid4().hex}"
    line = Line(pg_server)
    line.login(client["api_key"])
    sent = line.ask(f"/message {pro['id']} {secret}")
    assert sent.code == 200
    assert line.ask(f"/supprime {sent.body['id']}").code == 200
    line.close()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as direct:
        direct.execute("CHECKPOINT")  # what PostgreSQL holds in memory goes to its files
        data_directory = Path(direct.execute("SHOW data_directory").fetchone()[0])
        files = [
            data_directory / row[0]
            for row in direct.execute(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 't')"
            )
            if row[0]
        ]
    try:
        contents = [path.read_bytes() for path in files if path.exists()]
    except PermissionError:
        pytest.skip("PostgreSQL's data directory is not readable here")
    assert contents, files
    assert not any(secret.encode() in content for content in contents)


def test_two_servers_on_one_database_share_conversations(
    pg_server: ServerProcess, tmp_path: Path
) -> None:
    """Scale-out: two servers, one PostgreSQL database, one conversation written
    from both at once (the first messages race to create it)."""
    second = _second_server(pg_server, tmp_path)
    try:
        pro = pg_server.add_user("pro", "Deux guichets")
        client = pg_server.add_user("client", "Impatient")
        lines = [Line(pg_server), Line(second)]
        for line in lines:
            line.login(client["api_key"])
        per_server = 30
        for index, line in enumerate(lines):
            line.send(
                "".join(f"/message {pro['id']} s{index}-{n:02d}\n" for n in range(per_server))
            )
        for line in lines:
            assert [line.reply().code for _ in range(per_server)] == [200] * per_server
            line.close()
        reader = Line(second)
        reader.login(pro["api_key"])
        page = reader.ask(f"/conversation {client['id']} 0")
        assert page.code == 200 and page.body["total"] == 2 * per_server
        texts: list[str] = []
        for number in range(page.body["pages"]):
            texts += [
                m["text"]
                for m in reader.ask(f"/conversation {client['id']} {number}").body["messages"]
            ]
        assert sorted(texts) == sorted(f"s{i}-{n:02d}" for i in range(2) for n in range(per_server))
        reader.close()
    finally:
        second.stop()


def test_two_servers_sending_to_one_recipient_keep_its_liste_exact(
    pg_server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    """/liste counters under scale-out: clients on both servers write to one pro
    at once while the pro reads on both; every unread message is listed once,
    in arrival (id) order, and the counters equal a recount."""
    psycopg = pytest.importorskip("psycopg")
    second = _second_server(pg_server, tmp_path)
    try:
        pro = pg_server.add_user("pro", "Guichet unique")
        clients = [pg_server.add_user("client", f"Expéditeur {n}") for n in range(3)]
        servers = (pg_server, second)
        senders = []
        for index, client in enumerate([*clients, clients[0]]):
            line = Line(servers[index % 2])
            line.login(client["api_key"])
            senders.append(line)
        readers = [Line(server) for server in servers]
        for reader in readers:
            reader.login(pro["api_key"])
        per_line = 80  # 320 in all: arrivals over two buckets
        for index, line in enumerate(senders):
            line.send("".join(f"/message {pro['id']} l{index}-{n:03d}\n" for n in range(per_line)))
        for reader, client in zip(readers, clients[:2], strict=True):
            reader.send(f"/conversation {client['id']} 0\n" * 20)  # marks read meanwhile
        sent: list[list[int]] = []
        for line in senders:
            replies = [line.reply() for _ in range(per_line)]
            assert [reply.code for reply in replies] == [200] * per_line
            sent.append([reply.body["id"] for reply in replies])
            assert sent[-1] == sorted(sent[-1])
        for reader in readers:
            assert {reader.reply().code for _ in range(20)} <= {200, 204}

        with psycopg.connect(database_url, connect_timeout=3) as direct:
            expected = [
                row[0]
                for row in direct.execute(
                    "SELECT id FROM messages WHERE recipient_id = %s AND read_at IS NULL"
                    " AND deleted_at IS NULL ORDER BY id",
                    (pro["id"],),
                )
            ]
        assert expected
        assert unread_drift(pg_server) == {}
        listed: list[int] = []
        total = None
        for reader in readers:  # both servers list the same pages
            listed, page, pages = [], 0, 1
            while page < pages:
                body = reader.ask(f"/liste {page}").body
                total, pages = body["total"], body["pages"]
                listed += [m["id"] for m in body["messages"]]
                page += 1
            assert total == len(expected)
            assert listed == expected  # each unread message once, oldest first
            assert reader.ask(f"/liste {pages}").code == 416
        # Each connection's messages arrived in the order it sent them.
        for ids in sent:
            position = [listed.index(i) for i in ids if i in listed]
            assert position == sorted(position)
        for line in senders + readers:
            line.close()
    finally:
        second.stop()


def test_two_servers_crossing_writes_lose_nothing(pg_server: ServerProcess, tmp_path: Path) -> None:
    """Group commits of two servers that touch the same users in opposite
    orders (messages to two pros, reads and deletions by those pros): every
    request gets its answer, the counters equal a recount, and no batch ever
    deadlocks (the batches lock their users in id order first, or take the
    writers' lock alone: ``commit.take_writers_turn``). Without that, PostgreSQL
    broke a deadlock in every run, a second later."""
    second = _second_server(pg_server, tmp_path)
    try:
        pros = [pg_server.add_user("pro", f"Croisement {n}") for n in range(2)]
        clients = [pg_server.add_user("client", f"Croiseur {n}") for n in range(4)]
        servers = (pg_server, second)
        senders = []
        for index, client in enumerate(clients):
            line = Line(servers[index % 2])
            line.login(client["api_key"])
            senders.append(line)
        per_line = 60
        for index, line in enumerate(senders):
            # servers alternate which pro each message goes to first
            order = pros if index % 2 == 0 else pros[::-1]
            line.send(
                "".join(
                    f"/message {order[n % 2]['id']} x{index}-{n:03d}\n" for n in range(per_line)
                )
            )
        ids: list[int] = []
        for line in senders:
            replies = [line.reply() for _ in range(per_line)]
            assert [reply.code for reply in replies] == [200] * per_line
            ids += [reply.body["id"] for reply in replies]
        assert len(set(ids)) == len(ids) == per_line * len(senders)

        # Then all at once: clients write again and read; the pros read
        # (marking the clients' messages read) and delete answers the clients
        # have not read yet (counting them down on the clients' side).
        readers = []
        for index, pro in enumerate(pros):
            reader = Line(servers[index % 2])
            reader.login(pro["api_key"])
            readers.append(reader)
        answers = [
            [reader.ask(f"/message {client['id']} r").body["id"] for client in clients]
            for reader in readers
        ]
        for line in senders:
            line.send(
                "".join(f"/message {pros[n % 2]['id']} y{n}\n" for n in range(20))
                + "".join(f"/conversation {pro['id']} 0\n" for pro in pros)
            )
        for reader, sent in zip(readers, answers, strict=True):
            reader.send(
                "".join(f"/conversation {client['id']} 0\n" for client in clients)
                + "".join(f"/supprime {message_id}\n" for message_id in sent)
            )
        for line in senders:
            assert [line.reply().code for _ in range(20 + len(pros))] == [200] * (20 + len(pros))
        for reader in readers:
            codes = [reader.reply().code for _ in range(2 * len(clients))]
            assert codes == [200] * (2 * len(clients))
        assert unread_drift(pg_server) == {}
        for line in senders + readers:
            line.close()
    finally:
        second.stop()  # its output is complete once it has stopped
    problems = [
        line
        for line in second.output + pg_server.output
        if "deadlock" in line.lower() or "retrying them one by one" in line
    ]
    assert problems == []
