"""Our extensions (server/commands.py docstrings): /annuaire, /discussions, /debloque,
/sanctions, /push, /limites, /ca. Same grammar and framing as the Pactocole.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

NO_SUCH_ID = 987_654_321


def expect(reply: Any, code: int) -> Any:
    assert reply.code == code, reply
    if code >= 400:
        assert isinstance(reply.body.get("error"), str) and reply.body["error"], reply
    return reply.body


def utc(value: Any) -> datetime:
    assert isinstance(value, str), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), value
    return moment


@pytest.fixture
def trio(make_user, connect, admin_key) -> SimpleNamespace:
    a, b, c = make_user("pro"), make_user("pro"), make_user("client")
    return SimpleNamespace(
        a=a,
        b=b,
        c=c,
        pa=connect(a["api_key"]),
        pb=connect(b["api_key"]),
        cl=connect(c["api_key"]),
        admin=connect(admin_key),
    )


def directory(line: Any) -> list[dict[str, Any]]:
    """Every page of /annuaire, checked, joined."""
    first = expect(line.ask("/annuaire"), 200)
    assert set(first) == {"page", "pages", "total", "users"}
    users = list(first["users"])
    for page in range(1, first["pages"]):
        body = expect(line.ask(f"/annuaire {page}"), 200)
        assert body["page"] == page and body["total"] == first["total"]
        users.extend(body["users"])
    expect(line.ask(f"/annuaire {first['pages']}"), 416)
    assert len(users) == first["total"]
    return users


# --------------------------------------------------------------------------- /annuaire


def test_annuaire_lists_pros_for_clients_and_pros(trio) -> None:
    for line in (trio.cl, trio.pa):
        users = directory(line)
        assert all(set(user) == {"id", "role", "name"} for user in users)
        assert {user["role"] for user in users} == {"pro"}
        assert {"id": trio.a["id"], "role": "pro", "name": trio.a["name"]} in users
        assert trio.c["id"] not in [user["id"] for user in users]
        keys = [(user["name"], user["id"]) for user in users]
        assert keys == sorted(keys)  # by name


def test_annuaire_admin_sees_clients_and_pros(trio) -> None:
    users = directory(trio.admin)
    ids = {user["id"]: user["role"] for user in users}
    assert ids[trio.a["id"]] == "pro" and ids[trio.c["id"]] == "client"
    assert 0 not in ids


def test_annuaire_arguments(trio, connect) -> None:
    expect(trio.cl.ask("/annuaire -1"), 400)
    expect(trio.cl.ask("/annuaire 0 0"), 400)
    expect(connect().ask("/annuaire"), 401)


# --------------------------------------------------------------------------- /discussions


def test_discussions_partner_last_message_unread(trio) -> None:
    expect(trio.cl.ask("/discussions"), 204)
    expect(trio.cl.ask(f"/message {trio.a['id']} pour a"), 200)
    for index in range(4):
        last_b = expect(trio.cl.ask(f"/message {trio.b['id']} pour b {index}"), 200)["id"]
    mine = expect(trio.cl.ask("/discussions"), 200)
    assert (mine["page"], mine["pages"], mine["total"]) == (0, 1, 2)
    conversations = mine["conversations"]
    # latest first
    assert [c["partner"] for c in conversations] == [
        {"id": trio.b["id"], "role": "pro", "name": trio.b["name"]},
        {"id": trio.a["id"], "role": "pro", "name": trio.a["name"]},
    ]
    assert conversations[0]["last_message"]["id"] == last_b
    assert conversations[0]["last_message"]["text"] == "pour b 3"
    assert conversations[1]["last_message"]["text"] == "pour a"
    assert [c["unread"] for c in conversations] == [0, 0]  # the client sent them
    expect(trio.cl.ask("/discussions 1"), 416)

    def unread_of_b() -> int:
        (only,) = expect(trio.pb.ask("/discussions"), 200)["conversations"]
        assert only["partner"]["id"] == trio.c["id"]
        return only["unread"]

    assert unread_of_b() == 4
    expect(trio.pb.ask(f"/conversation {trio.c['id']}"), 200)  # 3 per page: reads 3
    assert unread_of_b() == 1
    expect(trio.pb.ask("/liste"), 200)  # /liste reads nothing
    assert unread_of_b() == 1
    expect(trio.pb.ask(f"/conversation {trio.c['id']} 1"), 200)
    assert unread_of_b() == 0


def test_discussions_reorders_on_new_message(trio) -> None:
    expect(trio.cl.ask(f"/message {trio.a['id']} un"), 200)
    expect(trio.cl.ask(f"/message {trio.b['id']} deux"), 200)
    expect(trio.pa.ask(f"/message {trio.c['id']} réponse de a"), 200)
    conversations = expect(trio.cl.ask("/discussions"), 200)["conversations"]
    assert [c["partner"]["id"] for c in conversations] == [trio.a["id"], trio.b["id"]]
    assert conversations[0]["last_message"]["text"] == "réponse de a"
    assert conversations[0]["unread"] == 1


def test_discussions_roles(trio, connect) -> None:
    expect(trio.admin.ask("/discussions"), 403)
    expect(connect().ask("/discussions"), 401)
    expect(trio.cl.ask("/discussions x"), 400)


# --------------------------------------------------------------------------- /debloque


def test_debloque_by_pro(trio, make_user) -> None:
    expect(trio.pa.ask(f"/debloque {trio.c['id']}"), 404)  # nothing to lift
    expect(trio.pa.ask(f"/bloque {trio.c['id']}"), 200)
    expect(trio.cl.ask(f"/message {trio.a['id']} x"), 403)
    assert expect(trio.pa.ask(f"/debloque {trio.c['id']}"), 200) == {}
    expect(trio.cl.ask(f"/message {trio.a['id']} x"), 200)
    expect(trio.pa.ask(f"/debloque {trio.c['id']}"), 404)
    expect(trio.pa.ask(f"/debloque {NO_SUCH_ID}"), 404)
    expect(trio.pa.ask(f"/debloque {trio.b['id']}"), 404)
    expect(trio.pa.ask(f"/bloque {trio.c['id']}"), 200)  # may block again


def test_debloque_lifts_only_own_blocks_and_never_bans(trio) -> None:
    expect(trio.pa.ask(f"/bloque {trio.c['id']}"), 200)
    expect(trio.pb.ask(f"/bloque {trio.c['id']}"), 200)
    expect(trio.pa.ask(f"/ban {trio.c['id']}"), 200)
    expect(trio.pa.ask(f"/debloque {trio.c['id']}"), 200)
    expect(trio.cl.ask(f"/message {trio.a['id']} x"), 403)  # still banned
    expect(trio.cl.ask(f"/message {trio.b['id']} x"), 403)  # b's block stays
    expect(trio.pa.ask(f"/deban {trio.c['id']}"), 200)
    expect(trio.cl.ask(f"/message {trio.a['id']} x"), 200)


def test_debloque_by_admin_lifts_every_block(trio) -> None:
    expect(trio.pa.ask(f"/bloque {trio.c['id']}"), 200)
    expect(trio.admin.ask(f"/bloque {trio.c['id']}"), 200)
    expect(trio.admin.ask(f"/debloque {trio.c['id']}"), 200)
    expect(trio.cl.ask(f"/message {trio.a['id']} x"), 200)
    expect(trio.cl.ask(f"/message {trio.b['id']} x"), 200)
    expect(trio.admin.ask(f"/debloque {trio.c['id']}"), 404)


def test_debloque_roles_and_arguments(trio, make_user, connect) -> None:
    expect(trio.cl.ask(f"/debloque {trio.c['id']}"), 403)
    expect(trio.pa.ask("/debloque"), 400)
    expect(trio.pa.ask("/debloque 0x1"), 400)
    expect(connect().ask(f"/debloque {trio.c['id']}"), 401)


# --------------------------------------------------------------------------- /sanctions


def test_sanctions(trio) -> None:
    expect(trio.pa.ask("/sanctions"), 204)
    until = utc(expect(trio.pa.ask(f"/bloque {trio.c['id']}"), 200)["until"])
    expect(trio.pa.ask(f"/ban {trio.c['id']}"), 200)
    body = expect(trio.pa.ask("/sanctions"), 200)
    assert set(body) == {"sanctions"}
    entries = body["sanctions"]
    assert sorted(entry["kind"] for entry in entries) == ["ban", "block"]
    for entry in entries:
        assert set(entry) == {"client", "kind", "issuer", "since", "until"}
        assert entry["client"] == {"id": trio.c["id"], "role": "client", "name": trio.c["name"]}
        assert entry["issuer"] == trio.a["id"]
        utc(entry["since"])
    by_kind = {entry["kind"]: entry for entry in entries}
    assert utc(by_kind["block"]["until"]) == until
    assert by_kind["ban"]["until"] is None
    # another pro sees none of a's sanctions; the admin sees them all
    expect(trio.pb.ask("/sanctions"), 204)
    everything = expect(trio.admin.ask("/sanctions"), 200)["sanctions"]
    about_c = [e for e in everything if e["client"]["id"] == trio.c["id"]]
    assert sorted(e["kind"] for e in about_c) == ["ban", "block"]
    # lifted sanctions are no longer in force
    expect(trio.pa.ask(f"/deban {trio.c['id']}"), 200)
    entries = expect(trio.pa.ask("/sanctions"), 200)["sanctions"]
    assert [entry["kind"] for entry in entries] == ["block"]
    expect(trio.pa.ask(f"/debloque {trio.c['id']}"), 200)
    expect(trio.pa.ask("/sanctions"), 204)


def test_sanctions_roles(trio, connect) -> None:
    expect(trio.cl.ask("/sanctions"), 403)
    expect(connect().ask("/sanctions"), 401)
    expect(trio.pa.ask("/sanctions now"), 400)


# --------------------------------------------------------------------------- /push


def test_push_on_delivers_unsolicited_star_line(trio) -> None:
    assert expect(trio.pa.ask("/push on"), 200)
    expect(trio.cl.ask(f"/message {trio.a['id']} en direct"), 200)
    # raw bytes: exactly one line, starting with "*"
    trio.pa.sock.settimeout(5)
    data = b""
    while not data.endswith(b"\n"):
        data += trio.pa.sock.recv(65536)
    trio.pa.sock.settimeout(10)
    assert data.count(b"\n") == 1
    assert data.startswith(b"* ")
    _, event, payload = data.decode().rstrip("\n").split(" ", 2)
    assert event
    assert "en direct" in json.dumps(json.loads(payload), ensure_ascii=False)
    # the connection still answers normally
    expect(trio.pa.ask("/limites"), 200)


def test_no_push_without_opt_in(trio) -> None:
    expect(trio.cl.ask(f"/message {trio.a['id']} silence"), 200)
    assert trio.pa.silent(0.5)


def test_push_off_stops_delivery(trio) -> None:
    expect(trio.pa.ask("/push on"), 200)
    expect(trio.pa.ask("/push off"), 200)
    expect(trio.cl.ask(f"/message {trio.a['id']} plus rien"), 200)
    assert trio.pa.silent(0.5)
    assert not trio.pa.pushes


def test_push_follows_the_identity_of_the_connection(trio, make_user) -> None:
    line = trio.pa
    expect(line.ask("/push on"), 200)
    expect(line.ask(f"/connexion {trio.b['api_key']}"), 200)  # now pro b
    expect(trio.cl.ask(f"/message {trio.a['id']} pour a"), 200)
    assert line.silent(0.4) and not line.pushes
    expect(trio.cl.ask(f"/message {trio.b['id']} pour b"), 200)
    push = line.push(5)
    assert "pour b" in json.dumps(push.data, ensure_ascii=False)
    expect(line.ask("/deconnexion"), 200)
    expect(trio.cl.ask(f"/message {trio.b['id']} encore"), 200)
    assert line.silent(0.4) and not line.pushes


def test_push_arguments_and_login(trio, connect) -> None:
    expect(trio.pa.ask("/push"), 400)
    expect(trio.pa.ask("/push maybe"), 400)
    expect(trio.pa.ask("/push on off"), 400)
    expect(connect().ask("/push on"), 401)


def test_push_never_inside_a_reply(trio) -> None:
    """Pushes arrive while the pro pipelines requests; the strict codec of
    ``Line`` raises if a "*" line lands between a status line and its end."""
    expect(trio.pa.ask("/push on"), 200)
    count = 40
    sent: list[int] = []

    def chatter() -> None:
        for index in range(count):
            sent.append(trio.cl.ask(f"/message {trio.a['id']} rafale {index}").code)

    thread = threading.Thread(target=chatter)
    thread.start()
    requests = "".join("/ca\n" if i % 2 else "/liste\n" for i in range(count))
    replies = []
    for _ in range(3):
        trio.pa.send(requests)
        replies.extend(trio.pa.reply() for _ in range(count))
    thread.join(30)
    assert sent == [200] * count
    assert all(reply.code in (200, 204) for reply in replies)
    assert all("pem" in reply.body for reply in replies[1::2])
    deadline = time.monotonic() + 5
    while len(trio.pa.pushes) < count and time.monotonic() < deadline:
        trio.pa.silent(0.1)
        while True:
            event = trio.pa.codec.next_event()
            if not hasattr(event, "event"):
                break
            trio.pa.pushes.append(event)
    assert len(trio.pa.pushes) == count
    texts = [json.dumps(push.data, ensure_ascii=False) for push in trio.pa.pushes]
    assert all(f"rafale {index}" in texts[index] for index in range(count))


# --------------------------------------------------------------------------- /limites /ca


def test_limites(trio) -> None:
    body = expect(trio.cl.ask("/limites"), 200)
    assert body["max_message_size"] == 200
    assert body["max_messages"] == 3
    assert body["max_line"] == 4 * 200 + 1024
    assert body["block_duration"] == 3600
    assert body["max_requests_per_minute"] == 100_000
    assert body["max_requests_per_hour"] == 1_000_000
    assert body["session_ttl"] == 86400
    expect(trio.cl.ask("/limites now"), 400)


def test_ca_is_the_ca_file(server, trio) -> None:
    body = expect(trio.cl.ask("/ca"), 200)
    assert body["pem"] == server.ca_file.read_text(encoding="ascii")
    der = ssl.PEM_cert_to_DER_cert(body["pem"])
    digest = hashlib.sha256(der).hexdigest()
    assert body["fingerprint"].replace(":", "").lower() == digest
    banner = "\n".join(server.output)
    assert body["fingerprint"] in banner
    expect(trio.cl.ask("/ca x"), 400)
