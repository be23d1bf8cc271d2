"""Limits a client cannot push past (Pactocole section 4, issue 3 point 7).

One dedicated server for the module, with small limits. Every test speaks
from loopback addresses of its own (``fresh_address``), so the per-address
limits of one test never touch another.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import (
    ADMIN_KEY,
    ServerProcess,
    SourceLine,
    closed_by_peer,
    fresh_address,
)

PER_MINUTE = 5
PER_HOUR = 100
FAILED_LOGINS = 3
PER_ADDRESS = 3


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("limited"),
        max_requests_per_minute=PER_MINUTE,
        max_requests_per_hour=PER_HOUR,
        max_failed_logins_per_minute=FAILED_LOGINS,
        max_connections_per_address=PER_ADDRESS,
        idle_timeout=1,
        handshake_timeout=1,
    ).start()
    yield process
    process.stop()


@pytest.fixture
def lines() -> Iterator[list[SourceLine]]:
    opened: list[SourceLine] = []
    yield opened
    for line in opened:
        line.close()


@pytest.fixture
def open_from(limited: ServerProcess, lines: list[SourceLine]):
    def open_line(address: str, key: str | None = None) -> SourceLine:
        line = SourceLine(limited, address)
        lines.append(line)
        if key is not None:
            line.login(key)
        return line

    return open_line


# The in-process limiter counts in 60 buckets per window (server/limits.py) and
# its wait may be one bucket longer than an exact log's: 61 s on the minute,
# 3,660 s on the hour, never shorter than needed.
MINUTE_WAIT = 61
HOUR_WAIT = 3660


def _assert_429(reply, *, at_most: int = MINUTE_WAIT) -> int:
    assert reply.code == 429, reply
    assert isinstance(reply.body["error"], str) and reply.body["error"]
    retry = reply.body["retry_after"]
    assert isinstance(retry, int) and not isinstance(retry, bool)
    assert 1 <= retry <= at_most, retry
    return retry


# --------------------------------------------------------------------------- per minute


def test_over_the_minute_limit_is_429(limited, open_from) -> None:
    user = limited.add_user("client", "counted")
    line = open_from(fresh_address(), user["api_key"])  # /connexion counts for the address
    # Empty lines are not requests: no answer, and nothing counted.
    line.send("\n\r\n\n" * 5)
    assert line.silent(0.3)
    for _ in range(PER_MINUTE):
        assert line.ask("/liste").code == 204
    _assert_429(line.ask("/liste"))
    # 429 comes first in section 2's list: before 413 (line) and 400 (UTF-8).
    line.send(b"x" * 100_000 + b"\n")
    _assert_429(line.reply())
    line.send(b"/liste \xff\n")
    _assert_429(line.reply())
    # Unknown commands, help and bad arguments are requests too: still 429 (429 wins).
    _assert_429(line.ask("/nimportequoi"))
    _assert_429(line.ask("/liste -h"))
    _assert_429(line.ask("/info abc"))
    # The connection stays open for when the wait is over.
    _assert_429(line.ask("/liste"))


def test_a_429_does_not_count(limited, open_from) -> None:
    """Refused requests do not push the end of the wait further away."""
    user = limited.add_user("client", "patient")
    line = open_from(fresh_address(), user["api_key"])
    for _ in range(PER_MINUTE):
        assert line.ask("/liste").code == 204
    first = _assert_429(line.ask("/liste"))
    # A full minute (exact log), or one 1 s bucket more when the first counted
    # request is still in the current bucket (bucketed window, server/limits.py).
    assert first in (60, 61)
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        _assert_429(line.ask("/liste"))
        time.sleep(0.1)
    # ~2 s later the first counted request is ~2 s closer to leaving the window.
    later = _assert_429(line.ask("/liste"))
    assert later <= first - 2, f"retry_after stayed at {later}: refused requests were counted"


def test_limits_are_per_identity(limited, open_from) -> None:
    spender, other = limited.add_user("client", "spender"), limited.add_user("client", "other")
    address = fresh_address()
    first = open_from(address, spender["api_key"])
    for _ in range(PER_MINUTE):
        first.ask("/liste")
    _assert_429(first.ask("/liste"))
    # Same user on another connection: the same budget, already spent.
    second = open_from(address, spender["api_key"])
    _assert_429(second.ask("/liste"))
    # Another user, same address: untouched.
    third = open_from(address)
    assert third.login(other["api_key"]).code == 200
    for _ in range(PER_MINUTE):
        assert third.ask("/liste").code == 204


def test_before_login_the_address_is_limited_and_connexion_counts(limited, open_from) -> None:
    user = limited.add_user("client", "early")
    address = fresh_address()
    line = open_from(address)
    for _ in range(PER_MINUTE - 1):
        assert line.ask("/liste").code == 401
    # The 5th request of this address is a /connexion: counted, and allowed.
    assert line.ask(f"/connexion {user['api_key']}").code == 200
    # Logged in: the user's own budget, not the address's.
    assert line.ask("/liste").code == 204
    # A new connection from the same address has no budget left, even to log in.
    late = open_from(address)
    _assert_429(late.ask(f"/connexion {user['api_key']}"))
    _assert_429(late.ask("/liste"))
    # Another address is not affected.
    elsewhere = open_from(fresh_address())
    assert elsewhere.ask(f"/connexion {user['api_key']}").code == 200


def test_admin_is_not_limited(limited, open_from) -> None:
    line = open_from(fresh_address(), ADMIN_KEY)
    for _ in range(PER_MINUTE * 4):
        reply = line.ask("/logs 1")
        assert reply.code == 200, reply


# --------------------------------------------------------------------------- failed logins


def test_failed_logins_per_address(limited, open_from) -> None:
    """Past the limit, /connexion from that address is refused with 429, key untried."""
    user = limited.add_user("client", "forgetful")
    address = fresh_address()
    line = open_from(address)
    for _ in range(FAILED_LOGINS):
        assert line.ask("/connexion not-a-key").code == 401
    refused = line.ask("/connexion not-a-key")
    _assert_429(refused)
    assert "failed logins" in refused.body["error"]
    # Even the right key is not tried from this address until the minute frees up...
    _assert_429(open_from(address).ask(f"/connexion {user['api_key']}"))
    # Another address is not concerned.
    assert open_from(fresh_address()).ask("/connexion not-a-key").code == 401
    assert open_from(fresh_address()).ask(f"/connexion {user['api_key']}").code == 200


# --------------------------------------------------------------------------- connections


def test_connections_per_address(limited, open_from) -> None:
    user = limited.add_user("client", "many-tabs")
    address = fresh_address()
    # Logged in, so the 1 s idle timeout of unauthenticated connections does not apply.
    kept = [open_from(address, user["api_key"]) for _ in range(PER_ADDRESS)]
    extra = open_from(address)
    refused = extra.ask("/liste")
    _assert_429(refused)
    assert closed_by_peer(extra.sock, 3.0), "the refused connection was kept open"
    # The others are untouched, and another address still connects.
    assert kept[0].ask("/liste").code == 204
    assert open_from(fresh_address()).ask("/connexion -h").code == 200
    # Once one closes, the address may connect again.
    kept[-1].close()
    time.sleep(0.3)
    assert open_from(address).ask("/connexion -h").code == 200


def test_idle_unauthenticated_connection_is_closed(limited, open_from) -> None:
    user = limited.add_user("client", "idle")
    address = fresh_address()
    idle = open_from(address)
    logged_in = open_from(address, user["api_key"])
    started = time.monotonic()
    assert closed_by_peer(idle.sock, 5.0)
    assert 0.5 <= time.monotonic() - started <= 4.0
    # The authenticated connection, idle just as long, is still there.
    assert logged_in.ask("/liste").code == 204


def test_silent_tcp_connection_is_closed_after_handshake_timeout(limited) -> None:
    raw = socket.create_connection(
        ("127.0.0.1", limited.port), timeout=5, source_address=(fresh_address(), 0)
    )
    try:
        started = time.monotonic()
        assert closed_by_peer(raw, 5.0)
        assert time.monotonic() - started <= 4.0
    finally:
        raw.close()


# --------------------------------------------------------------------------- hour and /sync


@pytest.fixture
def syncable(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path / "syncable", max_requests_per_minute=1000, max_requests_per_hour=2000
    ).start()
    yield process
    process.stop()


def _sync(process: ServerProcess, admin, **changes) -> dict:
    process.rewrite_config(**changes)
    reply = admin.ask("/sync")
    assert reply.code == 200, reply
    return reply.body


def test_sync_applies_lower_limits_live(syncable) -> None:
    first, second = syncable.add_user("client", "a"), syncable.add_user("client", "b")
    admin = SourceLine(syncable, fresh_address())
    admin.login(ADMIN_KEY)
    line = SourceLine(syncable, fresh_address())
    line.login(first["api_key"])
    for _ in range(10):
        assert line.ask("/liste").code == 204
    # Lower the per-minute limit under what this user already spent: 429 at once.
    body = _sync(syncable, admin, max_requests_per_minute=4)
    assert "max_requests_per_minute" in body["reloaded"]
    _assert_429(line.ask("/liste"))
    # Raise it again: the refused request above was not counted, so exactly the
    # difference is allowed (10 counted, limit 13 -> 3 more).
    _sync(syncable, admin, max_requests_per_minute=13)
    assert [line.ask("/liste").code for _ in range(4)] == [204, 204, 204, 429]
    # The hour limit, live too: its retry_after is beyond a minute.
    body = _sync(syncable, admin, max_requests_per_minute=3, max_requests_per_hour=3)
    assert "max_requests_per_hour" in body["reloaded"]
    other = SourceLine(syncable, fresh_address())
    assert other.ask(f"/connexion {second['api_key']}").code == 200
    for _ in range(3):
        assert other.ask("/liste").code == 204
    retry = _assert_429(other.ask("/liste"), at_most=HOUR_WAIT)
    assert retry > 60, "the per-hour window was not applied"
    for line_ in (admin, line, other):
        line_.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Hour limit as low as the minute one, and room for 3 connections in all."""
    process = ServerProcess(
        tmp_path_factory.mktemp("small"),
        max_requests_per_minute=4,
        max_requests_per_hour=4,
        max_connections=3,
    ).start()
    yield process
    process.stop()


def test_hour_limit_from_the_file(small) -> None:
    user = small.add_user("client", "hourly")
    line = SourceLine(small, fresh_address())
    line.login(user["api_key"])
    for _ in range(4):
        assert line.ask("/liste").code == 204
    retry = _assert_429(line.ask("/liste"), at_most=HOUR_WAIT)
    assert retry > 3000, "the per-hour window was not applied"
    line.close()


def test_total_connections_limit(small) -> None:
    """Over max_connections a client gets a status line, then the door closes."""
    kept = [SourceLine(small, fresh_address()) for _ in range(3)]
    for line in kept:  # the handshakes are done and the server holds all three
        assert line.ask("/connexion -h").code == 200
    extra = SourceLine(small, fresh_address())
    refused = extra.ask("/connexion -h")
    assert refused.code in (429, 503), refused
    assert isinstance(refused.body["error"], str) and refused.body["error"]
    assert closed_by_peer(extra.sock, 3.0)
    extra.close()
    assert kept[0].ask("/connexion -h").code == 200
    kept[0].close()
    time.sleep(0.3)
    again = SourceLine(small, fresh_address())
    assert again.ask("/connexion -h").code == 200
    for line in [*kept, again]:
        line.close()


# --------------------------------------------------------------------------- idle after login


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("idle"), idle_timeout=1, idle_timeout_authenticated=2
    ).start()
    yield process
    process.stop()


def test_authenticated_idle_timeout_counts_from_the_last_request(idle_server) -> None:
    user = idle_server.add_user("client", "busy")
    busy = SourceLine(idle_server, fresh_address())
    listener = SourceLine(idle_server, fresh_address())
    try:
        busy.login(user["api_key"])
        listener.login(user["api_key"])
        assert listener.ask("/push on").code == 200
        # Active for 3.5 s: past the anonymous 1 s and the authenticated 2 s,
        # measured from the accept; each request restarts the 2 s.
        started = time.monotonic()
        while time.monotonic() - started < 3.5:
            assert busy.ask("/liste").code == 204
            last = time.monotonic()  # its last answer (measured after the sleep, the
            time.sleep(0.5)  # 2 s left only 1.5 s, and a slow loop made that 1.499)
        # Then idle: closed about 2 s after its last request, not before.
        assert closed_by_peer(busy.sock, 6.0)
        assert 1.5 <= time.monotonic() - last <= 4.5
        # A push listener is idle by design and stays.
        assert listener.ask("/liste").code == 204
    finally:
        busy.close()
        listener.close()
