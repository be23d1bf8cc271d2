"""The ``.tchatator`` file, ``/sync``, and what the server does at start-up.

Pactocole section 6 and issue 3 points 3 and 4: ``/sync`` applies live keys
at once and lists them under ``reloaded``; keys needing a restart are listed
under ``restart_required`` and keep their running value; a missing file is
404, an invalid one 400, and either way the running settings stay. At start
the server makes its certificates (keys 0600), refuses a key others can read,
prints the CA fingerprint, and generates an admin key when none is set.
"""

from __future__ import annotations

import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.config import (
    LIVE_KEYS,
    ConfigError,
    declarations,
    load_settings,
    template,
    toml_document,
)

from .support import ADMIN_KEY, ROOT, Line, ServerProcess, write_config

BASE = {
    "port": 0,
    "admin_api_key": ADMIN_KEY,
    "max_requests_per_minute": 100_000,
    "max_requests_per_hour": 1_000_000,
    "max_failed_logins_per_minute": 100_000,
    "max_messages": 3,
    "max_message_size": 50,
    "block_duration": 3600,
}
SIZE = BASE["max_message_size"]


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("configured"), **BASE).start()
    yield process
    process.stop()


@pytest.fixture
def admin(configured: ServerProcess) -> Iterator[Line]:
    """An admin connection; the base file is back in force before and after each test."""
    line = configured.connect()
    line.login(ADMIN_KEY)
    _restore(configured, line)
    yield line
    _restore(configured, line)
    line.close()


def _restore(process: ServerProcess, admin: Line) -> None:
    process.settings = dict(BASE)
    write_config(process.config, BASE)
    reply = admin.ask("/sync")
    assert reply.code == 200, reply


@pytest.fixture
def pair(configured: ServerProcess) -> Iterator[tuple[Line, Line, dict, dict]]:
    """A logged-in client and pro: (client line, pro line, client, pro)."""
    client = configured.add_user("client", "Camille")
    pro = configured.add_user("pro", "Pâtisserie")
    client_line, pro_line = configured.connect(), configured.connect()
    client_line.login(client["api_key"])
    pro_line.login(pro["api_key"])
    yield client_line, pro_line, client, pro
    client_line.close()
    pro_line.close()


def _assert_size_limit(client_line: Line, pro_id: int, size: int) -> None:
    """Exactly ``size`` characters pass, one more is 413 with ``max == size``."""
    assert client_line.ask(f"/message {pro_id} {'a' * size}").code == 200
    reply = client_line.ask(f"/message {pro_id} {'b' * (size + 1)}")
    assert reply.code == 413, reply
    assert reply.body["max"] == size


# --------------------------------------------------------------------------- declarations


def test_committed_tchatator_is_the_generated_one() -> None:
    """One setting = one declaration: the commented file is derived from them."""
    committed = (ROOT / ".tchatator").read_text(encoding="utf-8")
    assert committed == template(), (
        "the committed .tchatator is not the one server/config.py declares; "
        "regenerate it: python -m server.config > .tchatator"
    )


def test_the_generated_file_reads_back_as_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / ".tchatator"
    file.write_text(template(), encoding="utf-8")
    read, warnings = load_settings(file)
    defaults, _ = load_settings(tmp_path / "missing", missing_ok=True)
    assert warnings == []
    for name in declarations():
        if name != "codes":
            assert getattr(read, name) == getattr(defaults, name), name
    assert all(read.label(code) == defaults.label(code) for code in range(100, 600))


@pytest.mark.parametrize("name", sorted(declarations()))
def test_each_setting_round_trips_and_refuses_a_wrong_type(tmp_path: Path, name: str) -> None:
    declared = declarations()[name]
    file = tmp_path / ".tchatator"
    file.write_text(toml_document({name: declared.default}), encoding="utf-8")
    read, _ = load_settings(file)
    defaults, _ = load_settings(tmp_path / "missing", missing_ok=True)  # paths resolved alike
    assert getattr(read, name) == getattr(defaults, name)
    assert (name in LIVE_KEYS) is declared.live
    # A value of the wrong kind is refused with the key's name.
    wrong: object = 1.5 if isinstance(declared.default, str | Path | tuple) else "text"
    if isinstance(declared.default, Mapping):
        wrong = 1.5
    file.write_text(f"{name} = {wrong!r}\n".replace("'", '"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=name):
        load_settings(file)


# --------------------------------------------------------------------------- broken files

BROKEN = {
    "invalid-toml": "max_message_size = 10\nmax_messages = [[[\n",
    "wrong-type": 'max_messages = 1\nmax_message_size = "ten"\n',
    "float": "max_messages = 1\nmax_message_size = 10.5\n",
    "out-of-range": "max_message_size = 10\nmax_messages = 0\n",
    "negative": "max_messages = 1\nmax_message_size = -10\n",
    "bool": "max_messages = 1\nmax_message_size = true\n",
    "not-utf8": None,
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_sync_refuses_a_broken_file_and_keeps_the_settings(configured, admin, pair, name) -> None:
    client_line, pro_line, _, pro = pair
    for n in range(3):
        assert client_line.ask(f"/message {pro['id']} avant {n}").code == 200
    text = BROKEN[name]
    if text is None:
        configured.config.write_bytes(b'max_message_size = 10\nname = "\xff\xfe"\n')
    else:
        configured.config.write_text(text, encoding="utf-8")
    reply = admin.ask("/sync")
    assert reply.code == 400, reply
    assert isinstance(reply.body["error"], str) and reply.body["error"]
    # Nothing changed: not the size limit (the file said 10) ...
    _assert_size_limit(client_line, pro["id"], SIZE)
    # ... nor the page size (some files said 1): 4 unread, 3 a page -> 2 pages.
    unread = pro_line.ask("/liste")
    assert unread.code == 200
    assert (unread.body["total"], unread.body["pages"]) == (4, 2)
    assert len(unread.body["messages"]) == 3
    # ... nor the labels.
    assert admin.ask("/nimportequoi").label == "NOT FOUND"


def test_sync_with_a_missing_file_is_404_and_keeps_the_settings(configured, admin, pair) -> None:
    client_line, _, _, pro = pair
    hidden = configured.config.with_name("hidden")
    configured.rewrite_config(max_message_size=10)
    configured.config.rename(hidden)
    try:
        reply = admin.ask("/sync")
        assert reply.code == 404, reply
        assert isinstance(reply.body["error"], str) and reply.body["error"]
        _assert_size_limit(client_line, pro["id"], SIZE)
    finally:
        hidden.rename(configured.config)


# --------------------------------------------------------------------------- live keys


def test_sync_max_message_size_takes_effect_at_once(configured, admin, pair) -> None:
    client_line, _, _, pro = pair
    _assert_size_limit(client_line, pro["id"], SIZE)
    configured.rewrite_config(max_message_size=20)
    reply = admin.ask("/sync")
    assert reply.code == 200
    assert "max_message_size" in reply.body["reloaded"]
    assert "max_message_size" not in reply.body["restart_required"]
    # On a connection opened before the /sync.
    _assert_size_limit(client_line, pro["id"], 20)
    # The hard line limit follows: 4 * 20 + 1024 bytes.
    max_line = 4 * 20 + 1024
    client_line.send(b"/liste " + b"0" * (max_line - len("/liste ")) + b"\n")
    assert client_line.reply().code != 413
    client_line.send(b"/liste " + b"0" * (max_line + 1 - len("/liste ")) + b"\n")
    reply = client_line.reply()
    assert reply.code == 413 and reply.body["max_line"] == max_line


def test_sync_max_messages_takes_effect_at_once(configured, admin, pair) -> None:
    client_line, pro_line, _, pro = pair
    for n in range(4):
        assert client_line.ask(f"/message {pro['id']} page {n}").code == 200
    assert pro_line.ask("/liste").body["pages"] == 2
    configured.rewrite_config(max_messages=2)
    reply = admin.ask("/sync")
    assert reply.body["reloaded"] == ["max_messages"]
    assert reply.body["restart_required"] == []
    unread = pro_line.ask("/liste")
    assert (unread.body["pages"], len(unread.body["messages"])) == (2, 2)
    assert pro_line.ask("/liste 2").code == 416


def test_sync_codes_take_effect_at_once(configured, admin, pair) -> None:
    client_line, *_ = pair
    configured.rewrite_config(codes={"404": "INTROUVABLE", "200": "PARFAIT"})
    reply = admin.ask("/sync")
    assert reply.code == 200
    assert "codes" in reply.body["reloaded"]
    assert admin.ask("/logs 1").label == "PARFAIT"
    unknown = client_line.ask("/nimportequoi")
    assert (unknown.code, unknown.label) == (404, "INTROUVABLE")
    # A code missing from [codes] falls back to its standard label.
    bad = client_line.ask("/info x")
    assert (bad.code, bad.label) == (400, "BAD REQUEST")
    assert client_line.ask("/liste").label == "NO CONTENT"


def test_sync_block_duration_takes_effect_at_once(configured, admin, pair) -> None:
    client_line, pro_line, client, pro = pair
    assert client_line.ask(f"/message {pro['id']} bonjour").code == 200
    configured.rewrite_config(block_duration=120)
    reply = admin.ask("/sync")
    assert "block_duration" in reply.body["reloaded"]
    before = datetime.now(UTC)
    blocked = pro_line.ask(f"/bloque {client['id']}")
    assert blocked.code == 200
    until = datetime.fromisoformat(blocked.body["until"].replace("Z", "+00:00"))
    assert abs((until - before).total_seconds() - 120) < 10, blocked.body


def test_sync_port_needs_a_restart(configured, admin, pair) -> None:
    client_line, *_ = pair
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    configured.rewrite_config(port=free_port, host="localhost", backlog=7, max_messages=4)
    reply = admin.ask("/sync")
    assert reply.code == 200
    assert {"port", "host", "backlog"} <= set(reply.body["restart_required"])
    assert not {"port", "host", "backlog"} & set(reply.body["reloaded"])
    assert "max_messages" in reply.body["reloaded"]  # the live key in the same file applies
    # The server keeps its port: old connections and new ones work there.
    assert client_line.ask("/liste").code == 204
    fresh = configured.connect()
    assert fresh.ask("/connexion -h").code == 200
    fresh.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_port), timeout=2).close()


def test_sync_is_admin_only(configured, pair) -> None:
    client_line, pro_line, *_ = pair
    assert client_line.ask("/sync").code == 403
    assert pro_line.ask("/sync").code == 403
    assert configured.connect().ask("/sync").code == 401


# --------------------------------------------------------------------------- start-up

_FINGERPRINT = re.compile(r"\b((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})\b")
_ADMIN_KEY_LINE = re.compile(r"(?i)admin.*key.*:\s*(\S{20,})\s*$")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _generated_key(output: list[str]) -> str | None:
    for line in output:
        match = _ADMIN_KEY_LINE.search(line)
        if match and "fingerprint" not in line.lower():
            return match.group(1)
    return None


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server started for the first time in an empty folder, admin key left empty."""
    process = ServerProcess(tmp_path_factory.mktemp("first-start"), admin_api_key="")
    assert not (process.folder / "certs").exists()
    process.start()
    yield process
    process.stop()


def test_first_start_generates_certificates_with_private_keys(first_start) -> None:
    certs = first_start.folder / "certs"
    for name in ("ca.pem", "server.pem", "server.key"):
        assert (certs / name).is_file(), name
    keys = sorted(certs.glob("*.key"))
    assert certs / "server.key" in keys
    for key in keys:
        assert _mode(key) == 0o600, key
    # And the certificates are the ones the server really uses.
    line = first_start.connect()
    assert line.ask("/connexion -h").code == 200
    line.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_printed_fingerprint_is_the_ca_sha256(first_start) -> None:
    printed = {
        m.group(1).upper() for line in first_start.output for m in _FINGERPRINT.finditer(line)
    }
    assert len(printed) == 1, first_start.output
    out = subprocess.run(
        ["openssl", "x509", "-in", str(first_start.ca_file), "-noout", "-fingerprint", "-sha256"],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    assert out.split("=", 1)[1].strip().upper() == printed.pop()


def test_generated_admin_key_is_printed_once_and_works(first_start) -> None:
    key = _generated_key(first_start.output)
    assert key is not None, "no generated admin key in:\n" + "\n".join(first_start.output)
    assert len(key) >= 22  # 128 bits at least, in any usual text encoding
    line = first_start.connect()
    reply = line.ask(f"/connexion {key}")
    assert reply.code == 200
    assert reply.body["user"]["role"] == "admin"
    assert reply.body["user"]["id"] == 0
    assert line.ask("/logs 5").code == 200
    line.close()
    # Shown once: only its digest is kept, in a 0600 file; the key is on no file.
    digests = [p for p in first_start.folder.rglob("*") if p.is_file() and "admin" in p.name]
    assert digests, "no file for the generated admin key"
    for digest in digests:
        assert _mode(digest) == 0o600, digest
    for path in first_start.folder.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the admin key is written in {path}"


def test_second_start_keeps_the_admin_key_and_does_not_print_it(first_start) -> None:
    key = _generated_key(first_start.output)
    assert key is not None
    assert first_start.stop() == 0
    first_start.start()
    assert key not in "\n".join(first_start.output)
    assert _generated_key(first_start.output) is None
    line = first_start.connect()
    assert line.ask(f"/connexion {key}").body["user"]["role"] == "admin"
    line.close()


def test_server_refuses_a_key_others_can_read(first_start) -> None:
    """Last of the start-up tests: it stops the module's first-start server."""
    assert first_start.stop() == 0
    key = first_start.folder / "certs" / "server.key"
    key.chmod(0o644)
    try:
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "server", "--config", str(first_start.config), "serve"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert time.monotonic() - started < 25
        output = completed.stdout + completed.stderr
        assert completed.returncode != 0, output
        assert "server.key" in output, output
        assert "listening on" not in output
        assert _mode(key) == 0o644  # reported, not silently changed
    finally:
        key.chmod(0o600)
    first_start.start()  # and with the mode fixed it starts again
    assert first_start.port


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"redis_url": "http://localhost"}, "redis_url must be empty or a URL"),
        ({"redis_url": "redis://127.0.0.1:6379/0"}, "redis_url needs database_url on PostgreSQL"),
        ({"instance_name": "a\nb"}, "instance_name must be printable"),
    ],
)
def test_scale_out_keys_are_checked(tmp_path: Path, settings: dict, error: str) -> None:
    path = tmp_path / ".tchatator"
    write_config(path, settings)
    with pytest.raises(ConfigError, match=error):
        load_settings(path)
