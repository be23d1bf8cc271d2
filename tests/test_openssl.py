"""A human's session through the real ``openssl s_client`` (Pactocole section 1)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time

import pytest

from protocol.codec import NEED_DATA, Reply, ReplyReader

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def _s_client(server, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-connect",
            f"127.0.0.1:{server.port}",
            "-CAfile",
            str(server.ca_file),
            *extra,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _session(server, lines: list[str], expected: int, *extra: str) -> list[Reply]:
    """Type ``lines`` into s_client; the ``expected`` replies it prints."""
    process = _s_client(server, *extra)
    assert process.stdin is not None and process.stdout is not None
    codec = ReplyReader()
    replies: list[Reply] = []
    done = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        while len(replies) < expected:
            data = process.stdout.read1(65536)
            if not data:
                break
            codec.feed(data)
            while (event := codec.next_event()) is not NEED_DATA:
                replies.append(event)
        done.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        for line in lines:
            process.stdin.write(line.encode() + b"\n")
            process.stdin.flush()
            time.sleep(0.05)  # typed, not pasted
        done.wait(15)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(replies) == expected, (
        replies,
        process.stderr.read().decode(errors="replace") if process.stderr else "",
    )
    return replies


def test_a_session_in_s_client(server, make_user) -> None:
    pro, client = make_user("pro"), make_user("client")
    replies = _session(
        server,
        [
            f"/connexion {client['api_key']}",
            f"/message {pro['id']} Bonjour, une table pour deux ce soir ?",
            f"/conversation {pro['id']}",
            f"/connexion {pro['api_key']}",
            "/liste",
            f"/message {client['id']} Oui, à 20 h.\\nÀ ce soir !",
            "/deconnexion",
            "/liste",
        ],
        expected=8,
    )
    login, sent, conversation, switch, unread, answer, logout, after = replies
    assert login.code == 200 and login.body["user"]["id"] == client["id"]
    assert sent.code == 200 and isinstance(sent.body["id"], int)
    assert conversation.code == 200
    assert [m["id"] for m in conversation.body["messages"]] == [sent.body["id"]]
    assert switch.code == 200 and switch.body["user"]["role"] == "pro"
    assert unread.code == 200
    assert [(m["sender"], m["text"]) for m in unread.body["messages"]] == [
        (client["id"], "Bonjour, une table pour deux ce soir ?")
    ]
    assert answer.code == 200
    assert (logout.code, logout.body) == (200, {})
    assert after.code == 401


def test_s_client_with_crlf_line_ends(server, make_user) -> None:
    """``-crlf`` sends CR LF: the CR is ignored (section 2), also in message text."""
    pro, client = make_user("pro"), make_user("client")
    replies = _session(
        server,
        [f"/connexion {client['api_key']}", f"/message {pro['id']} fin de ligne", "/nope"],
        3,
        "-crlf",
    )
    assert [reply.code for reply in replies] == [200, 200, 404]
    replies = _session(server, [f"/connexion {pro['api_key']}", "/liste"], 2, "-crlf")
    assert [m["text"] for m in replies[1].body["messages"]] == ["fin de ligne"]


def test_s_client_refuses_another_ca(server, tmp_path) -> None:
    """The CA check is real: s_client with the wrong CA gets no session."""
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-subj", "/CN=Someone else", "-days", "1"),
            *("-keyout", str(tmp_path / "other-ca.key"), "-out", str(other_ca)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    process = subprocess.run(
        [
            "openssl",
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-connect",
            f"127.0.0.1:{server.port}",
            "-CAfile",
            str(other_ca),
        ],
        input=b"/limites\n",
        capture_output=True,
        timeout=15,
    )
    assert process.returncode != 0
    assert b"200/" not in process.stdout
