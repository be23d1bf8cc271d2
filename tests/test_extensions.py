"""Our extensions (server/commands.py docstrings): /annuaire, /discussions, /debloque,
/sanctions, /push, /limites, /ca. Same grammar and framing as the Pactocole.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from typing import Any

from .support import expect, utc

NO_SUCH_ID = 987_654_321


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


def test_annuaire_lists_pros_for_clients_and_pros(world) -> None:
    for line in (world.cl, world.pa):
        users = directory(line)
        assert all(set(user) == {"id", "role", "name"} for user in users)
        assert {user["role"] for user in users} == {"pro"}
        assert {"id": world.a["id"], "role": "pro", "name": world.a["name"]} in users
        assert world.c["id"] not in [user["id"] for user in users]
        keys = [(user["name"], user["id"]) for user in users]
        assert keys == sorted(keys)  # by name


def test_annuaire_admin_sees_clients_and_pros(world) -> None:
    users = directory(world.admin)
    ids = {user["id"]: user["role"] for user in users}
    assert ids[world.a["id"]] == "pro" and ids[world.c["id"]] == "client"
    assert 0 not in ids


def test_annuaire_arguments(world, connect) -> None:
    expect(world.cl.ask("/annuaire -1"), 400)
    expect(world.cl.ask("/annuaire 0 0"), 400)
    expect(connect().ask("/annuaire"), 401)


# --------------------------------------------------------------------------- /discussions


def test_discussions_partner_last_message_unread(world) -> None:
    expect(world.cl.ask("/discussions"), 204)
    expect(world.cl.ask(f"/message {world.a['id']} pour a"), 200)
    for index in range(4):
        last_b = expect(world.cl.ask(f"/message {world.b['id']} pour b {index}"), 200)["id"]
    mine = expect(world.cl.ask("/discussions"), 200)
    assert (mine["page"], mine["pages"], mine["total"]) == (0, 1, 2)
    conversations = mine["conversations"]
    # latest first
    assert [c["partner"] for c in conversations] == [
        {"id": world.b["id"], "role": "pro", "name": world.b["name"]},
        {"id": world.a["id"], "role": "pro", "name": world.a["name"]},
    ]
    assert conversations[0]["last_message"]["id"] == last_b
    assert conversations[0]["last_message"]["text"] == "pour b 3"
    assert conversations[1]["last_message"]["text"] == "pour a"
    assert [c["unread"] for c in conversations] == [0, 0]  # the client sent them
    expect(world.cl.ask("/discussions 1"), 416)

    def unread_of_b() -> int:
        (only,) = expect(world.pb.ask("/discussions"), 200)["conversations"]
        assert only["partner"]["id"] == world.c["id"]
        return only["unread"]

    assert unread_of_b() == 4
    expect(world.pb.ask(f"/conversation {world.c['id']}"), 200)  # 3 per page: reads 3
    assert unread_of_b() == 1
    expect(world.pb.ask("/liste"), 200)  # /liste reads nothing
    assert unread_of_b() == 1
    expect(world.pb.ask(f"/conversation {world.c['id']} 1"), 200)
    assert unread_of_b() == 0


def test_discussions_reorders_on_new_message(world) -> None:
    expect(world.cl.ask(f"/message {world.a['id']} un"), 200)
    expect(world.cl.ask(f"/message {world.b['id']} deux"), 200)
    expect(world.pa.ask(f"/message {world.c['id']} réponse de a"), 200)
    conversations = expect(world.cl.ask("/discussions"), 200)["conversations"]
    assert [c["partner"]["id"] for c in conversations] == [world.a["id"], world.b["id"]]
    assert conversations[0]["last_message"]["text"] == "réponse de a"
    assert conversations[0]["unread"] == 1


def test_discussions_roles(world, connect) -> None:
    expect(world.admin.ask("/discussions"), 403)
    expect(connect().ask("/discussions"), 401)
    expect(world.cl.ask("/discussions x"), 400)


# --------------------------------------------------------------------------- /debloque


def test_debloque_by_pro(known, make_user) -> None:
    expect(known.pa.ask(f"/debloque {known.c['id']}"), 404)  # nothing to lift
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.cl.ask(f"/message {known.a['id']} x"), 403)
    assert expect(known.pa.ask(f"/debloque {known.c['id']}"), 200) == {}
    expect(known.cl.ask(f"/message {known.a['id']} x"), 200)
    expect(known.pa.ask(f"/debloque {known.c['id']}"), 404)
    expect(known.pa.ask(f"/debloque {NO_SUCH_ID}"), 404)
    expect(known.pa.ask(f"/debloque {known.b['id']}"), 404)
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)  # may block again


def test_debloque_lifts_only_own_blocks_and_never_bans(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.pb.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)
    expect(known.pa.ask(f"/debloque {known.c['id']}"), 200)
    expect(known.cl.ask(f"/message {known.a['id']} x"), 403)  # still banned
    expect(known.cl.ask(f"/message {known.b['id']} x"), 403)  # b's block stays
    expect(known.pa.ask(f"/deban {known.c['id']}"), 200)
    expect(known.cl.ask(f"/message {known.a['id']} x"), 200)


def test_debloque_by_admin_lifts_every_block(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.admin.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.admin.ask(f"/debloque {known.c['id']}"), 200)
    expect(known.cl.ask(f"/message {known.a['id']} x"), 200)
    expect(known.cl.ask(f"/message {known.b['id']} x"), 200)
    expect(known.admin.ask(f"/debloque {known.c['id']}"), 404)


def test_debloque_roles_and_arguments(world, make_user, connect) -> None:
    expect(world.cl.ask(f"/debloque {world.c['id']}"), 403)
    expect(world.pa.ask("/debloque"), 400)
    expect(world.pa.ask("/debloque 0x1"), 400)
    expect(connect().ask(f"/debloque {world.c['id']}"), 401)


# --------------------------------------------------------------------------- /sanctions


def test_sanctions(known) -> None:
    expect(known.pa.ask("/sanctions"), 204)
    until = utc(expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)["until"])
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)
    body = expect(known.pa.ask("/sanctions"), 200)
    assert set(body) == {"sanctions"}
    entries = body["sanctions"]
    assert sorted(entry["kind"] for entry in entries) == ["ban", "block"]
    for entry in entries:
        assert set(entry) == {"client", "kind", "issuer", "since", "until"}
        assert entry["client"] == {"id": known.c["id"], "role": "client", "name": known.c["name"]}
        assert entry["issuer"] == known.a["id"]
        utc(entry["since"])
    by_kind = {entry["kind"]: entry for entry in entries}
    assert utc(by_kind["block"]["until"]) == until
    assert by_kind["ban"]["until"] is None
    # another pro sees none of a's sanctions; the admin sees them all
    expect(known.pb.ask("/sanctions"), 204)
    everything = expect(known.admin.ask("/sanctions"), 200)["sanctions"]
    about_c = [e for e in everything if e["client"]["id"] == known.c["id"]]
    assert sorted(e["kind"] for e in about_c) == ["ban", "block"]
    # lifted sanctions are no longer in force
    expect(known.pa.ask(f"/deban {known.c['id']}"), 200)
    entries = expect(known.pa.ask("/sanctions"), 200)["sanctions"]
    assert [entry["kind"] for entry in entries] == ["block"]
    expect(known.pa.ask(f"/debloque {known.c['id']}"), 200)
    expect(known.pa.ask("/sanctions"), 204)


def test_sanctions_roles(world, connect) -> None:
    expect(world.cl.ask("/sanctions"), 403)
    expect(connect().ask("/sanctions"), 401)
    expect(world.pa.ask("/sanctions now"), 400)


# --------------------------------------------------------------------------- /push


def test_push_on_delivers_unsolicited_star_line(world) -> None:
    assert expect(world.pa.ask("/push on"), 200)
    expect(world.cl.ask(f"/message {world.a['id']} en direct"), 200)
    # raw bytes: exactly one line, starting with "*"
    world.pa.sock.settimeout(5)
    data = b""
    while not data.endswith(b"\n"):
        data += world.pa.sock.recv(65536)
    world.pa.sock.settimeout(10)
    assert data.count(b"\n") == 1
    assert data.startswith(b"* ")
    _, event, payload = data.decode().rstrip("\n").split(" ", 2)
    assert event
    assert "en direct" in json.dumps(json.loads(payload), ensure_ascii=False)
    # the connection still answers normally
    expect(world.pa.ask("/limites"), 200)


def test_no_push_without_opt_in(world) -> None:
    expect(world.cl.ask(f"/message {world.a['id']} silence"), 200)
    assert world.pa.silent(0.5)


def test_push_off_stops_delivery(world) -> None:
    expect(world.pa.ask("/push on"), 200)
    expect(world.pa.ask("/push off"), 200)
    expect(world.cl.ask(f"/message {world.a['id']} plus rien"), 200)
    assert world.pa.silent(0.5)
    assert not world.pa.pushes


def test_push_follows_the_identity_of_the_connection(world, make_user) -> None:
    line = world.pa
    expect(line.ask("/push on"), 200)
    expect(line.ask(f"/connexion {world.b['api_key']}"), 200)  # now pro b
    expect(world.cl.ask(f"/message {world.a['id']} pour a"), 200)
    assert line.silent(0.4) and not line.pushes
    expect(world.cl.ask(f"/message {world.b['id']} pour b"), 200)
    push = line.push(5)
    assert "pour b" in json.dumps(push.data, ensure_ascii=False)
    expect(line.ask("/deconnexion"), 200)
    expect(world.cl.ask(f"/message {world.b['id']} encore"), 200)
    assert line.silent(0.4) and not line.pushes


def test_push_arguments_and_login(world, connect) -> None:
    expect(world.pa.ask("/push"), 400)
    expect(world.pa.ask("/push maybe"), 400)
    expect(world.pa.ask("/push on off"), 400)
    expect(connect().ask("/push on"), 401)


def test_push_never_inside_a_reply(world) -> None:
    """Pushes arrive while the pro pipelines requests; the strict codec of
    ``Line`` raises if a "*" line lands between a status line and its end."""
    expect(world.pa.ask("/push on"), 200)
    count = 40
    sent: list[int] = []

    def chatter() -> None:
        for index in range(count):
            sent.append(world.cl.ask(f"/message {world.a['id']} rafale {index}").code)

    thread = threading.Thread(target=chatter)
    thread.start()
    requests = "".join("/ca\n" if i % 2 else "/liste\n" for i in range(count))
    replies = []
    for _ in range(3):
        world.pa.send(requests)
        replies.extend(world.pa.reply() for _ in range(count))
    thread.join(30)
    assert sent == [200] * count
    assert all(reply.code in (200, 204) for reply in replies)
    assert all("pem" in reply.body for reply in replies[1::2])
    deadline = time.monotonic() + 5
    while len(world.pa.pushes) < count and time.monotonic() < deadline:
        world.pa.silent(0.1)
        while True:
            event = world.pa.codec.next_event()
            if not hasattr(event, "event"):
                break
            world.pa.pushes.append(event)
    assert len(world.pa.pushes) == count
    texts = [json.dumps(push.data, ensure_ascii=False) for push in world.pa.pushes]
    assert all(f"rafale {index}" in texts[index] for index in range(count))


# --------------------------------------------------------------------------- /limites /ca


def test_limites(world) -> None:
    body = expect(world.cl.ask("/limites"), 200)
    assert body["max_message_size"] == 200
    assert body["max_messages"] == 3
    assert body["max_line"] == 4 * 200 + 1024
    assert body["block_duration"] == 3600
    assert body["max_requests_per_minute"] == 100_000
    assert body["max_requests_per_hour"] == 1_000_000
    assert body["session_ttl"] == 86400
    expect(world.cl.ask("/limites now"), 400)


def test_ca_is_the_ca_file(server, world) -> None:
    body = expect(world.cl.ask("/ca"), 200)
    assert body["pem"] == server.ca_file.read_text(encoding="ascii")
    der = ssl.PEM_cert_to_DER_cert(body["pem"])
    digest = hashlib.sha256(der).hexdigest()
    assert body["fingerprint"].replace(":", "").lower() == digest
    banner = "\n".join(server.output)
    assert body["fingerprint"] in banner
    expect(world.cl.ask("/ca x"), 400)


# --------------------------------------------------------------------------- /apercu, /lu


def test_apercu_marks_nothing_and_finds_the_oldest_unread(world) -> None:
    ids = [expect(world.cl.ask(f"/message {world.a['id']} n{i}"), 200)["id"] for i in range(7)]
    body = expect(world.pa.ask(f"/apercu {world.c['id']}"), 200)
    assert (body["page"], body["pages"], body["total"]) == (0, 3, 7)
    assert [m["id"] for m in body["messages"]] == ids[-3:]
    assert all(m["read_at"] is None for m in body["messages"])
    # 7 messages, 3 a page from the newest: the oldest is alone on page 2.
    assert body["unread"] == 7 and body["first_unread"] == {"id": ids[0], "page": 2}
    deep = expect(world.pa.ask(f"/apercu {world.c['id']} 2"), 200)
    assert [m["id"] for m in deep["messages"]] == ids[:1]
    (only,) = expect(world.pa.ask("/discussions"), 200)["conversations"]
    assert only["unread"] == 7  # looking marked nothing
    expect(world.pa.ask(f"/apercu {world.c['id']} 3"), 416)
    expect(world.pa.ask(f"/apercu {NO_SUCH_ID}"), 404)
    expect(world.pb.ask(f"/apercu {world.c['id']}"), 204)  # never written to each other
    expect(world.admin.ask(f"/apercu {world.c['id']}"), 403)


def test_lu_marks_read_up_to_a_message(world) -> None:
    ids = [expect(world.cl.ask(f"/message {world.a['id']} n{i}"), 200)["id"] for i in range(7)]
    expect(world.pa.ask(f"/message {world.c['id']} réponse"), 200)  # mine: never "read by me"
    expect(world.cl.ask("/push on"), 200)
    body = expect(world.pa.ask(f"/lu {world.c['id']} {ids[3]}"), 200)
    assert body["ids"] == ids[:4]
    assert body["unread"] == 3 and body["total_unread"] == 3
    utc(body["read_at"])
    push = world.cl.push()
    assert push.event == "lu" and push.data["ids"] == ids[:4]
    assert push.data["reader"] == world.a["id"] and push.data["sender"] == world.c["id"]
    assert expect(world.pa.ask("/liste"), 200)["total"] == 3
    peek = expect(world.pa.ask(f"/apercu {world.c['id']}"), 200)
    assert peek["first_unread"] == {"id": ids[4], "page": 1} and peek["unread"] == 3
    # Again: nothing left to mark below that id.
    again = expect(world.pa.ask(f"/lu {world.c['id']} {ids[3]}"), 200)
    assert again == {"ids": [], "read_at": None, "unread": 3, "total_unread": 3}
    # Up to a later id (even one past the newest) marks the rest.
    rest = expect(world.pa.ask(f"/lu {world.c['id']} {ids[-1] + 1000}"), 200)
    assert rest["ids"] == ids[4:] and rest["unread"] == 0 and rest["total_unread"] == 0
    expect(world.pa.ask("/liste"), 204)
    # The client's own messages to the pro are not the client's to mark.
    assert expect(world.cl.ask(f"/lu {world.a['id']} {ids[-1]}"), 200)["ids"] == []


def test_lu_arguments(world, connect) -> None:
    expect(world.pa.ask(f"/lu {NO_SUCH_ID} 1"), 404)
    expect(world.pa.ask(f"/lu {world.c['id']}"), 400)
    expect(world.pa.ask(f"/lu {world.c['id']} x"), 400)
    assert expect(world.pb.ask(f"/lu {world.c['id']} 1"), 200)["ids"] == []
    expect(world.admin.ask(f"/lu {world.c['id']} 1"), 403)
    expect(connect().ask(f"/lu {world.c['id']} 1"), 401)
