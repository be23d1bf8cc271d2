"""Pactocole section 5, row by row, over real TLS connections to the shared server.

The shared server runs with max_messages=3, max_message_size=200,
block_duration=3600 (see conftest.py). Every test makes its own users.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from .support import expect, utc

NO_SUCH_ID = 987_654_321
MESSAGE_KEYS = {
    "id",
    "sender",
    "recipient",
    "text",
    "sent_at",
    "modified_at",
    "read_at",
    "deleted_at",
}
PAGE_KEYS = {"page", "pages", "total", "messages"}
LOG_KEYS = {"time", "peer", "user", "command", "code", "duration_ms"}
MAX_TEXT = 200  # max_message_size of the shared server

# Every command of the section 5 table, with arguments that would be valid.
TABLE_COMMANDS = [
    "/connexion",
    "/deconnexion",
    "/message",
    "/liste",
    "/conversation",
    "/info",
    "/modifie",
    "/supprime",
    "/bloque",
    "/ban",
    "/deban",
    "/sync",
    "/logs",
]
EXTENSION_COMMANDS = [
    "/annuaire",
    "/discussions",
    "/debloque",
    "/sanctions",
    "/push",
    "/limites",
    "/ca",
]
HELP_FLAGS = ["-h", "--help", "-n"]


def check_message(message: dict[str, Any]) -> None:
    assert set(message) == MESSAGE_KEYS, message
    assert isinstance(message["id"], int)
    utc(message["sent_at"])
    for key in ("modified_at", "read_at", "deleted_at"):
        if message[key] is not None:
            utc(message[key])


@pytest.fixture
def duo(make_user, connect) -> SimpleNamespace:
    """A client and a pro, both logged in; the client has written once."""
    client, pro = make_user("client"), make_user("pro")
    cl, pr = connect(client["api_key"]), connect(pro["api_key"])
    first = expect(cl.ask(f"/message {pro['id']} bonjour"), 200)["id"]
    return SimpleNamespace(client=client, pro=pro, cl=cl, pr=pr, first=first)


# --------------------------------------------------------------------------- /connexion


@pytest.mark.parametrize("role", ["client", "pro"])
def test_connexion_body_shape(make_user, connect, role) -> None:
    user = make_user(role)
    body = expect(connect().ask(f"/connexion {user['api_key']}"), 200)
    assert set(body) == {"token", "user"}
    assert body["user"] == {"id": user["id"], "role": role, "name": user["name"]}
    token = body["token"]
    assert isinstance(token, str) and " " not in token
    # 128 random bits: at least 22 base64 characters (32 in hex).
    assert len(token) >= 22
    again = expect(connect().ask(f"/connexion {user['api_key']}"), 200)
    assert again["token"] != token


def test_connexion_admin(connect, admin_key) -> None:
    body = expect(connect().ask(f"/connexion {admin_key}"), 200)
    assert body["user"]["id"] == 0
    assert body["user"]["role"] == "admin"
    assert isinstance(body["user"]["name"], str)


def test_connexion_token_resumes_on_new_connection(make_user, connect) -> None:
    client, pro = make_user("client"), make_user("pro")
    first = connect()
    token = expect(first.ask(f"/connexion {client['api_key']}"), 200)["token"]
    first.close()
    resumed = connect()
    body = expect(resumed.ask(f"/connexion {token}"), 200)
    assert body["user"] == {"id": client["id"], "role": "client", "name": client["name"]}
    # the resumed connection acts as that client
    expect(resumed.ask(f"/message {pro['id']} repris"), 200)
    page = expect(connect(pro["api_key"]).ask("/liste"), 200)
    assert [m["sender"] for m in page["messages"]] == [client["id"]]


def test_deconnexion_resets_token(make_user, connect) -> None:
    client = make_user("client")
    main = connect()
    token = expect(main.ask(f"/connexion {client['api_key']}"), 200)["token"]
    other = connect()
    expect(other.ask(f"/connexion {token}"), 200)
    assert expect(other.ask("/deconnexion"), 200) == {}
    # the connection is logged out, and the token no longer resumes anything
    expect(other.ask("/liste"), 401)
    expect(connect().ask(f"/connexion {token}"), 401)
    expect(other.ask(f"/connexion {token}"), 401)
    # the key itself still works and gives a new, working token
    fresh = expect(connect().ask(f"/connexion {client['api_key']}"), 200)["token"]
    assert fresh != token
    expect(connect().ask(f"/connexion {fresh}"), 200)


def test_deconnexion_on_key_login_resets_its_token(make_user, connect) -> None:
    client = make_user("client")
    line = connect()
    token = expect(line.ask(f"/connexion {client['api_key']}"), 200)["token"]
    assert expect(line.ask("/deconnexion"), 200) == {}
    expect(line.ask("/liste"), 401)
    expect(connect().ask(f"/connexion {token}"), 401)


def test_session_token_expires_after_session_ttl(fresh_server) -> None:
    server = fresh_server(session_ttl=1)
    client = server.add_user("client", "expire")
    with server.connect() as line:
        token = expect(line.ask(f"/connexion {client['api_key']}"), 200)["token"]
    with server.connect() as line:
        expect(line.ask(f"/connexion {token}"), 200)
    time.sleep(2.5)
    with server.connect() as line:
        expect(line.ask(f"/connexion {token}"), 401)
        expect(line.ask(f"/connexion {client['api_key']}"), 200)


def test_connexion_switches_identity(make_user, connect) -> None:
    client, pro = make_user("client"), make_user("pro")
    line = connect(client["api_key"])
    expect(line.ask(f"/message {pro['id']} bonjour"), 200)
    expect(line.ask(f"/bloque {client['id']}"), 403)  # a client may not block
    body = expect(line.ask(f"/connexion {pro['api_key']}"), 200)
    assert body["user"]["id"] == pro["id"] and body["user"]["role"] == "pro"
    expect(line.ask(f"/bloque {client['id']}"), 200)  # now acting as the pro


@pytest.mark.parametrize("kind", ["word", "random-key", "fake-token"])
def test_connexion_bad_key_401(connect, kind) -> None:
    credential = {
        "word": "not-a-key",
        "random-key": secrets.token_urlsafe(32),
        "fake-token": "s." + secrets.token_urlsafe(40),
    }[kind]
    line = connect()
    expect(line.ask(f"/connexion {credential}"), 401)
    expect(line.ask("/liste"), 401)  # still not logged in, connection still usable


def test_connexion_tampered_token_401(make_user, connect) -> None:
    client = make_user("client")
    token = expect(connect().ask(f"/connexion {client['api_key']}"), 200)["token"]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    expect(connect().ask(f"/connexion {flipped}"), 401)


def test_connexion_and_deconnexion_arguments(make_user, connect) -> None:
    client = make_user("client")
    line = connect()
    expect(line.ask("/connexion"), 400)
    expect(line.ask(f"/connexion {client['api_key']} extra"), 400)
    line.login(client["api_key"])
    expect(line.ask("/deconnexion now"), 400)
    expect(line.ask("/liste"), 204)  # the refused /deconnexion did nothing


# --------------------------------------------------------------------------- /message


def test_message_returns_id(make_user, connect) -> None:
    client, pro = make_user("client"), make_user("pro")
    line = connect(client["api_key"])
    first = expect(line.ask(f"/message {pro['id']} un"), 200)
    second = expect(line.ask(f"/message {pro['id']} deux"), 200)
    assert set(first) == {"id"} and isinstance(first["id"], int)
    assert second["id"] > first["id"]


def test_message_too_long_413(duo) -> None:
    expect(duo.cl.ask(f"/message {duo.pro['id']} {'x' * MAX_TEXT}"), 200)
    body = expect(duo.cl.ask(f"/message {duo.pro['id']} {'x' * (MAX_TEXT + 1)}"), 413)
    assert body["max"] == MAX_TEXT
    body = expect(duo.pr.ask(f"/message {duo.client['id']} {'y' * (MAX_TEXT + 1)}"), 413)
    assert body["max"] == MAX_TEXT


def test_message_no_recipient_404(duo) -> None:
    expect(duo.cl.ask(f"/message {NO_SUCH_ID} hello"), 404)
    expect(duo.pr.ask(f"/message {NO_SUCH_ID} hello"), 404)


def test_message_rules_403(make_user, connect) -> None:
    client, other, pro = make_user("client"), make_user("client"), make_user("pro")
    line = connect(client["api_key"])
    expect(line.ask(f"/message {other['id']} salut"), 403)
    expect(line.ask(f"/message {client['id']} moi"), 403)
    expect(connect(pro["api_key"]).ask(f"/message {client['id']} bonjour"), 403)


@pytest.mark.parametrize("text", ["", " ", "     "])
def test_message_empty_text_400(duo, text) -> None:
    expect(duo.cl.ask(f"/message {duo.pro['id']} {text}"), 400)
    expect(duo.pr.ask(f"/message {duo.client['id']} {text}"), 400)


def test_refused_message_is_not_stored(duo) -> None:
    expect(duo.cl.ask(f"/message {duo.pro['id']}    "), 400)
    expect(duo.cl.ask(f"/message {duo.pro['id']} {'z' * (MAX_TEXT + 1)}"), 413)
    page = expect(duo.pr.ask("/liste"), 200)
    assert [m["id"] for m in page["messages"]] == [duo.first]


@pytest.mark.parametrize("bad", ["-1", "+1", "1.5", "0x10", "abc", "1e3", "١٢"])
def test_message_malformed_id_400(duo, bad) -> None:
    expect(duo.cl.ask(f"/message {bad} hello"), 400)


def test_message_missing_arguments_400(duo) -> None:
    # a missing argument (400) wins over an unknown recipient (404)
    for line in ("/message", f"/message {duo.pro['id']}", f"/message {NO_SUCH_ID}"):
        expect(duo.cl.ask(line), 400)


# --------------------------------------------------------------------------- /liste


def test_liste_page_object_oldest_first(make_user, connect) -> None:
    client, pro = make_user("client"), make_user("pro")
    cl, pr = connect(client["api_key"]), connect(pro["api_key"])
    ids = [expect(cl.ask(f"/message {pro['id']} m{i}"), 200)["id"] for i in range(4)]
    first = expect(pr.ask("/liste"), 200)
    assert set(first) == PAGE_KEYS
    assert (first["page"], first["pages"], first["total"]) == (0, 2, 4)
    assert [m["text"] for m in first["messages"]] == ["m0", "m1", "m2"]
    assert [m["id"] for m in first["messages"]] == ids[:3]
    for message in first["messages"]:
        check_message(message)
        assert message["sender"] == client["id"] and message["recipient"] == pro["id"]
        assert message["read_at"] is None and message["deleted_at"] is None
    second = expect(pr.ask("/liste 1"), 200)
    assert (second["page"], second["pages"], second["total"]) == (1, 2, 4)
    assert [m["text"] for m in second["messages"]] == ["m3"]
    expect(pr.ask("/liste 2"), 416)
    expect(pr.ask("/liste 99"), 416)
    # the sender's own messages are not in its /liste
    expect(cl.ask("/liste"), 204)


def test_liste_does_not_set_read_at(duo) -> None:
    before = expect(duo.pr.ask("/liste"), 200)
    again = expect(duo.pr.ask("/liste"), 200)
    assert before == again
    assert again["messages"][0]["read_at"] is None
    assert expect(duo.pr.ask(f"/info {duo.first}"), 200)["read_at"] is None


def test_liste_204_whatever_the_page(make_user, connect) -> None:
    line = connect(make_user("pro")["api_key"])
    for page in ("", " 0", " 5"):
        reply = line.ask(f"/liste{page}")
        expect(reply, 204)
        assert reply.body is None


def test_liste_arguments_400(duo) -> None:
    for line in ("/liste -1", "/liste x", "/liste 0 0", "/liste 1.0"):
        expect(duo.pr.ask(line), 400)


def test_liste_forgets_messages_read_by_conversation(duo) -> None:
    expect(duo.pr.ask(f"/conversation {duo.client['id']}"), 200)
    expect(duo.pr.ask("/liste"), 204)


# --------------------------------------------------------------------------- /conversation


@pytest.fixture
def seven(make_user, connect) -> SimpleNamespace:
    """Seven messages alternating client / pro: texts c0 p1 c2 p3 c4 p5 c6."""
    client, pro = make_user("client"), make_user("pro")
    cl, pr = connect(client["api_key"]), connect(pro["api_key"])
    ids = []
    for index in range(7):
        if index % 2 == 0:
            ids.append(expect(cl.ask(f"/message {pro['id']} c{index}"), 200)["id"])
        else:
            ids.append(expect(pr.ask(f"/message {client['id']} p{index}"), 200)["id"])
    return SimpleNamespace(client=client, pro=pro, cl=cl, pr=pr, ids=ids)


def test_conversation_pages_cut_from_newest(seven) -> None:
    pages = [expect(seven.cl.ask(f"/conversation {seven.pro['id']} {p}"), 200) for p in range(3)]
    for number, page in enumerate(pages):
        assert set(page) == PAGE_KEYS
        assert (page["page"], page["pages"], page["total"]) == (number, 3, 7)
        for message in page["messages"]:
            check_message(message)
    assert [m["text"] for m in pages[0]["messages"]] == ["c4", "p5", "c6"]
    assert [m["text"] for m in pages[1]["messages"]] == ["p1", "c2", "p3"]
    assert [m["text"] for m in pages[2]["messages"]] == ["c0"]
    assert [m["id"] for m in pages[0]["messages"]] == seven.ids[4:]
    # page 0 is the default
    default = expect(seven.cl.ask(f"/conversation {seven.pro['id']}"), 200)
    assert [m["id"] for m in default["messages"]] == seven.ids[4:]
    expect(seven.cl.ask(f"/conversation {seven.pro['id']} 3"), 416)
    # same pages for the other party
    other = expect(seven.pr.ask(f"/conversation {seven.client['id']} 1"), 200)
    assert [m["id"] for m in other["messages"]] == seven.ids[1:4]


def test_conversation_sets_read_at_on_returned_messages_to_caller(seven) -> None:
    page = expect(seven.cl.ask(f"/conversation {seven.pro['id']}"), 200)
    by_text = {m["text"]: m for m in page["messages"]}
    # p5 was addressed to the caller: the returned object already shows it read
    assert by_text["p5"]["read_at"] is not None
    utc(by_text["p5"]["read_at"])
    # c4 and c6 were sent by the caller: untouched
    assert by_text["c4"]["read_at"] is None and by_text["c6"]["read_at"] is None
    # p1 and p3 are on page 1, not returned: still unread
    info = expect(seven.cl.ask(f"/info {seven.ids[1]}"), 200)
    assert info["read_at"] is None
    unread = expect(seven.cl.ask("/liste"), 200)
    assert [m["text"] for m in unread["messages"]] == ["p1", "p3"]
    # the pro sees the read mark on its message, and its own unread are still unread
    pro_view = expect(seven.pr.ask(f"/info {seven.ids[5]}"), 200)
    assert pro_view["read_at"] == by_text["p5"]["read_at"]
    assert expect(seven.pr.ask(f"/info {seven.ids[6]}"), 200)["read_at"] is None
    # a second read keeps the first read_at
    again = expect(seven.cl.ask(f"/conversation {seven.pro['id']}"), 200)
    assert again["messages"][1]["read_at"] == by_text["p5"]["read_at"]


def test_conversation_204_and_404(make_user, connect) -> None:
    client, pro = make_user("client"), make_user("pro")
    line = connect(client["api_key"])
    for suffix in ("", " 0", " 4"):
        reply = line.ask(f"/conversation {pro['id']}{suffix}")
        expect(reply, 204)
        assert reply.body is None
    expect(line.ask(f"/conversation {NO_SUCH_ID}"), 404)
    expect(line.ask(f"/conversation {NO_SUCH_ID} 3"), 404)
    # existing users with whom no message can exist: an empty list, not 404
    expect(line.ask(f"/conversation {make_user('client')['id']}"), 204)
    expect(line.ask(f"/conversation {client['id']}"), 204)


def test_conversation_arguments_400(duo) -> None:
    pro = duo.pro["id"]
    for line in (
        "/conversation",
        f"/conversation {pro} -1",
        f"/conversation {pro} 0 0",
        "/conversation 0x10",
        f"/conversation +{pro}",
    ):
        expect(duo.cl.ask(line), 400)


# --------------------------------------------------------------------------- /info


def test_info_parties_and_admin(duo, connect, admin_key) -> None:
    for line in (duo.cl, duo.pr, connect(admin_key)):
        body = expect(line.ask(f"/info {duo.first}"), 200)
        check_message(body)
        assert body["id"] == duo.first
        assert (body["sender"], body["recipient"]) == (duo.client["id"], duo.pro["id"])
        assert body["text"] == "bonjour"
        assert body["modified_at"] is None and body["read_at"] is None
        assert body["deleted_at"] is None


def test_info_non_party_403_and_404(duo, make_user, connect) -> None:
    for role in ("client", "pro"):
        stranger = connect(make_user(role)["api_key"])
        expect(stranger.ask(f"/info {duo.first}"), 403)
    expect(duo.cl.ask(f"/info {NO_SUCH_ID}"), 404)
    for line in ("/info", "/info -1", f"/info {duo.first} 1", "/info 1.0"):
        expect(duo.cl.ask(line), 400)


# --------------------------------------------------------------------------- /modifie


def test_modifie_by_sender(duo) -> None:
    before = expect(duo.cl.ask(f"/info {duo.first}"), 200)
    body = expect(duo.cl.ask(f"/modifie {duo.first} bonsoir"), 200)
    check_message(body)
    assert body["id"] == duo.first and body["text"] == "bonsoir"
    assert body["sent_at"] == before["sent_at"]
    assert utc(body["modified_at"]) >= utc(body["sent_at"])
    assert body["read_at"] is None and body["deleted_at"] is None
    assert expect(duo.pr.ask(f"/info {duo.first}"), 200) == body
    # /modifie never changes read_at: still unread
    page = expect(duo.pr.ask("/liste"), 200)
    assert [m["text"] for m in page["messages"]] == ["bonsoir"]


def test_modifie_keeps_read_at(duo) -> None:
    read = expect(duo.pr.ask(f"/conversation {duo.client['id']}"), 200)
    stamp = read["messages"][0]["read_at"]
    assert stamp is not None
    body = expect(duo.cl.ask(f"/modifie {duo.first} corrigé"), 200)
    assert body["read_at"] == stamp


def test_modifie_errors(duo, make_user, connect, admin_key) -> None:
    expect(duo.pr.ask(f"/modifie {duo.first} pas a moi"), 403)
    expect(connect(make_user("client")["api_key"]).ask(f"/modifie {duo.first} x"), 403)
    expect(connect(admin_key).ask(f"/modifie {duo.first} x"), 403)
    expect(duo.cl.ask(f"/modifie {NO_SUCH_ID} x"), 404)
    body = expect(duo.cl.ask(f"/modifie {duo.first} {'x' * (MAX_TEXT + 1)}"), 413)
    assert body["max"] == MAX_TEXT
    expect(duo.cl.ask(f"/modifie {duo.first}    "), 400)
    expect(duo.cl.ask(f"/modifie {duo.first} "), 400)
    expect(duo.cl.ask(f"/modifie {duo.first}"), 400)
    expect(duo.cl.ask("/modifie 0x1 x"), 400)
    # nothing changed
    body = expect(duo.cl.ask(f"/info {duo.first}"), 200)
    assert body["text"] == "bonjour" and body["modified_at"] is None


def test_modifie_deleted_404(duo) -> None:
    expect(duo.cl.ask(f"/supprime {duo.first}"), 200)
    expect(duo.cl.ask(f"/modifie {duo.first} revenant"), 404)


# --------------------------------------------------------------------------- /supprime


def test_supprime_by_sender_leaves_tombstone(duo, connect, admin_key) -> None:
    second = expect(duo.cl.ask(f"/message {duo.pro['id']} encore"), 200)["id"]
    assert expect(duo.cl.ask(f"/supprime {duo.first}"), 200) == {}
    for line in (duo.cl, duo.pr, connect(admin_key)):
        body = expect(line.ask(f"/info {duo.first}"), 200)
        check_message(body)
        assert body["text"] is None and body["deleted_at"] is not None
    page = expect(duo.pr.ask("/liste"), 200)
    assert [m["id"] for m in page["messages"]] == [second]
    conversation = expect(duo.cl.ask(f"/conversation {duo.pro['id']}"), 200)
    assert conversation["total"] == 2
    assert [m["id"] for m in conversation["messages"]] == [duo.first, second]
    assert conversation["messages"][0]["text"] is None
    assert conversation["messages"][1]["text"] == "encore"
    expect(duo.cl.ask(f"/supprime {duo.first}"), 404)


def test_supprime_erases_text_from_storage(server, duo) -> None:
    secret_text = "effacer-" + secrets.token_hex(12)
    message_id = expect(duo.cl.ask(f"/message {duo.pro['id']} {secret_text}"), 200)["id"]
    expect(duo.cl.ask(f"/supprime {message_id}"), 200)
    needle = secret_text.encode()
    deadline = time.monotonic() + 5
    while True:
        holding = [
            path for path in server.folder.rglob("*") if path.is_file() and needle in _bytes(path)
        ]
        if not holding or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert holding == []


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_supprime_by_admin(duo, connect, admin_key) -> None:
    admin = connect(admin_key)
    assert expect(admin.ask(f"/supprime {duo.first}"), 200) == {}
    body = expect(duo.pr.ask(f"/info {duo.first}"), 200)
    assert body["text"] is None and body["deleted_at"] is not None
    expect(duo.pr.ask("/liste"), 204)
    expect(admin.ask(f"/supprime {duo.first}"), 404)
    expect(duo.cl.ask(f"/supprime {duo.first}"), 404)


def test_supprime_errors(duo, make_user, connect) -> None:
    expect(duo.pr.ask(f"/supprime {duo.first}"), 403)  # the recipient
    expect(connect(make_user("client")["api_key"]).ask(f"/supprime {duo.first}"), 403)
    expect(duo.cl.ask(f"/supprime {NO_SUCH_ID}"), 404)
    for line in ("/supprime", "/supprime -3", f"/supprime {duo.first} 1"):
        expect(duo.cl.ask(line), 400)
    assert expect(duo.cl.ask(f"/info {duo.first}"), 200)["text"] == "bonjour"


# --------------------------------------------------------------------------- /bloque /ban /deban


def test_bloque_until_and_409(make_user, connect, admin_key) -> None:
    client, pro = make_user("client"), make_user("pro")
    expect(connect(client["api_key"]).ask(f"/message {pro['id']} bonjour"), 200)
    pr = connect(pro["api_key"])
    now = datetime.now(UTC)
    body = expect(pr.ask(f"/bloque {client['id']}"), 200)
    assert set(body) == {"until"}
    until = utc(body["until"])
    assert abs((until - now).total_seconds() - 3600) < 120
    expect(pr.ask(f"/bloque {client['id']}"), 409)
    # another issuer holds its own restriction: no conflict
    admin = connect(admin_key)
    expect(admin.ask(f"/bloque {client['id']}"), 200)
    expect(admin.ask(f"/bloque {client['id']}"), 409)


def test_bloque_not_a_client_404(make_user, connect, admin_key) -> None:
    pro, other_pro = make_user("pro"), make_user("pro")
    for line in (connect(pro["api_key"]), connect(admin_key)):
        expect(line.ask(f"/bloque {other_pro['id']}"), 404)
        expect(line.ask(f"/bloque {NO_SUCH_ID}"), 404)
        expect(line.ask("/bloque 0"), 404)
    expect(connect(pro["api_key"]).ask(f"/bloque {pro['id']}"), 404)


def test_ban_and_409(make_user, connect, admin_key) -> None:
    client, pro, other = make_user("client"), make_user("pro"), make_user("pro")
    expect(connect(client["api_key"]).ask(f"/message {pro['id']} bonjour"), 200)
    pr = connect(pro["api_key"])
    assert expect(pr.ask(f"/ban {client['id']}"), 200) == {}
    expect(pr.ask(f"/ban {client['id']}"), 409)
    expect(pr.ask(f"/ban {other['id']}"), 404)
    expect(pr.ask(f"/ban {NO_SUCH_ID}"), 404)
    admin = connect(admin_key)
    assert expect(admin.ask(f"/ban {client['id']}"), 200) == {}
    expect(admin.ask(f"/ban {client['id']}"), 409)
    expect(admin.ask(f"/ban {other['id']}"), 404)


def test_deban_by_pro(make_user, connect) -> None:
    client, pro, other = make_user("client"), make_user("pro"), make_user("pro")
    expect(connect(client["api_key"]).ask(f"/message {pro['id']} bonjour"), 200)
    pr = connect(pro["api_key"])
    expect(pr.ask(f"/deban {client['id']}"), 404)  # no ban yet
    expect(pr.ask(f"/ban {client['id']}"), 200)
    assert expect(pr.ask(f"/deban {client['id']}"), 200) == {}
    expect(pr.ask(f"/deban {client['id']}"), 404)  # already lifted
    expect(pr.ask(f"/deban {NO_SUCH_ID}"), 404)
    expect(pr.ask(f"/deban {other['id']}"), 404)
    expect(pr.ask(f"/ban {client['id']}"), 200)  # a new ban after a lifted one is fine


def test_deban_by_admin_lifts_all(make_user, connect, admin_key) -> None:
    client, one, two = make_user("client"), make_user("pro"), make_user("pro")
    cl = connect(client["api_key"])
    expect(cl.ask(f"/message {one['id']} bonjour"), 200)
    expect(cl.ask(f"/message {two['id']} bonjour"), 200)
    expect(connect(one["api_key"]).ask(f"/ban {client['id']}"), 200)
    expect(connect(two["api_key"]).ask(f"/ban {client['id']}"), 200)
    admin = connect(admin_key)
    assert expect(admin.ask(f"/deban {client['id']}"), 200) == {}
    expect(admin.ask(f"/deban {client['id']}"), 404)
    cl = connect(client["api_key"])
    expect(cl.ask(f"/message {one['id']} libre"), 200)
    expect(cl.ask(f"/message {two['id']} libre"), 200)


def test_moderation_arguments_400(make_user, connect) -> None:
    pr = connect(make_user("pro")["api_key"])
    for command in ("/bloque", "/ban", "/deban"):
        for suffix in ("", " -1", " 1 2", " 0x10"):
            expect(pr.ask(command + suffix), 400)


# --------------------------------------------------------------------------- /sync


def test_sync_unchanged_file(connect, admin_key) -> None:
    body = expect(connect(admin_key).ask("/sync"), 200)
    assert set(body) == {"reloaded", "restart_required"}
    assert body == {"reloaded": [], "restart_required": []}


def test_sync_reload_invalid_and_missing(fresh_server, admin_key) -> None:
    server = fresh_server(max_messages=3)
    with server.connect() as admin:
        admin.login(admin_key)
        server.rewrite_config(max_messages=5, backlog=64)
        body = expect(admin.ask("/sync"), 200)
        assert "max_messages" in body["reloaded"]
        assert "backlog" in body["restart_required"]
        assert "backlog" not in body["reloaded"]
        assert expect(admin.ask("/limites"), 200)["max_messages"] == 5
        # an invalid file: 400, nothing changes
        good = server.config.read_text(encoding="utf-8")
        server.config.write_text(good + "max_messages = 9\nthis is not toml\n", encoding="utf-8")
        expect(admin.ask("/sync"), 400)
        assert expect(admin.ask("/limites"), 200)["max_messages"] == 5
        # a value out of range: 400 as well
        assert "max_messages = 5" in good
        server.config.write_text(
            good.replace("max_messages = 5", "max_messages = 0"), encoding="utf-8"
        )
        expect(admin.ask("/sync"), 400)
        assert expect(admin.ask("/limites"), 200)["max_messages"] == 5
        # a missing file: 404
        server.config.unlink()
        expect(admin.ask("/sync"), 404)
        assert expect(admin.ask("/limites"), 200)["max_messages"] == 5
        server.config.write_text(good, encoding="utf-8")
        expect(admin.ask("/sync extra"), 400)
        # [codes] changes live
        server.rewrite_config(codes={"404": "INTROUVABLE"})
        assert "codes" in expect(admin.ask("/sync"), 200)["reloaded"]
        reply = admin.ask("/nope")
        assert (reply.code, reply.label) == (404, "INTROUVABLE")


# --------------------------------------------------------------------------- /logs


def test_logs_default_newest_last(connect, admin_key) -> None:
    admin = connect(admin_key)
    for _ in range(55):
        admin.ask("/limites")
    expect(admin.ask("/ca"), 200)
    expect(admin.ask("/annuaire"), 200)
    body = expect(admin.ask("/logs"), 200)
    assert set(body) == {"logs"}
    logs = body["logs"]
    assert len(logs) == 50
    for entry in logs:
        assert set(entry) == LOG_KEYS, entry
        utc(entry["time"])
        assert isinstance(entry["code"], int)
        assert isinstance(entry["duration_ms"], int | float)
    assert [e["command"] for e in logs[-3:]] == ["/limites", "/ca", "/annuaire"]
    assert logs[-1]["user"] == 0 and logs[-1]["code"] == 200
    times = [utc(e["time"]) for e in logs]
    assert times == sorted(times)
    two = expect(admin.ask("/logs 2"), 200)["logs"]
    assert [e["command"] for e in two] == ["/annuaire", "/logs"]


@pytest.mark.parametrize("line", ["/logs 0", "/logs -1", "/logs x", "/logs 1 2", "/logs 00"])
def test_logs_bad_n_400(connect, admin_key, line) -> None:
    expect(connect(admin_key).ask(line), 400)


def test_logs_never_hold_key_token_or_text(make_user, connect, admin_key) -> None:
    client, pro = make_user("client"), make_user("pro")
    line = connect()
    token = expect(line.ask(f"/connexion {client['api_key']}"), 200)["token"]
    expect(connect().ask(f"/connexion {token}"), 200)
    secret_text = "texte-tres-secret-" + secrets.token_hex(8)
    expect(line.ask(f"/message {pro['id']} {secret_text}"), 200)
    pasted = secrets.token_urlsafe(32)
    expect(line.ask(pasted), 404)  # a pasted key, sent as a command word
    expect(line.ask(client["api_key"]), 404)
    expect(connect().ask(f"/connexion {pasted}"), 401)
    logs = expect(connect(admin_key).ask("/logs 200"), 200)["logs"]
    dump = json.dumps(logs, ensure_ascii=False)
    for secret in (client["api_key"], token, secret_text, pasted, admin_key):
        assert secret not in dump
    mine = [e for e in logs if e["user"] == client["id"]]
    assert [e["code"] for e in mine if e["command"] == "?"] == [404, 404]
    assert any(e["command"] == "/message" and e["code"] == 200 for e in mine)


def test_log_files_hold_no_key_token_or_text(server, make_user, connect) -> None:
    client, pro = make_user("client"), make_user("pro")
    line = connect()
    token = expect(line.ask(f"/connexion {client['api_key']}"), 200)["token"]
    expect(connect().ask(f"/connexion {token}"), 200)
    secret_text = "journal-secret-" + secrets.token_hex(8)
    expect(line.ask(f"/message {pro['id']} {secret_text}"), 200)
    expect(line.ask(client["api_key"]), 404)
    expect(line.ask("/deconnexion"), 200)
    time.sleep(0.5)  # the log file may be written by a background thread
    logs = [p for p in server.folder.rglob("*") if p.is_file() and "log" in p.name]
    assert logs, "no log file found"
    for path in logs:
        data = _bytes(path)
        for secret in (client["api_key"], token, secret_text):
            assert secret.encode() not in data, path


def test_logs_survive_restart(fresh_server, admin_key) -> None:
    server = fresh_server()
    with server.connect() as line:
        line.login(admin_key)
        expect(line.ask("/nope"), 404)
        expect(line.ask("/limites"), 200)
        before = expect(line.ask("/logs"), 200)["logs"]
    server.stop()
    server.start()
    with server.connect() as line:
        line.login(admin_key)
        after = expect(line.ask("/logs"), 200)["logs"]
    assert after[: len(before)] == before
    assert [e["command"] for e in before[-2:]] == ["?", "/limites"]


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("flag", HELP_FLAGS)
@pytest.mark.parametrize("command", TABLE_COMMANDS + EXTENSION_COMMANDS)
def test_help_before_login(connect, command, flag) -> None:
    body = expect(connect().ask(f"{command} {flag}"), 200)
    assert set(body) == {"usage", "description"}
    assert isinstance(body["usage"], str) and body["usage"].startswith(command)
    assert isinstance(body["description"], str) and body["description"]


def test_help_after_login_every_role(make_user, connect, admin_key) -> None:
    lines = [connect(make_user("client")["api_key"]), connect(admin_key)]
    for line in lines:
        for command in TABLE_COMMANDS + EXTENSION_COMMANDS:
            for flag in HELP_FLAGS:
                body = expect(line.ask(f"{command} {flag}"), 200)
                assert body["usage"].startswith(command)
    # help is never executed: /deconnexion -h leaves the session alive
    expect(lines[0].ask("/deconnexion --help"), 200)
    expect(lines[0].ask("/liste"), 204)


# --------------------------------------------------------------------------- unknown, 401, 403


@pytest.mark.parametrize(
    "line", ["/nope", "/MESSAGE 1 x", "/Liste", "liste", "message 1 hi", "/liste_", "/"]
)
def test_unknown_command_404_before_and_after_login(make_user, connect, line) -> None:
    expect(connect().ask(line), 404)
    expect(connect(make_user("client")["api_key"]).ask(line), 404)


UNAUTHENTICATED = [
    "/deconnexion",
    "/message 1 bonjour",
    "/message",
    "/liste",
    "/liste x",
    "/conversation 1",
    "/info 1",
    "/modifie 1 texte",
    "/supprime 1",
    "/bloque 1",
    "/ban 1",
    "/deban 1",
    "/sync",
    "/logs",
    "/logs 0",
    "/annuaire",
    "/discussions",
    "/debloque 1",
    "/sanctions",
    "/push on",
]


def test_401_before_login(connect) -> None:
    line = connect()
    for request in UNAUTHENTICATED:
        expect(line.ask(request), 401)


@pytest.mark.parametrize("role", ["client", "pro"])
def test_admin_commands_403_for_others(make_user, connect, role) -> None:
    line = connect(make_user(role)["api_key"])
    for request in ("/sync", "/logs", "/logs 5", "/logs 0"):
        expect(line.ask(request), 403)


def test_moderation_403_for_client(make_user, connect) -> None:
    client, other = make_user("client"), make_user("client")
    line = connect(client["api_key"])
    for command in ("/bloque", "/ban", "/deban"):
        expect(line.ask(f"{command} {other['id']}"), 403)


def test_client_pro_commands_403_for_admin(duo, connect, admin_key) -> None:
    admin = connect(admin_key)
    for request in (
        f"/message {duo.client['id']} bonjour",
        f"/message {duo.pro['id']} bonjour",
        "/liste",
        f"/conversation {duo.client['id']}",
        f"/modifie {duo.first} texte",
    ):
        expect(admin.ask(request), 403)
    # nothing was sent on the admin's behalf
    page = expect(duo.pr.ask("/liste"), 200)
    assert [m["id"] for m in page["messages"]] == [duo.first]
