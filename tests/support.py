"""Test support: a real server process, real TLS connections, raw lines.

``ServerProcess`` writes a ``.tchatator`` in a temporary folder, starts
``python -m server serve`` on port 0 (real certificates, a real SQLite file or
a PostgreSQL database) and reads the port from its banner. ``Line`` is a
blocking TLS connection that sends raw request lines and parses the replies
with the project's codec, so tests see exactly what a client sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.codec import NEED_DATA, Push, Reply, ReplyReader
from server.config import toml_document

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "test-admin-key-0123456789-abcdefghij"  # at least 32 characters
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT = 30.0
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


def write_config(path: Path, settings: dict[str, Any]) -> None:
    path.write_text(toml_document(settings), encoding="utf-8")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test run dies, so no server outlives it."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class ServerProcess:
    """A real ``tchatator-server`` in a folder of its own."""

    def __init__(self, folder: Path, *, command: list[str] | None = None, **settings: Any) -> None:
        self.folder = folder
        # How to run the server: this checkout by default, or an installed
        # ``tchatator-server`` (wheel, bundle, image) for the packaging tests.
        self.command = command or [sys.executable, "-m", "server"]
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / ".tchatator"
        self.settings: dict[str, Any] = {
            "port": 0,
            "admin_api_key": ADMIN_KEY,
            "max_requests_per_minute": 100_000,
            "max_requests_per_hour": 1_000_000,
            "max_failed_logins_per_minute": 100_000,
            **settings,
        }
        write_config(self.config, self.settings)
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def ca_file(self) -> Path:
        return self.folder / "certs" / "ca.pem"

    def rewrite_config(self, **changes: Any) -> None:
        self.settings.update(changes)
        write_config(self.config, self.settings)

    def start(self, extra_args: tuple[str, ...] = ()) -> ServerProcess:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        environment.pop("TCHATATOR_CONFIG", None)
        self.process = subprocess.Popen(
            [*self.command, "--config", str(self.config), "serve", *extra_args],
            preexec_fn=_die_with_parent,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        self.output = []
        self.port = 0  # a restart that fails must not look up with the old port
        found = threading.Event()

        def pump() -> None:
            # Chunks, not lines: the banner is one write, so all of it is in
            # ``output`` before ``start`` returns (a test may read its last lines).
            assert self.process is not None and self.process.stdout is not None
            stream = self.process.stdout.buffer
            pending = b""
            while chunk := stream.read1(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    self.output.append(line)
                    match = _LISTENING.search(line)
                    if match:
                        self.port = int(match.group(2))
                if self.port and not pending:  # a line cut in two: wait for its end
                    found.set()
            if pending:
                self.output.append(pending.decode("utf-8", "replace"))
            found.set()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        if not found.wait(START_TIMEOUT) or not self.port:
            self.kill()
            raise RuntimeError("server did not start:\n" + "\n".join(self.output))
        return self

    def stop(self, timeout: float = 20.0) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(2)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def cli(self, *args: str) -> str:
        """Run ``tchatator-server --config ... <args>`` in a real process."""
        completed = subprocess.run(
            [sys.executable, "-m", "server", "--config", str(self.config), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"cli {args} failed: {completed.stderr}")
        return completed.stdout

    def add_user(self, role: str, name: str) -> dict[str, Any]:
        """``user add`` through the CLI code, in this process (fast, same files)."""
        from server.cli import main

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            status = main(
                ["--config", str(self.config), "user", "add", "--role", role, "--name", name]
            )
        assert status == 0, buffer.getvalue()
        return json.loads(buffer.getvalue().strip().splitlines()[-1])

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context

    def connect(self, timeout: float = 10.0) -> Line:
        return Line(self, timeout=timeout)


class Line:
    """A blocking TLS connection speaking raw Pactocole lines."""

    def __init__(self, server: ServerProcess, timeout: float = 10.0) -> None:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.sock = server.client_context().wrap_socket(raw, server_hostname="localhost")
        self.codec = ReplyReader()
        self.pushes: list[Push] = []

    def __enter__(self) -> Line:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def reply(self) -> Reply:
        """The next reply; push lines met on the way are kept in ``pushes``."""
        while True:
            event = self.codec.next_event()
            if isinstance(event, Push):
                self.pushes.append(event)
                continue
            if event is not NEED_DATA:
                return event  # type: ignore[return-value]
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.codec.feed(data)

    def push(self, timeout: float = 5.0) -> Push:
        if self.pushes:
            return self.pushes.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            event = self.codec.next_event()
            if isinstance(event, Push):
                return event
            if event is not NEED_DATA:
                raise AssertionError(f"expected a push, got a reply {event}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.codec.feed(data)

    def ask(self, line: str) -> Reply:
        self.send(line + "\n")
        return self.reply()

    def exchange(self, data: bytes, count: int, timeout: float = 60.0) -> list[Reply]:
        """Send ``data`` and read ``count`` replies at once, as a client's event
        loop does: from this one thread, sending while the socket takes bytes,
        reading whatever has come.

        Never ``sendall`` in one thread and ``recv`` in another on one TLS
        socket: OpenSSL's connection object is not for two threads at once
        (CPython's ``ssl`` lets them in, the GIL released in both), and now
        and then ``recv`` returns ``b""``, an end of stream the server never
        sent: the same socket then goes on to deliver every reply
        (python/cpython#77271; about one run in 70 of the flood test here).
        """
        sock, pending, replies = self.sock, memoryview(data), []
        deadline = time.monotonic() + timeout
        sock.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ)
                while len(replies) < count:
                    moved = False
                    if pending:
                        try:  # a retry after "want" sends the same bytes again, as TLS asks
                            pending = pending[sock.send(pending[:65536]) :]
                            moved = True
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                            pass
                    try:
                        received = sock.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        received = None
                    if received == b"":
                        raise ConnectionError("server closed the connection")
                    if received:
                        moved = True
                        self.codec.feed(received)
                        while len(replies) < count:
                            event = self.codec.next_event()
                            if event is NEED_DATA:
                                break
                            if isinstance(event, Push):
                                self.pushes.append(event)
                            else:
                                replies.append(event)  # type: ignore[arg-type]
                    if moved:
                        continue  # the TLS layer may hold more than the socket shows
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"{len(replies)} replies of {count}")
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
                    selector.modify(sock, events)
                    selector.select(remaining)
        finally:
            sock.settimeout(10)
        return replies

    def login(self, key: str) -> Reply:
        reply = self.ask(f"/connexion {key}")
        assert reply.code == 200, reply
        return reply

    def silent(self, wait: float = 0.3) -> bool:
        """True when nothing arrives within ``wait`` seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10)
        self.codec.feed(data)
        return False


@contextlib.contextmanager
def running(folder: Path, **settings: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(folder, **settings).start()
    try:
        yield server
    finally:
        server.stop()


# --- the /liste counters -------------------------------------------------------------------------


def unread_drift(server: ServerProcess) -> dict[str, list[tuple[Any, ...]]]:
    """Where the server's stored /liste counters disagree with a recount from its
    messages (``server.storage.counters.drift``): empty when they are right."""
    from server.config import load_settings
    from server.storage import counters
    from server.storage.commit import make_engine

    settings, _ = load_settings(server.config)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return counters.drift(connection)
    finally:
        engine.dispose()


# --- helpers for the robustness and limits tests ---------------------------------------------


class SourceLine(Line):
    """A ``Line`` from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo).

    Per-address limits (requests before login, failed logins, connections)
    then see each test as a peer of its own.
    """

    def __init__(self, server: ServerProcess, source: str, timeout: float = 10.0) -> None:
        raw = socket.create_connection(
            ("127.0.0.1", server.port), timeout=timeout, source_address=(source, 0)
        )
        self.sock = server.client_context().wrap_socket(raw, server_hostname="localhost")
        self.codec = ReplyReader()
        self.pushes = []


_loopback_hosts = iter(range(2, 1 << 16))


def fresh_address() -> str:
    """A loopback address no other test of this process has used."""
    number = next(_loopback_hosts)
    return f"127.0.{number // 250}.{number % 250 + 2}"


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes (EOF or reset) within ``timeout``; data is skipped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True


def expect(reply: Any, code: int) -> Any:
    """Assert the status; error replies must carry a non-empty "error" (section 3)."""
    assert reply.code == code, reply
    if code >= 400:
        assert isinstance(reply.body, dict), reply
        assert isinstance(reply.body.get("error"), str) and reply.body["error"], reply
    return reply.body


def utc(value: Any) -> datetime:
    """An ISO 8601 UTC string, as section 5 requires."""
    assert isinstance(value, str), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), value
    return moment


@contextlib.contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database on the local PostgreSQL (skips the test without one), dropped after."""
    import uuid

    import pytest

    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {error}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@contextlib.contextmanager
def scratch_redis_database(number: int) -> Iterator[str]:
    """Redis logical database ``number`` on the local Redis (skips the test
    without one). Not emptied: test runs of several worktrees share it at
    once, each cluster under its own prefix (``server.cluster.redis_namespace``);
    each run deletes its own keys (``delete_redis_keys``)."""
    import pytest

    redis = pytest.importorskip("redis")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {error}")
    finally:
        client.close()
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"


def cluster_namespace(database_url: str, redis_url: str) -> str:
    """The Redis prefix of the instances on ``database_url``."""
    import psycopg

    from server.cluster import CLUSTER_ID_NAME, redis_namespace

    with psycopg.connect(database_url, connect_timeout=3) as direct:
        row = direct.execute(
            "SELECT value FROM shared_secrets WHERE name = %s", (CLUSTER_ID_NAME,)
        ).fetchone()
    assert row is not None, "no instance started on this database"
    return redis_namespace(redis_url, row[0])


def delete_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=3)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
