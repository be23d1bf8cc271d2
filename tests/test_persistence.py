"""What survives: restarts, SIGKILL, SIGTERM with requests in flight; the user CLI.

Issue 3 points 5, 6 and 9: a ``200`` to ``/message`` means durably stored; a
graceful stop finishes what is in flight and exits 0; messages, read marks,
tombstones, blocks, bans (and the request log) survive a restart; a deleted
message's text is erased from storage; ``user add|list|rename|rotate-key|remove``
and ``demo`` work on a real database, with or without a running server.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.codec import NEED_DATA, ReplyReader

from .support import ADMIN_KEY, Line, ServerProcess, running

SETTINGS = {"max_messages": 3, "max_message_size": 200, "block_duration": 3600}


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; tests restart it as they need."""
    process = ServerProcess(tmp_path_factory.mktemp("durable"), **SETTINGS).start()
    yield process
    process.stop()


@pytest.fixture
def server_up(durable: ServerProcess) -> ServerProcess:
    if durable.process is None or durable.process.poll() is not None:
        durable.process = None
        durable.start()
    return durable


@pytest.fixture
def lines() -> Iterator[list[Line]]:
    opened: list[Line] = []
    yield opened
    for line in opened:
        line.close()


def _open(process: ServerProcess, lines: list[Line], key: str | None = None) -> Line:
    line = process.connect()
    lines.append(line)
    if key is not None:
        line.login(key)
    return line


def _cli_json(process: ServerProcess, *args: str) -> list[dict]:
    """Run the CLI in a real process; its JSON lines."""
    return [json.loads(line) for line in process.cli(*args).splitlines() if line.strip()]


def _cli_here(process: ServerProcess, *args: str) -> tuple[int, list[dict]]:
    """Run the CLI code in this process (faster; same files, its own connections)."""
    from server.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        status = main(["--config", str(process.config), *args])
    printed = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return status, printed


def _conversation(line: Line, other: int) -> list[dict]:
    """Every message of a conversation, oldest first (all pages)."""
    first = line.ask(f"/conversation {other}")
    if first.code == 204:
        return []
    assert first.code == 200, first
    pages = [first.body["messages"]]
    for page in range(1, first.body["pages"]):
        pages.append(line.ask(f"/conversation {other} {page}").body["messages"])
    return [message for page in reversed(pages) for message in page]


# --------------------------------------------------------------------------- restarts


def test_everything_survives_a_restart(server_up, lines) -> None:
    process = server_up
    pro = process.add_user("pro", "Fromagerie")
    reader, blocked, banned = (process.add_user("client", n) for n in ("Lou", "Max", "Noé"))
    globally = process.add_user("client", "Zoé")
    shop = _open(process, lines, pro["api_key"])
    lou = _open(process, lines, reader["api_key"])
    token = lou.ask(f"/connexion {reader['api_key']}").body["token"]
    for n in range(5):
        assert lou.ask(f"/message {pro['id']} message {n}").code == 200
    # The pro reads the newest page (messages 2, 3, 4) and answers; Lou reads the
    # answer and deletes message 0. Message 1 stays unread.
    assert shop.ask(f"/conversation {reader['id']}").code == 200
    assert shop.ask(f"/message {reader['id']} réponse").code == 200
    first_id = _conversation(lou, pro["id"])[0]["id"]
    assert lou.ask(f"/supprime {first_id}").code == 200
    for who in (blocked, banned):
        line = _open(process, lines, who["api_key"])
        assert line.ask(f"/message {pro['id']} coucou").code == 200
    assert shop.ask(f"/bloque {blocked['id']}").code == 200
    assert shop.ask(f"/ban {banned['id']}").code == 200
    admin = _open(process, lines, ADMIN_KEY)
    assert admin.ask(f"/ban {globally['id']}").code == 200
    before = _conversation(lou, pro["id"])
    logged_before = admin.ask("/logs 10000").body["logs"]

    assert process.stop() == 0
    process.start()

    lou = _open(process, lines, reader["api_key"])
    after = _conversation(lou, pro["id"])
    # Same messages, same ids and texts, same read marks, same tombstone.
    assert after == before
    assert [m["text"] for m in after] == [None] + [f"message {n}" for n in range(1, 5)] + [
        "réponse"
    ]
    assert after[0]["deleted_at"] is not None
    assert [m["read_at"] is not None for m in after] == [False, False, True, True, True, True]
    shop = _open(process, lines, pro["api_key"])
    unread = shop.ask("/liste").body["messages"]
    assert [m["text"] for m in unread if m["sender"] == reader["id"]] == ["message 1"]
    # Blocks and bans hold, and still conflict with themselves.
    for who in (blocked, banned, globally):
        line = _open(process, lines, who["api_key"])
        assert line.ask(f"/message {pro['id']} encore ?").code == 403, who
    assert shop.ask(f"/bloque {blocked['id']}").code == 409
    assert shop.ask(f"/ban {banned['id']}").code == 409
    admin = _open(process, lines, ADMIN_KEY)
    assert admin.ask(f"/ban {globally['id']}").code == 409
    # The session token resumes the session on the restarted server.
    reply = _open(process, lines).ask(f"/connexion {token}")
    assert reply.code == 200 and reply.body["user"]["id"] == reader["id"]
    # The request log survives too.
    assert logged_before, "nothing logged before the restart"
    logged_after = admin.ask("/logs 10000").body["logs"]
    for entry in logged_before[-20:]:
        assert entry in logged_after


def test_acknowledged_messages_survive_sigkill(server_up, lines) -> None:
    process = server_up
    pro, client = process.add_user("pro", "Kill"), process.add_user("client", "Nine")
    line = _open(process, lines, client["api_key"])
    count = 30
    line.send("".join(f"/message {pro['id']} durable {n}\n" for n in range(count)))
    replies = [line.reply() for _ in range(count)]
    assert all(reply.code == 200 for reply in replies)
    process.kill()  # SIGKILL right after the last 200: no chance to flush anything
    process.start()
    shop = _open(process, lines, pro["api_key"])
    texts = [m["text"] for m in _conversation(shop, client["id"])]
    assert texts == [f"durable {n}" for n in range(count)]


def test_sigterm_with_requests_in_flight(server_up, lines) -> None:
    process = server_up
    pro, client = process.add_user("pro", "Term"), process.add_user("client", "Inal")
    line = _open(process, lines, client["api_key"])
    _open(process, lines, pro["api_key"])  # an idle connection must not delay the stop
    _open(process, lines).send("/liste")  # half a line, never finished
    count = 400
    line.send("".join(f"/message {pro['id']} en vol {n}\n" for n in range(count)))
    time.sleep(0.02)
    assert process.process is not None
    started = time.monotonic()
    process.process.terminate()
    received = bytearray()
    line.sock.settimeout(15)
    while True:
        chunk = line.sock.recv(65536)  # a reset or a TLS error here fails the test
        if not chunk:
            break
        received += chunk
    # Whatever was answered is whole and in order; the connection closed between
    # two responses, never in the middle of one.
    assert received == b"" or received.endswith(b"\n\n"), bytes(received[-200:])
    codec = ReplyReader()
    codec.feed(bytes(received))
    replies = []
    while (event := codec.next_event()) is not NEED_DATA:
        replies.append(event)
    assert all(reply.code == 200 for reply in replies)
    ids = [reply.body["id"] for reply in replies]
    assert ids == sorted(ids)
    assert process.process.wait(20) == 0
    assert time.monotonic() - started < 8, "the stop waited for idle connections"
    assert "Traceback" not in "\n".join(process.output)
    process.process = None
    process.start()
    shop = _open(process, lines, pro["api_key"])
    stored = [m["text"] for m in _conversation(shop, client["id"])]
    # Nothing acknowledged is lost; what was stored is a prefix of what was sent.
    assert len(stored) >= len(replies)
    assert stored == [f"en vol {n}" for n in range(len(stored))]


@pytest.mark.parametrize("grace", [10, 0], ids=["grace-10s", "grace-0s"])
def test_sigterm_answers_every_pipelined_request_it_read(tmp_path, grace) -> None:
    """SIGTERM with 300 pipelined /message read by the server: each gets an answer.

    A request the server has read is answered 200 (processed, stored) or 503
    (refused: the server is stopping, nothing stored), never dropped without a
    word; the 200s come first, in order. With no grace at all, what is not
    already in flight is refused. The reviewer's run got 16 replies, then the
    connection closed.
    """
    count = 300
    with running(tmp_path, shutdown_grace=grace) as process:
        pro, client = process.add_user("pro", "Drain"), process.add_user("client", "Age")
        line = process.connect()
        line.login(client["api_key"])
        # One sendall of ~11 KB: one TLS record, so once the first reply is
        # back, the server has decrypted (read) all 300 lines.
        line.send("".join(f"/message {pro['id']} drain {n}\n" for n in range(count)))
        line.sock.settimeout(15)
        received = bytearray()
        while b"\n\n" not in received:
            chunk = line.sock.recv(65536)
            assert chunk, "closed before the first reply"
            received += chunk
        assert process.process is not None
        started = time.monotonic()
        process.process.terminate()
        while chunk := line.sock.recv(65536):  # a reset or a TLS error fails the test
            received += chunk
        line.close()
        assert process.process.wait(20) == 0
        assert time.monotonic() - started < 8 + grace
        assert "Traceback" not in "\n".join(process.output)
        process.process = None
        codec = ReplyReader()
        codec.feed(bytes(received))
        replies = []
        while (event := codec.next_event()) is not NEED_DATA:
            replies.append(event)
        codes = [reply.code for reply in replies]
        assert len(replies) == count, f"{len(replies)} replies to {count} requests: {codes}"
        answered = codes.count(200)
        assert codes == [200] * answered + [503] * (count - answered), codes
        ids = [reply.body["id"] for reply in replies[:answered]]
        assert ids == sorted(ids)
        assert all("stopping" in reply.body["error"] for reply in replies[answered:])
        if grace:
            assert answered == count, "10 s are plenty for 300 messages: all run"
        else:
            assert answered < count, "no grace: what was not in flight is refused"
        process.start()
        shop = process.connect()
        shop.login(pro["api_key"])
        stored = [m["text"] for m in _conversation(shop, client["id"])]
        shop.close()
        # Every 200 is stored, every 503 is not.
        assert stored == [f"drain {n}" for n in range(answered)]


def test_sigterm_stop_is_bounded_by_a_peer_that_does_not_read(tmp_path) -> None:
    """A peer that pipelines and never reads its answers cannot hold the stop:
    past the grace (1 s) and the refusal's 2 s, its connection is cut off."""
    with running(tmp_path, shutdown_grace=1) as process:
        client = process.add_user("client", "Sourd")
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", process.port))
        sock = process.client_context().wrap_socket(raw, server_hostname="localhost")
        try:
            sock.sendall(f"/connexion {client['api_key']}\n".encode())
            sock.settimeout(0.5)
            # Each unknown command is answered with the list of commands (~200
            # bytes): the answers pile up at the server as the peer reads nothing.
            with contextlib.suppress(TimeoutError):
                for _ in range(200):
                    sock.sendall(b"/nope\n" * 1000)
            time.sleep(0.5)
            assert process.process is not None
            started = time.monotonic()
            process.process.terminate()
            assert process.process.wait(20) == 0
            elapsed = time.monotonic() - started
            # 1 s of grace, 2 s to refuse, 2 s for the cut-off tasks; margin for load.
            assert elapsed < 9, elapsed
            assert "Traceback" not in "\n".join(process.output)
            process.process = None
        finally:
            sock.close()


# --------------------------------------------------------------------------- erasure


def _files_holding(folder: Path, needle: str) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    )


def test_deleted_text_is_erased_from_the_files(server_up, lines) -> None:
    process = server_up
    pro, client = process.add_user("pro", "Efface"), process.add_user("client", "Secret")
    line = _open(process, lines, client["api_key"])
    shop = _open(process, lines, pro["api_key"])
    original = "XQZ-original-4f1c9e-secret"
    edited = "XQZ-edited-7d2b31-secret"
    kept = "XQZ-kept-90aa17-visible"
    assert line.ask(f"/message {pro['id']} {kept}").code == 200
    sent = line.ask(f"/message {pro['id']} {original}")
    assert sent.code == 200
    assert shop.ask(f"/conversation {client['id']}").code == 200  # readers touched it
    assert line.ask(f"/modifie {sent.body['id']} {edited}").code == 200
    assert line.ask(f"/supprime {sent.body['id']}").code == 200
    assert shop.ask(f"/info {sent.body['id']}").body["text"] is None
    # While the server runs (database, WAL, anything in the folder) ...
    assert _files_holding(process.folder, kept), "the probe does not see stored text at all"
    assert _files_holding(process.folder, original) == []
    assert _files_holding(process.folder, edited) == []
    # ... and once it has stopped.
    assert process.stop() == 0
    assert _files_holding(process.folder, original) == []
    assert _files_holding(process.folder, edited) == []


# --------------------------------------------------------------------------- the user CLI


def test_user_add_while_the_server_runs(server_up, lines) -> None:
    process = server_up
    out = process.cli("user", "add", "--role", "pro", "--name", "Quincaillerie Roux")
    printed = [line for line in out.splitlines() if line.strip()]
    assert len(printed) == 1, out
    user = json.loads(printed[0])
    assert set(user) == {"id", "role", "name", "api_key"}
    assert (user["role"], user["name"]) == ("pro", "Quincaillerie Roux")
    assert isinstance(user["id"], int)
    reply = _open(process, lines).ask(f"/connexion {user['api_key']}")
    assert reply.code == 200
    assert reply.body["user"] == {"id": user["id"], "role": "pro", "name": "Quincaillerie Roux"}


def test_user_list(server_up) -> None:
    user = server_up.add_user("client", "Listée")
    status, printed = _cli_here(server_up, "user", "list")
    assert status == 0
    listed = {entry["id"]: entry for entry in printed}
    assert (listed[user["id"]]["name"], listed[user["id"]]["role"]) == ("Listée", "client")
    assert all("api_key" not in entry for entry in listed.values())


def test_user_rename_rotate_remove(server_up, lines) -> None:
    process = server_up
    user = process.add_user("client", "Avant")
    assert _cli_here(process, "user", "rename", str(user["id"]), "Après")[0] == 0
    reply = _open(process, lines).ask(f"/connexion {user['api_key']}")
    assert reply.body["user"]["name"] == "Après"
    old_token = reply.body["token"]

    status, printed = _cli_here(process, "user", "rotate-key", str(user["id"]))
    assert status == 0
    new_key = printed[-1]["api_key"]
    assert new_key != user["api_key"]
    assert _open(process, lines).ask(f"/connexion {user['api_key']}").code == 401
    assert _open(process, lines).ask(f"/connexion {old_token}").code == 401
    fresh = _open(process, lines).ask(f"/connexion {new_key}")
    assert fresh.code == 200 and fresh.body["user"]["id"] == user["id"]
    new_token = fresh.body["token"]

    assert _cli_here(process, "user", "remove", str(user["id"]))[0] == 0
    assert _open(process, lines).ask(f"/connexion {new_key}").code == 401
    assert _open(process, lines).ask(f"/connexion {new_token}").code == 401
    # Keys and tokens are never written anywhere in the server's folder (logs included).
    for secret in (user["api_key"], new_key, old_token, new_token):
        assert not _files_holding(process.folder, secret)
    # An unknown id is an error, not a silent success.
    for args in (("rename", "999999", "X"), ("rotate-key", "999999"), ("remove", "999999")):
        assert _cli_here(process, "user", *args)[0] != 0


def test_demo_and_user_add_before_the_first_serve(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "new", **SETTINGS)
    assert not (process.folder / "data").exists()
    demo = _cli_json(process, "demo")
    added = _cli_json(process, "user", "add", "--role", "client", "--name", "Première")[0]
    assert {u["role"] for u in demo} == {"pro", "client"}
    assert all(set(u) >= {"id", "role", "name", "api_key"} for u in demo)
    process.start()
    try:
        line = process.connect()
        assert line.ask(f"/connexion {added['api_key']}").body["user"]["name"] == "Première"
        pros = [u for u in demo if u["role"] == "pro"]
        clients = [u for u in demo if u["role"] == "client"]
        conversations = 0
        for pro in pros:
            reply = line.ask(f"/connexion {pro['api_key']}")
            assert reply.code == 200 and reply.body["user"]["id"] == pro["id"]
            for client in clients:
                page = line.ask(f"/conversation {client['id']}")
                assert page.code in (200, 204)
                conversations += page.code == 200
        assert conversations >= 2, "demo made no conversations"
        for client in clients:
            assert line.ask(f"/connexion {client['api_key']}").code == 200
        line.close()
    finally:
        # SIGINT (Ctrl-C) is a graceful stop too.
        assert process.process is not None
        process.process.send_signal(signal.SIGINT)
        assert process.process.wait(20) == 0
        process.process = None
    assert "Traceback" not in "\n".join(process.output)


def test_sigterm_answers_a_request_that_was_waiting(tmp_path: Path) -> None:
    """Writes in flight when SIGTERM arrives (waiting for their commit) are answered."""
    process = ServerProcess(tmp_path / "draining").start()
    pipelined = 16  # PIPELINE_DEPTH: all in flight at once
    try:
        pro, client = process.add_user("pro", "p"), process.add_user("client", "c")
        with process.connect() as line:
            line.login(client["api_key"])
            line.send("".join(f"/message {pro['id']} n{n}\n" for n in range(pipelined)))
            assert line.reply().code == 200  # the server is at work on them
            assert process.process is not None
            process.process.terminate()
            codes = [line.reply().code for _ in range(pipelined - 1)]
            assert codes == [200] * (pipelined - 1)
        assert process.process.wait(20) == 0
        assert "Traceback" not in "\n".join(process.output)
    finally:
        process.stop()  # a no-op once it has exited
