"""Pactocole sections 2 and 3: request lines, escapes, pipelining, response framing."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from .support import expect

NO_SUCH_ID = 987_654_321
MAX_TEXT = 200  # max_message_size of the shared server
MAX_LINE = 4 * MAX_TEXT + 1024


def read_raw(line: Any, replies: int, timeout: float = 5.0) -> bytes:
    """Bytes straight off the socket until ``replies`` responses have ended."""
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n\n") < replies:
        line.sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = line.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
        if time.monotonic() > deadline:
            raise TimeoutError(data)
    line.sock.settimeout(10)
    return data


@pytest.fixture
def duo(make_user, connect) -> SimpleNamespace:
    client, pro = make_user("client"), make_user("pro")
    return SimpleNamespace(
        client=client, pro=pro, cl=connect(client["api_key"]), pr=connect(pro["api_key"])
    )


def stored(duo: SimpleNamespace, escaped: str) -> str:
    """Send ``escaped`` from the client to the pro; the text the server stored."""
    message_id = expect(duo.cl.ask(f"/message {duo.pro['id']} {escaped}"), 200)["id"]
    return expect(duo.pr.ask(f"/info {message_id}"), 200)["text"]


# --------------------------------------------------------------------------- lines


def test_no_greeting(connect) -> None:
    assert connect().silent(0.5)


def test_crlf_accepted(duo) -> None:
    duo.cl.send(f"/message {duo.pro['id']} fin de ligne\r\n")
    message_id = expect(duo.cl.reply(), 200)["id"]
    duo.cl.send("/limites\r\n")
    expect(duo.cl.reply(), 200)
    assert expect(duo.pr.ask(f"/info {message_id}"), 200)["text"] == "fin de ligne"


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"\n\n\n"])
def test_empty_line_gets_no_response(connect, blank) -> None:
    line = connect()
    line.send(blank + b"/limites\n")
    expect(line.reply(), 200)
    assert line.silent(0.4)
    line.send(blank)
    assert line.silent(0.4)


def test_empty_line_raw_exchange(connect) -> None:
    line = connect()
    line.send(b"\n/ca\n\n")
    data = read_raw(line, 1)
    assert data.startswith(b"200/OK\n{")
    assert data.count(b"\n") == 3  # status, body, terminator: nothing else
    assert line.silent(0.3)


def test_repeated_spaces_between_arguments(duo) -> None:
    expect(duo.cl.ask(f"/message     {duo.pro['id']}     bonjour"), 200)
    page = expect(duo.cl.ask(f"/conversation   {duo.pro['id']}    0"), 200)
    assert [m["text"] for m in page["messages"]] == ["bonjour"]
    expect(duo.pr.ask("/liste    0"), 200)
    expect(duo.pr.ask(f"/liste    0    {NO_SUCH_ID}"), 400)


def test_rest_of_line_keeps_inner_and_trailing_spaces(duo) -> None:
    assert stored(duo, "a  b   c   ") == "a  b   c   "
    assert stored(duo, "  leading") == "leading"  # the run after the id is the separator
    message_id = expect(duo.cl.ask(f"/message {duo.pro['id']} x"), 200)["id"]
    body = expect(duo.cl.ask(f"/modifie   {message_id}   y  z  "), 200)
    assert body["text"] == "y  z  "


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("ligne 1\\nligne 2", "ligne 1\nligne 2"),
        ("C:\\\\temp", "C:\\temp"),
        ("tab\\tstays", "tab\\tstays"),
        ("\\\\n is not a newline", "\\n is not a newline"),
        ("trailing \\", "trailing \\"),
        ("a\\b\\", "a\\b\\"),
        ("\\\\\\n", "\\\n"),
        ("x\\n\\ny", "x\n\ny"),
    ],
)
def test_escapes(duo, escaped, text) -> None:
    assert stored(duo, escaped) == text


def test_help_flag_as_message_text_is_text(duo) -> None:
    # "-h" is help only as the only argument; after an id it is the text
    assert stored(duo, "-h") == "-h"
    message_id = expect(duo.cl.ask(f"/message {duo.pro['id']} x"), 200)["id"]
    assert expect(duo.cl.ask(f"/modifie {message_id} --help"), 200)["text"] == "--help"
    assert expect(duo.cl.ask(f"/modifie {message_id} -n"), 200)["text"] == "-n"


def test_escapes_in_modifie(duo) -> None:
    message_id = expect(duo.cl.ask(f"/message {duo.pro['id']} x"), 200)["id"]
    body = expect(duo.cl.ask(f"/modifie {message_id} a\\nb\\\\c\\td"), 200)
    assert body["text"] == "a\nb\\c\\td"
    fits = "a\\n" * (MAX_TEXT // 2)
    expect(duo.cl.ask(f"/modifie {message_id} {fits}"), 200)
    expect(duo.cl.ask(f"/modifie {message_id} {fits}b"), 413)


def test_escaped_newline_stays_escaped_on_the_wire(duo) -> None:
    message_id = expect(duo.cl.ask(f"/message {duo.pro['id']} un\\ndeux"), 200)["id"]
    duo.pr.send(f"/info {message_id}\n")
    data = read_raw(duo.pr, 1)
    status, body, end, rest = data.split(b"\n")
    assert status == b"200/OK" and end == b"" and rest == b""
    assert json.loads(body)["text"] == "un\ndeux"


@pytest.mark.parametrize(
    ("unit", "count"),
    [("é", 1), ("😀", 1), ("e\u0301", 2), ("a\\n", 2), ("\\\\", 1), ("日本", 2)],
)
def test_size_counts_code_points_after_decoding(duo, unit, count) -> None:
    fits = unit * (MAX_TEXT // count)
    assert MAX_TEXT - count < (MAX_TEXT // count) * count <= MAX_TEXT
    expect(duo.cl.ask(f"/message {duo.pro['id']} {fits}"), 200)
    too_long = fits + "z" * (MAX_TEXT - (MAX_TEXT // count) * count + 1)
    body = expect(duo.cl.ask(f"/message {duo.pro['id']} {too_long}"), 413)
    assert body["max"] == MAX_TEXT


def test_size_exactly_at_limit_with_emoji(duo) -> None:
    text = "😀" * MAX_TEXT
    assert len(text.encode("utf-8")) == 4 * MAX_TEXT
    assert stored(duo, text) == text


def test_invalid_utf8_400_then_usable(connect) -> None:
    line = connect()
    line.send(b"/limites \xc3\x28\n")
    expect(line.reply(), 400)
    expect(line.ask("/limites"), 200)


# --------------------------------------------------------------------------- the line limit


def test_line_too_long_413_then_usable(connect) -> None:
    line = connect()
    # the tail of the long line must be discarded, not read as a request
    line.send(b"x" * (MAX_LINE + 100) + b" /limites\n/ca\n")
    body = expect(line.reply(), 413)
    assert body["max_line"] == MAX_LINE and body["error"]
    assert "pem" in expect(line.reply(), 200)
    assert line.silent(0.4)


def test_line_too_long_sent_in_pieces(connect) -> None:
    line = connect()
    for _ in range(6):
        line.send(b"y" * 1000)
        time.sleep(0.02)
    line.send(b"\n/limites\n")
    expect(line.reply(), 413)
    expect(line.reply(), 200)
    assert line.silent(0.3)


def test_line_limit_boundary(duo) -> None:
    prefix = f"/message {duo.pro['id']} "
    exact = prefix + "a" * (MAX_LINE - len(prefix))
    assert len(exact.encode()) == MAX_LINE
    # exactly at the limit: a request (its text is too long: "max", not "max_line")
    body = expect(duo.cl.ask(exact), 413)
    assert body.get("max") == MAX_TEXT and "max_line" not in body
    duo.cl.send(exact + "\r\n")  # the CR does not count
    body = expect(duo.cl.reply(), 413)
    assert "max" in body and "max_line" not in body
    body = expect(duo.cl.ask(exact + "a"), 413)
    assert body.get("max_line") == MAX_LINE


# --------------------------------------------------------------------------- pipelining


def test_pipelining_twenty_requests_in_one_write(duo) -> None:
    requests = []
    expected = []
    for index in range(20):
        kind = index % 4
        if kind == 0:
            requests.append(f"/message {duo.pro['id']} n{index}")
            expected.append(200)
        elif kind == 1:
            requests.append("/nope")
            expected.append(404)
        elif kind == 2:
            requests.append("/liste")
            expected.append(204)
        else:
            requests.append(f"/info {NO_SUCH_ID}")
            expected.append(404)
    duo.cl.send("".join(request + "\n" for request in requests))
    replies = [duo.cl.reply() for _ in requests]
    assert [reply.code for reply in replies] == expected
    ids = [reply.body["id"] for reply in replies if reply.code == 200]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert duo.cl.silent(0.3)
    page = expect(duo.pr.ask("/liste"), 200)
    assert page["total"] == 5
    assert [m["text"] for m in page["messages"]] == ["n0", "n4", "n8"]


def test_pipelining_with_login_in_the_batch(duo, connect) -> None:
    line_requests = [
        "/liste",
        f"/connexion {duo.client['api_key']}",
        f"/message {duo.pro['id']} un",
        f"/message {duo.pro['id']} deux",
        "/deconnexion",
        "/liste",
    ]
    from_scratch = connect()
    from_scratch.send("".join(r + "\n" for r in line_requests))
    codes = [from_scratch.reply().code for _ in line_requests]
    assert codes == [401, 200, 200, 200, 200, 401]
    page = expect(duo.pr.ask("/liste"), 200)
    assert [m["text"] for m in page["messages"]] == ["un", "deux"]


# --------------------------------------------------------------------------- responses


def test_204_has_no_body_line(connect, make_user) -> None:
    line = connect(make_user("pro")["api_key"])
    line.send("/liste\n/limites\n")
    data = read_raw(line, 2)
    assert data.startswith(b"204/NO CONTENT\n\n200/OK\n{")
    assert data.endswith(b"}\n\n")
    assert data.count(b"\n") == 5


def test_every_error_body_has_error(duo, connect, admin_key) -> None:
    first = expect(duo.cl.ask(f"/message {duo.pro['id']} un"), 200)["id"]
    expect(duo.pr.ask(f"/bloque {duo.client['id']}"), 200)
    anonymous = connect()
    replies = [
        duo.cl.ask("/liste x"),  # 400
        anonymous.ask("/liste"),  # 401
        duo.cl.ask("/logs"),  # 403
        duo.cl.ask("/nope"),  # 404
        duo.pr.ask(f"/bloque {duo.client['id']}"),  # 409
        duo.pr.ask(f"/message {duo.client['id']} {'x' * (MAX_TEXT + 1)}"),  # 413
        duo.pr.ask("/liste 7"),  # 416
        anonymous.ask("/connexion nope"),  # 401
        connect(admin_key).ask(f"/info {first + 10**6}"),  # 404
    ]
    codes = [reply.code for reply in replies]
    assert codes == [400, 401, 403, 404, 409, 413, 416, 401, 404]
    for reply in replies:
        assert isinstance(reply.body, dict), reply
        assert isinstance(reply.body.get("error"), str) and reply.body["error"].strip(), reply


STANDARD = {
    200: "OK",
    204: "NO CONTENT",
    400: "BAD REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    413: "PAYLOAD TOO LARGE",
    416: "RANGE NOT SATISFIABLE",
}


def test_standard_labels(duo, connect) -> None:
    expect(duo.cl.ask(f"/message {duo.pro['id']} un"), 200)
    expect(duo.pr.ask(f"/bloque {duo.client['id']}"), 200)
    replies = [
        duo.cl.ask("/limites"),
        duo.cl.ask("/liste"),
        duo.cl.ask("/liste x"),
        connect().ask("/liste"),
        duo.cl.ask("/logs"),
        duo.cl.ask("/nope"),
        duo.pr.ask(f"/bloque {duo.client['id']}"),
        duo.pr.ask(f"/message {duo.client['id']} {'x' * (MAX_TEXT + 1)}"),
        duo.pr.ask("/liste 7"),
    ]
    assert {reply.code: reply.label for reply in replies} == STANDARD


def test_labels_come_from_codes_table(fresh_server, admin_key) -> None:
    server = fresh_server(codes={"404": "PAS TROUVE", "200": "D'ACCORD"})
    with server.connect() as line:
        reply = line.ask("/nope")
        assert (reply.code, reply.label) == (404, "PAS TROUVE")
        assert reply.body["error"]
        reply = line.ask("/limites")
        assert (reply.code, reply.label) == (200, "D'ACCORD")
        reply = line.ask("/liste")  # missing from [codes]: the standard label
        assert (reply.code, reply.label) == (401, "UNAUTHORIZED")
        line.login(admin_key)
        reply = line.ask("/logs 0")
        assert (reply.code, reply.label) == (400, "BAD REQUEST")
        line.send("/nope\n")
        assert read_raw(line, 1).startswith(b"404/PAS TROUVE\n{")
