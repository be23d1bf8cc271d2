"""/liste pages cut from counters (docs/protocol.md, "Storage"), end to end.

The server keeps, per recipient, the number of unread messages and how many
of them fall in each run of ``BUCKET`` (256) arrival numbers; a page is found
from those, not by counting and skipping. These tests change the unread set
in every way the server can (/conversation marks read, /supprime, removing a
user) on lists longer than a bucket, with 7 messages a page so that pages
straddle bucket boundaries, and check each time that the total, the page
count and every page match the unread messages exactly, and that the stored
counters equal a recount from the messages (``support.unread_drift``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from server.storage.models import BUCKET

from .support import Line, ServerProcess, expect, unread_drift

SIZE = 7  # max_messages: 255 (bucket 0 holds arrivals 1..255) is not a multiple of it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("liste-pages"), max_messages=SIZE, max_message_size=200
    ).start()
    yield process
    process.stop()


@pytest.fixture
def lines(server: ServerProcess) -> Iterator[Any]:
    opened: list[Line] = []

    def open_line(key: str) -> Line:
        line = server.connect()
        opened.append(line)
        line.login(key)
        return line

    yield open_line
    for line in opened:
        line.close()


def _send_many(line: Line, recipient: int, count: int, tag: str) -> list[int]:
    """``count`` messages pipelined on one connection; their ids, in order."""
    line.send("".join(f"/message {recipient} {tag}{n}\n" for n in range(count)))
    ids = [expect(line.reply(), 200)["id"] for _ in range(count)]
    assert ids == sorted(ids)
    return ids


def _all_pages(line: Line, expected: list[int]) -> None:
    """Every /liste page against the expected unread ids, oldest first."""
    total = len(expected)
    if total == 0:
        for page in (0, 1, 40):
            reply = line.ask(f"/liste {page}")
            expect(reply, 204)
            assert reply.body is None
        return
    pages = math.ceil(total / SIZE)
    seen: list[int] = []
    for page in range(pages):
        body = expect(line.ask(f"/liste {page}"), 200)
        assert (body["page"], body["pages"], body["total"]) == (page, pages, total)
        ids = [message["id"] for message in body["messages"]]
        assert ids == expected[page * SIZE : (page + 1) * SIZE], page
        for message in body["messages"]:
            assert message["read_at"] is None and message["deleted_at"] is None
            assert message["text"] is not None
        seen += ids
    assert seen == expected
    expect(line.ask(f"/liste {pages}"), 416)
    expect(line.ask(f"/liste {pages + 100}"), 416)


def _conversation(line: Line, other: int, page: int) -> list[dict[str, Any]]:
    return expect(line.ask(f"/conversation {other} {page}"), 200)["messages"]


def test_pages_over_several_buckets_follow_reads_and_deletions(server, lines) -> None:
    pro = server.add_user("pro", "Trois seaux")
    client = server.add_user("client", "Bavard")
    shop, writer = lines(pro["api_key"]), lines(client["api_key"])
    _all_pages(shop, [])
    sent = _send_many(writer, pro["id"], 2 * BUCKET + 100, "m")  # arrivals 1..612: 3 buckets
    unread = list(sent)
    _all_pages(shop, unread)
    assert unread_drift(server) == {}

    # Deleted while unread: around the bucket boundaries, the first and the last.
    deleted = {sent[i] for i in (0, 253, 254, 255, 256, 300, 511, 512, len(sent) - 1)}
    for message_id in sorted(deleted):
        expect(writer.ask(f"/supprime {message_id}"), 200)
        unread.remove(message_id)
    _all_pages(shop, unread)
    assert unread_drift(server) == {}

    # Read by /conversation (page 0 = the newest 7), some pages holding
    # tombstones, which are marked read too but had left the list already.
    read: set[int] = set()
    conversation_pages = math.ceil(len(sent) / SIZE)
    for page in (0, 2, 10, 11, 12, 48, 49, 50, conversation_pages - 1):
        for message in _conversation(shop, client["id"], page):
            assert message["read_at"] is not None
            read.add(message["id"])
    unread = [i for i in unread if i not in read]
    _all_pages(shop, unread)
    assert unread_drift(server) == {}

    # Deleting a message already read changes nothing; reading again neither.
    already_read = min(read - deleted)
    expect(writer.ask(f"/supprime {already_read}"), 200)
    _conversation(shop, client["id"], 10)
    _all_pages(shop, unread)
    assert unread_drift(server) == {}

    # Bucket 1 (arrivals 256..511) read to the end: its row goes, pages still fit.
    for page in range(conversation_pages):
        messages = _conversation(shop, client["id"], page)  # marks them read
        read.update(m["id"] for m in messages)
        if any(sent.index(m["id"]) < BUCKET - 1 for m in messages):
            break
    unread = [i for i in unread if i not in read]
    assert all(sent.index(i) < BUCKET - 1 for i in unread)
    _all_pages(shop, unread)
    assert unread_drift(server) == {}

    # Everything read: 204 whatever the page, and new mail starts a new page 0.
    for page in range(conversation_pages):
        _conversation(shop, client["id"], page)
    _all_pages(shop, [])
    late = _send_many(writer, pro["id"], 3, "late")
    _all_pages(shop, late)
    assert unread_drift(server) == {}


def test_total_after_read_delete_and_user_removal(server, lines) -> None:
    pro = server.add_user("pro", "Comptoir")
    first = server.add_user("client", "Premier")
    second = server.add_user("client", "Second")
    shop = lines(pro["api_key"])
    one, two = lines(first["api_key"]), lines(second["api_key"])
    ones = _send_many(one, pro["id"], 10, "a")
    twos = _send_many(two, pro["id"], 10, "b")
    ones += _send_many(one, pro["id"], 2, "c")
    unread = ones[:10] + twos + ones[10:]
    _all_pages(shop, unread)

    # The pro answers: its own messages are not in its list, the client's are.
    answers = [expect(shop.ask(f"/message {second['id']} merci {n}"), 200)["id"] for n in range(3)]
    _all_pages(two, answers)

    # /supprime of an unread message, by its sender and by the admin.
    expect(one.ask(f"/supprime {ones[3]}"), 200)
    unread.remove(ones[3])
    admin = lines(server.settings["admin_api_key"])
    expect(admin.ask(f"/supprime {twos[0]}"), 200)
    unread.remove(twos[0])
    _all_pages(shop, unread)

    # Removing a user keeps their messages: the list of the other party is as
    # before, and reading them still counts them down.
    server.cli("user", "remove", str(first["id"]))
    _all_pages(shop, unread)
    assert unread_drift(server) == {}
    newest = _conversation(shop, first["id"], 0)
    unread = [i for i in unread if i not in {m["id"] for m in newest}]
    _all_pages(shop, unread)

    # A removed recipient's counters stay right too (nobody can list them).
    server.cli("user", "remove", str(second["id"]))
    newest = _conversation(shop, second["id"], 0)
    assert {m["id"] for m in newest if m["recipient"] == pro["id"]} == set(twos[-4:])
    unread = [i for i in unread if i not in twos[-4:]]
    _all_pages(shop, unread)
    assert unread_drift(server) == {}
