"""Pactocole section 4 (who may write to whom, blocks, bans) and the precedence
list of section 2, over real TLS connections.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .support import expect

NO_SUCH_ID = 987_654_321
MAX_TEXT = 200  # max_message_size of the shared server
MAX_LINE = 4 * MAX_TEXT + 1024


def send(line: Any, to: dict[str, Any], text: str = "bonjour") -> Any:
    return line.ask(f"/message {to['id']} {text}")


# --------------------------------------------------------------------------- who writes to whom


def test_client_writes_to_any_pro(world) -> None:
    expect(send(world.cl, world.a), 200)
    expect(send(world.cl, world.b), 200)


def test_pro_answers_only_a_client_who_wrote(world, make_user, connect) -> None:
    expect(send(world.pa, world.c), 403)
    expect(send(world.cl, world.a), 200)
    expect(send(world.pa, world.c), 200)
    # writing to pro a does not open the way for pro b
    expect(send(world.pb, world.c), 403)
    # nor for pro a to another client
    other = make_user("client")
    connect(other["api_key"])
    expect(send(world.pa, other), 403)


def test_pro_may_still_answer_after_the_client_deleted_its_message(world) -> None:
    first = expect(send(world.cl, world.a), 200)["id"]
    expect(world.cl.ask(f"/supprime {first}"), 200)
    expect(send(world.pa, world.c, "toujours là"), 200)
    page = expect(world.cl.ask("/liste"), 200)
    assert [m["text"] for m in page["messages"]] == ["toujours là"]


def test_same_role_and_self_403(world, make_user) -> None:
    other_client = make_user("client")
    expect(send(world.cl, other_client), 403)
    expect(send(world.pa, world.b), 403)
    expect(send(world.cl, world.c), 403)
    expect(send(world.pa, world.a), 403)
    # even once the conversation exists
    expect(send(world.cl, world.a), 200)
    expect(send(world.pa, world.a), 403)
    expect(send(world.cl, world.c), 403)


def test_refused_rules_leave_no_trace(world, make_user, connect) -> None:
    other_client = make_user("client")
    other = connect(other_client["api_key"])
    expect(send(world.cl, other_client), 403)
    expect(other.ask("/liste"), 204)
    expect(send(world.pa, world.c), 403)
    expect(world.cl.ask("/liste"), 204)
    expect(world.cl.ask(f"/conversation {world.a['id']}"), 204)


# --------------------------------------------------------------------------- blocks


def test_pro_block_is_per_pro(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 403)
    expect(send(known.cl, known.b), 200)


def test_pro_block_does_not_stop_the_pro(world) -> None:
    expect(send(world.cl, world.a), 200)
    expect(world.pa.ask(f"/bloque {world.c['id']}"), 200)
    expect(send(world.pa, world.c, "réponse"), 200)


def test_admin_block_is_global(world) -> None:
    expect(world.admin.ask(f"/bloque {world.c['id']}"), 200)
    expect(send(world.cl, world.a), 403)
    expect(send(world.cl, world.b), 403)


def test_block_409_only_for_same_issuer(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.pb.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.admin.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 409)
    expect(known.pb.ask(f"/bloque {known.c['id']}"), 409)
    expect(known.admin.ask(f"/bloque {known.c['id']}"), 409)


def test_blocked_message_is_not_stored(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 403)
    assert expect(known.pa.ask("/liste"), 200)["total"] == 1  # the first message only


# --------------------------------------------------------------------------- bans


def test_pro_ban_is_per_pro(known) -> None:
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 403)
    expect(send(known.cl, known.b), 200)


def test_admin_ban_is_global(world) -> None:
    expect(world.admin.ask(f"/ban {world.c['id']}"), 200)
    expect(send(world.cl, world.a), 403)
    expect(send(world.cl, world.b), 403)


def test_ban_409_only_for_same_issuer(known) -> None:
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)
    expect(known.pb.ask(f"/ban {known.c['id']}"), 200)
    expect(known.admin.ask(f"/ban {known.c['id']}"), 200)
    expect(known.pa.ask(f"/ban {known.c['id']}"), 409)
    expect(known.admin.ask(f"/ban {known.c['id']}"), 409)


def test_pro_deban_leaves_another_pros_ban(known) -> None:
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)
    expect(known.pb.ask(f"/ban {known.c['id']}"), 200)
    expect(known.pa.ask(f"/deban {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 200)
    expect(send(known.cl, known.b), 403)
    expect(known.pb.ask(f"/ban {known.c['id']}"), 409)  # b's ban is still active


def test_pro_deban_does_not_lift_admin_ban(world) -> None:
    expect(world.admin.ask(f"/ban {world.c['id']}"), 200)
    expect(world.pa.ask(f"/deban {world.c['id']}"), 404)
    expect(send(world.cl, world.a), 403)


def test_admin_deban_lifts_every_ban(known) -> None:
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)
    expect(known.admin.ask(f"/ban {known.c['id']}"), 200)
    expect(known.admin.ask(f"/deban {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 200)
    expect(send(known.cl, known.b), 200)
    expect(known.pa.ask(f"/deban {known.c['id']}"), 404)  # a's ban went too


# --------------------------------------------------------------------------- block + ban


def test_block_and_ban_coexist_deban_lifts_only_the_ban(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.pa.ask(f"/ban {known.c['id']}"), 200)  # not 409: another kind
    expect(known.pa.ask(f"/deban {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 403)  # the block is still there
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 409)


def test_admin_deban_never_lifts_blocks(known) -> None:
    expect(known.admin.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.admin.ask(f"/ban {known.c['id']}"), 200)
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.admin.ask(f"/deban {known.c['id']}"), 200)
    expect(send(known.cl, known.a), 403)
    expect(send(known.cl, known.b), 403)  # the admin's block is global
    expect(known.admin.ask(f"/deban {known.c['id']}"), 404)  # no ban left


# ------------------------------------------------ restricted clients keep their rights


@pytest.mark.parametrize("kinds", [("bloque",), ("ban",), ("bloque", "ban")])
def test_restricted_client_can_login_read_edit_delete(world, connect, kinds) -> None:
    mine = expect(send(world.cl, world.a, "avant"), 200)["id"]
    other = expect(send(world.cl, world.a, "second"), 200)["id"]
    expect(send(world.pa, world.c, "réponse"), 200)
    for kind in kinds:
        expect(world.admin.ask(f"/{kind} {world.c['id']}"), 200)
        expect(world.pa.ask(f"/{kind} {world.c['id']}"), 200)
    expect(send(world.cl, world.a), 403)
    expect(send(world.cl, world.b), 403)
    # log in again, by key and by token
    fresh = connect()
    token = expect(fresh.ask(f"/connexion {world.c['api_key']}"), 200)["token"]
    expect(connect().ask(f"/connexion {token}"), 200)
    # read
    unread = expect(fresh.ask("/liste"), 200)
    assert [m["text"] for m in unread["messages"]] == ["réponse"]
    page = expect(fresh.ask(f"/conversation {world.a['id']}"), 200)
    assert [m["text"] for m in page["messages"]] == ["avant", "second", "réponse"]
    expect(fresh.ask(f"/info {mine}"), 200)
    # edit and delete own messages
    assert expect(fresh.ask(f"/modifie {mine} après"), 200)["text"] == "après"
    expect(fresh.ask(f"/supprime {other}"), 200)
    assert expect(world.pa.ask(f"/info {mine}"), 200)["text"] == "après"
    assert expect(world.pa.ask(f"/info {other}"), 200)["text"] is None


# --------------------------------------------------------------------------- precedence (section 2)


def test_blocked_client_with_empty_or_long_text_gets_403(known) -> None:
    expect(known.pa.ask(f"/bloque {known.c['id']}"), 200)
    expect(known.cl.ask(f"/message {known.a['id']}    "), 403)
    expect(known.cl.ask(f"/message {known.a['id']} {'x' * (MAX_TEXT + 1)}"), 403)


def test_banned_client_with_empty_text_gets_403(world) -> None:
    expect(world.admin.ask(f"/ban {world.c['id']}"), 200)
    expect(world.cl.ask(f"/message {world.b['id']}   "), 403)


def test_rules_before_text(world, make_user) -> None:
    other_client = make_user("client")
    expect(world.cl.ask(f"/message {other_client['id']}   "), 403)
    expect(world.cl.ask(f"/message {world.c['id']} {'x' * (MAX_TEXT + 1)}"), 403)
    expect(world.pa.ask(f"/message {world.c['id']}   "), 403)  # client never wrote
    expect(world.pa.ask(f"/message {world.b['id']} {'x' * (MAX_TEXT + 1)}"), 403)


def test_unknown_recipient_before_rules_and_text(world) -> None:
    expect(world.cl.ask(f"/message {NO_SUCH_ID} {'x' * (MAX_TEXT + 1)}"), 404)
    expect(world.cl.ask(f"/message {NO_SUCH_ID}    "), 404)
    expect(world.pa.ask(f"/message {NO_SUCH_ID} bonjour"), 404)
    expect(world.admin.ask(f"/ban {world.c['id']}"), 200)
    expect(world.cl.ask(f"/message {NO_SUCH_ID} bonjour"), 404)


def test_empty_text_before_too_long(world) -> None:
    # both text checks come last: empty 400, too long 413, never mixed up
    expect(world.cl.ask(f"/message {world.a['id']} {' ' * (MAX_TEXT + 5)}"), 400)


def test_modifie_precedence(world) -> None:
    mine = expect(send(world.cl, world.a), 200)["id"]
    expect(world.cl.ask(f"/modifie {NO_SUCH_ID}    "), 404)
    expect(world.cl.ask(f"/modifie {NO_SUCH_ID} {'x' * (MAX_TEXT + 1)}"), 404)
    expect(world.pa.ask(f"/modifie {mine}    "), 403)
    expect(world.pa.ask(f"/modifie {mine} {'x' * (MAX_TEXT + 1)}"), 403)
    expect(world.cl.ask(f"/modifie x{mine} {'x' * (MAX_TEXT + 1)}"), 400)
    # a blocked client editing its own message still gets the text checks
    expect(world.admin.ask(f"/bloque {world.c['id']}"), 200)
    expect(world.cl.ask(f"/modifie {mine}    "), 400)
    expect(world.cl.ask(f"/modifie {mine} {'x' * (MAX_TEXT + 1)}"), 413)


def test_arguments_before_target(world) -> None:
    expect(world.cl.ask("/message 0x10 " + "x" * (MAX_TEXT + 1)), 400)
    expect(world.cl.ask(f"/conversation {NO_SUCH_ID} x"), 400)
    expect(world.cl.ask(f"/info {NO_SUCH_ID} 1"), 400)
    expect(world.pa.ask(f"/bloque {NO_SUCH_ID} 1"), 400)


def test_target_before_not_a_party(world, make_user, connect) -> None:
    stranger = connect(make_user("client")["api_key"])
    expect(stranger.ask(f"/info {NO_SUCH_ID}"), 404)
    expect(stranger.ask(f"/supprime {NO_SUCH_ID}"), 404)
    mine = expect(send(world.cl, world.a), 200)["id"]
    expect(stranger.ask(f"/info {mine}"), 403)


def test_help_before_401_and_404_before_help(connect) -> None:
    line = connect()
    body = expect(line.ask("/message -h"), 200)
    assert "usage" in body
    expect(line.ask("/logs --help"), 200)
    expect(line.ask("/nope -h"), 404)
    expect(line.ask("/nope"), 404)


def test_help_before_403_role(make_user, connect) -> None:
    line = connect(make_user("client")["api_key"])
    expect(line.ask("/sync -h"), 200)
    expect(line.ask("/logs -n"), 200)


def test_401_before_400_arguments(connect) -> None:
    line = connect()
    for request in ("/message", "/message x y", "/liste abc", "/info", "/logs 0", "/bloque -1"):
        expect(line.ask(request), 401)


def test_403_role_before_400_arguments(make_user, connect, admin_key) -> None:
    client = connect(make_user("client")["api_key"])
    expect(client.ask("/logs abc"), 403)
    expect(client.ask("/sync now"), 403)
    expect(client.ask("/bloque"), 403)
    admin = connect(admin_key)
    expect(admin.ask("/message x"), 403)
    expect(admin.ask("/liste -1"), 403)


def test_line_errors_before_everything(connect) -> None:
    line = connect()
    # 413 (line) before 400 (UTF-8), 404 (unknown) and 401
    line.send(b"/nope \xff" + b"x" * (MAX_LINE + 10) + b"\n")
    assert expect(line.reply(), 413)["max_line"] == MAX_LINE
    # 400 (UTF-8) before 404 (unknown command) and 401
    line.send(b"/nope \xff\xfe\n")
    expect(line.reply(), 400)
    line.send(b"/liste \xff\n")
    expect(line.reply(), 400)
    line.send(b"/message -h \xff\n")
    expect(line.reply(), 400)


def test_429_first(fresh_server) -> None:
    server = fresh_server(max_requests_per_minute=3, max_requests_per_hour=3)
    with server.connect() as line:
        for _ in range(3):
            expect(line.ask("/limites"), 200)
        for request in ("/nope", "/message -h", "/liste", "/ca"):
            body = expect(line.ask(request), 429)
            assert isinstance(body["retry_after"], int) and body["retry_after"] >= 1
        line.send(b"/x " + b"y" * 6000 + b"\n")
        assert line.reply().code == 429
        line.send(b"\xff\n")
        assert line.reply().code == 429


# --------------------------------------------------------------------------- durations and rates


def test_block_ends_after_block_duration_ban_does_not(fresh_server) -> None:
    server = fresh_server(block_duration=1)
    pro, other, client = (
        server.add_user("pro", "p"),
        server.add_user("pro", "q"),
        server.add_user("client", "c"),
    )
    with server.connect() as pr, server.connect() as pq, server.connect() as cl:
        pr.login(pro["api_key"])
        pq.login(other["api_key"])
        cl.login(client["api_key"])
        expect(send(cl, pro), 200)
        expect(send(cl, other), 200)
        expect(pr.ask(f"/bloque {client['id']}"), 200)
        expect(pq.ask(f"/ban {client['id']}"), 200)
        expect(send(cl, pro), 403)
        time.sleep(1.5)
    with server.connect() as pr, server.connect() as pq, server.connect() as cl:
        pr.login(pro["api_key"])
        pq.login(other["api_key"])
        cl.login(client["api_key"])
        expect(send(cl, pro), 200)
        expect(send(cl, other), 403)  # a ban has no end
        expect(pr.ask(f"/bloque {client['id']}"), 200)  # the old block is over: no 409
        expect(pq.ask(f"/ban {client['id']}"), 409)


def test_rate_limit_per_identity_admin_exempt(fresh_server, admin_key) -> None:
    server = fresh_server(max_requests_per_minute=4, max_requests_per_hour=100)
    one, two = server.add_user("client", "un"), server.add_user("client", "deux")
    with server.connect() as a, server.connect() as b, server.connect() as admin:
        a.login(one["api_key"])  # 1 request of the address (before authentication)
        b.login(two["api_key"])  # 2
        admin.login(admin_key)  # 3
        for _ in range(4):
            expect(a.ask("/liste"), 204)
        body = expect(a.ask("/liste"), 429)
        # A minute, plus at most one 1 s bucket (the bucketed window, server/limits.py).
        assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 61
        assert a.ask("/nope").code == 429
        # another user has a budget of its own
        for _ in range(4):
            expect(b.ask("/liste"), 204)
        expect(b.ask("/liste"), 429)
        # the admin is not limited
        for _ in range(12):
            expect(admin.ask("/limites"), 200)
        # the address itself: one request left (3 /connexion so far), then 429
        with server.connect() as anonymous:
            expect(anonymous.ask("/limites"), 200)
            expect(anonymous.ask("/limites"), 429)
            assert anonymous.ask(f"/connexion {one['api_key']}").code == 429
