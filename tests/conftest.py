"""Fixtures: one shared real server for most tests, fresh users per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from .support import ADMIN_KEY, Line, ServerProcess

SHARED_SETTINGS = {"max_messages": 3, "max_message_size": 200, "block_duration": 3600}
_names = itertools.count(1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server shared by the tests that do not change its settings."""
    process = ServerProcess(tmp_path_factory.mktemp("shared-server"), **SHARED_SETTINGS).start()
    yield process
    process.stop()


@pytest.fixture
def make_user(server: ServerProcess) -> Callable[[str], dict[str, Any]]:
    """Create a fresh user on the shared server: ``make_user("pro")``."""

    def make(role: str, name: str | None = None) -> dict[str, Any]:
        return server.add_user(role, name or f"{role}-{next(_names)}")

    return make


@pytest.fixture
def connect(server: ServerProcess) -> Iterator[Callable[..., Line]]:
    """Open raw TLS connections to the shared server; all closed at the end."""
    opened: list[Line] = []

    def open_line(key: str | None = None) -> Line:
        line = server.connect()
        opened.append(line)
        if key is not None:
            line.login(key)
        return line

    yield open_line
    for line in opened:
        line.close()


@pytest.fixture
def admin_key() -> str:
    return ADMIN_KEY


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a dedicated server with given settings (stopped at the end)."""
    started: list[ServerProcess] = []

    def start(**settings: Any) -> ServerProcess:
        process = ServerProcess(tmp_path / f"server-{len(started)}", **settings).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def world(make_user, connect, admin_key) -> SimpleNamespace:
    """Two pros (a, b), a client (c) logged in; the admin too."""
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


@pytest.fixture
def known(world) -> SimpleNamespace:
    """``world`` where client c has written to pros a and b, who may then sanction c."""
    for pro in (world.a, world.b):
        reply = world.cl.ask(f"/message {pro['id']} premier")
        assert reply.code == 200, reply
    return world
