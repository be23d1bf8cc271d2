"""Sessions end when their user, key or token does, even on open connections."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

from .support import ROOT, ServerProcess

RECHECK_WAIT = 6.0  # the server re-checks an open session every 5 s


def _wait_for_401(line, request: str) -> None:
    deadline = time.monotonic() + RECHECK_WAIT + 2
    while time.monotonic() < deadline:
        reply = line.ask(request)
        if reply.code == 401:
            return
        time.sleep(0.5)
    raise AssertionError(f"{request} still answered {reply.code} after the session ended")


def test_removed_user_is_logged_out_of_open_connections(server, make_user, connect) -> None:
    pro, client = make_user("pro"), make_user("client")
    line = connect(client["api_key"])
    assert line.ask(f"/message {pro['id']} avant").code == 200
    server.cli("user", "remove", str(client["id"]))
    _wait_for_401(line, "/liste")
    # The pro can still read (and mark read) what the removed client wrote.
    shop = connect(pro["api_key"])
    page = shop.ask(f"/conversation {client['id']}")
    assert page.code == 200 and page.body["messages"][0]["read_at"] is not None
    assert shop.ask("/liste").code == 204


def test_rotated_key_ends_open_sessions(server, make_user, connect) -> None:
    client = make_user("client")
    line = connect(client["api_key"])
    server.cli("user", "rotate-key", str(client["id"]))
    _wait_for_401(line, "/liste")


def test_deconnexion_elsewhere_ends_a_resumed_session(make_user, connect) -> None:
    client = make_user("client")
    first = connect()
    token = first.ask(f"/connexion {client['api_key']}").body["token"]
    second = connect(token)
    assert first.ask("/deconnexion").code == 200
    _wait_for_401(second, "/liste")


def test_forged_token_with_huge_user_id_is_refused(connect) -> None:
    raw = b"\xff" * 8 + b"\x00" * 8 + b"\x01" * 16 + b"\x02" * 16
    forged = "s." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    line = connect()
    assert line.ask(f"/connexion {forged}").code == 401
    assert line.ask("/liste").code == 401


def test_nul_in_text_is_refused_on_every_backend(make_user, connect) -> None:
    pro, client = make_user("pro"), make_user("client")
    line = connect(client["api_key"])
    reply = line.ask(f"/message {pro['id']} a\x00b")
    assert reply.code == 400 and "NUL" in reply.body["error"]


def test_user_add_without_any_config_file(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "server", "user", "add", "--role", "pro", "--name", "Sans fichier"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert '"role": "pro"' in completed.stdout
    assert (tmp_path / "data" / "tchatator.db").exists()


def test_a_named_config_file_must_exist(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "server", "--config", str(tmp_path / "typo"), "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "not found" in completed.stderr


def test_anonymous_connection_cannot_be_kept_open_by_trickling(tmp_path) -> None:
    process = ServerProcess(tmp_path / "trickle", idle_timeout=2).start()
    try:
        line = process.connect()
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 6:
            try:
                line.send("\n")  # an empty line: not a request, but bytes
            except OSError:
                closed = True
                break
            time.sleep(0.5)
        if not closed:
            line.sock.settimeout(1)
            try:
                closed = line.sock.recv(1) == b""
            except OSError:
                closed = True
        assert closed, "the anonymous connection outlived its login deadline"
        assert time.monotonic() - started < 5
    finally:
        process.stop()
