"""Pipelined writes share group commits but keep request order (server/app.py run())."""

from __future__ import annotations

from .support import expect


def test_pipelined_messages_are_stored_and_answered_in_request_order(make_user, connect) -> None:
    pro, client = make_user("pro"), make_user("client")
    line = connect(client["api_key"])
    texts = [f"message {index:02d}" for index in range(40)]
    batch = "".join(f"/message {pro['id']} {text}\n" for text in texts)
    line.send(batch + f"/discussions\n/conversation {pro['id']} 0\n")
    ids = [expect(line.reply(), 200)["id"] for _ in texts]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # A read after the writes sees all of them, as if each had been sent alone.
    summary = expect(line.reply(), 200)["conversations"][0]
    assert summary["last_message"]["text"] == texts[-1]
    page = expect(line.reply(), 200)
    assert page["total"] == len(texts)
    assert [m["text"] for m in page["messages"]] == texts[-len(page["messages"]) :]
    assert [m["id"] for m in page["messages"]] == ids[-len(page["messages"]) :]


def test_pipelined_edit_follows_its_message(make_user, connect) -> None:
    pro, client = make_user("pro"), make_user("client")
    line = connect(client["api_key"])
    first = expect(line.ask(f"/message {pro['id']} avant"), 200)["id"]
    # The edit and the delete of the same message, pipelined behind new messages.
    line.send(
        f"/message {pro['id']} un\n/modifie {first} après\n/message {pro['id']} deux\n"
        f"/supprime {first}\n/modifie {first} trop tard\n/info {first}\n"
    )
    assert expect(line.reply(), 200)["id"] > first
    assert expect(line.reply(), 200)["text"] == "après"
    expect(line.reply(), 200)
    expect(line.reply(), 200)
    expect(line.reply(), 404)  # deleted by the request just before it
    info = expect(line.reply(), 200)
    assert info["text"] is None and info["deleted_at"] is not None


def test_pipelined_errors_keep_their_place(make_user, connect) -> None:
    pro, client = make_user("pro"), make_user("client")
    line = connect(client["api_key"])
    line.send(
        f"/message {pro['id']} ok\n/message 987654321 nobody\n/message {pro['id']}    \n"
        f"/message {pro['id']} {'x' * 201}\n/message {pro['id']} encore\n"
    )
    codes = [line.reply().code for _ in range(5)]
    assert codes == [200, 404, 400, 413, 200]
