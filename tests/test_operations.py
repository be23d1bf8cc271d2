"""Operating a server: backup/restore, check, certificates from elsewhere, SIGHUP.

Every test drives real processes: ``tchatator-server`` commands, a server on
real TLS, the ``tchatator`` CLI and the app's self-test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .packaging_support import ThrowawayCA
from .support import ADMIN_KEY, ROOT, write_config


def server_cli(config: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "server", "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def peer_fingerprint(port: int, ca_file: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls_socket,
    ):
        return hashlib.sha256(tls_socket.getpeercert(binary_form=True)).hexdigest()


# --- backup and restore -------------------------------------------------------------------


@pytest.mark.slow
def test_backup_during_writes_restores_every_acknowledged_message(fresh_server, tmp_path) -> None:
    server = fresh_server()
    pro = server.add_user("pro", "Garage")
    client = server.add_user("client", "Alice")
    acknowledged: list[tuple[float, int]] = []  # (monotonic time of the answer, id)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write_load() -> None:
        try:
            with server.connect() as line:
                line.login(client["api_key"])
                number = 0
                while not stop.is_set():
                    number += 1
                    reply = line.ask(f"/message {pro['id']} message {number}")
                    assert reply.code == 200, reply
                    acknowledged.append((time.monotonic(), reply.body["id"]))
        except BaseException as error:  # reported by the test below
            errors.append(error)

    writer = threading.Thread(target=write_load)
    writer.start()
    try:
        while len(acknowledged) < 200:
            time.sleep(0.05)
            assert not errors, errors
        backup_started = time.monotonic()
        backup_file = tmp_path / "backup.db"
        done = server_cli(server.config, "backup", str(backup_file))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert "secret.key" in done.stderr  # the operator is told what else to keep
        time.sleep(0.3)  # writes go on after the backup: they are not in it
    finally:
        stop.set()
        writer.join(30)
    assert not errors, errors
    before = {message_id for moment, message_id in acknowledged if moment < backup_started}
    assert len(before) >= 200
    with sqlite3.connect(backup_file) as copy:
        saved = {row[0] for row in copy.execute("SELECT id FROM messages")}
    missing = before - saved
    assert not missing, f"{len(missing)} acknowledged messages missing from the backup"
    assert report["messages"] == len(saved)
    assert len(acknowledged) > len(before)  # the server kept writing during the backup
    assert os.stat(backup_file).st_mode & 0o077 == 0
    # A second backup never overwrites the first.
    again = server_cli(server.config, "backup", str(backup_file))
    assert again.returncode == 2 and "exists" in again.stderr

    # Restore refuses while the server answers, then puts the backup in place.
    server.rewrite_config(port=server.port)  # restore must find the running server
    busy = server_cli(server.config, "restore", str(backup_file))
    assert busy.returncode == 2 and "stop it first" in busy.stderr
    assert server.stop() == 0
    restored = server_cli(server.config, "restore", str(backup_file))
    assert restored.returncode == 0, restored.stderr
    outcome = json.loads(restored.stdout)
    assert Path(outcome["previous_database"]).exists()  # nothing is thrown away
    server.start()
    with server.connect() as line:
        line.login(client["api_key"])
        for message_id in sorted(before)[-5:]:
            assert line.ask(f"/info {message_id}").code == 200
    with sqlite3.connect(outcome["restored"]) as database:
        ids = {row[0] for row in database.execute("SELECT id FROM messages")}
    assert before <= ids and ids == saved


def test_backup_of_postgresql_says_pg_dump(tmp_path) -> None:
    config = tmp_path / "pg.toml"
    write_config(config, {"database_url": "postgresql://u@127.0.0.1:1/x"})
    done = server_cli(config, "backup", str(tmp_path / "b.db"))
    assert done.returncode == 2 and "pg_dump" in done.stderr


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path) -> None:
    config = tmp_path / "c.toml"
    write_config(config, {"port": 0})
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    done = server_cli(config, "restore", str(junk))
    assert done.returncode == 2 and "not a SQLite database" in done.stderr
    assert not (tmp_path / "data" / "tchatator.db").exists()


# --- check ----------------------------------------------------------------------------------


def test_check_exit_codes(fresh_server, tmp_path) -> None:
    server = fresh_server()
    fine = server_cli(server.config, "check")
    assert fine.returncode == 0, fine.stderr
    assert "ok: database" in fine.stdout and "ok: certificate" in fine.stdout

    broken = tmp_path / "broken.toml"
    broken.write_text("port = 'four'\n")
    done = server_cli(broken, "check")
    assert done.returncode == 2 and "port must be an integer" in done.stderr

    unreachable = tmp_path / "unreachable.toml"
    write_config(
        unreachable,
        {
            "database_url": "postgresql://nobody@127.0.0.1:1/none",
            "certs_dir": str(server.folder / "certs"),
        },
    )
    done = server_cli(unreachable, "check")
    assert done.returncode == 3, done.stderr
    assert "unreachable" in done.stderr and "127.0.0.1" in done.stderr

    missing = tmp_path / "missing.toml"
    write_config(missing, {"database_url": f"sqlite:///{tmp_path}/nowhere/x.db"})
    done = server_cli(missing, "check")
    assert done.returncode == 3 and "does not exist" in done.stderr
    assert not (tmp_path / "nowhere").exists()  # check creates nothing

    ca = ThrowawayCA(tmp_path / "ca")
    chain, key, _ = ca.issue("chat.example.org", days=3)
    server.rewrite_config(tls_cert_file=str(chain), tls_key_file=str(key))
    soon = server_cli(server.config, "check", "--days", "14")
    assert soon.returncode == 4
    assert "expires on" in soon.stderr and "in 2 day(s)" in soon.stderr
    assert server_cli(server.config, "check", "--days", "1").returncode == 0


# --- certificates from elsewhere ---------------------------------------------------------------


def test_refused_certificates_stop_the_start_with_the_reason(tmp_path) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    config = tmp_path / "server.toml"

    def start_with(chain: Path, key: Path) -> subprocess.CompletedProcess[str]:
        write_config(config, {"port": 0, "tls_cert_file": str(chain), "tls_key_file": str(key)})
        return server_cli(config, "serve")

    chain, key, _ = ca.issue("chat.example.org")
    other_key = tmp_path / "other.key"
    shutil.copy(key, other_key)
    os.chmod(other_key, 0o600)
    chain, _, _ = ca.issue("chat.example.org")  # a new certificate with a new key
    done = start_with(chain, other_key)
    assert done.returncode == 2 and "does not match the certificate" in done.stderr

    chain, key, _ = ca.issue("chat.example.org", days=-1, past=90)
    done = start_with(chain, key)
    assert done.returncode == 2 and "expired on" in done.stderr

    chain, key, _ = ca.issue("chat.example.org", key_mode=0o640)
    done = start_with(chain, key)
    assert done.returncode == 2 and "accessible by group/others" in done.stderr

    write_config(config, {"tls_cert_file": str(chain)})
    done = server_cli(config, "serve")
    assert done.returncode == 2 and "set both or neither" in done.stderr
    assert not (tmp_path / "certs").exists()  # nothing was generated instead


def test_public_certificate_trusted_through_the_system_store(fresh_server, tmp_path) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    chain, key, leaf = ca.issue("chat.example.org")
    server = fresh_server(tls_cert_file=str(chain), tls_key_file=str(key))
    assert not (server.folder / "certs").exists()  # nothing generated
    assert peer_fingerprint(server.port, ca.pem_file) == leaf

    def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT")}
        return subprocess.run(
            [sys.executable, "-m", "protocol.shell", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**environment, **env},
        )

    address = f"127.0.0.1:{server.port}"
    # The system store does not know the throwaway CA: refused, nothing sent.
    refused = cli("--server", address, "--key", ADMIN_KEY, "/logs 1")
    assert refused.returncode == 2 and "certificate" in refused.stderr.lower()
    # With it in SSL_CERT_FILE (and no --ca): verified, logged in.
    trusted = cli(
        "--server", address, "--key", ADMIN_KEY, "/logs 1", SSL_CERT_FILE=str(ca.pem_file)
    )
    assert trusted.returncode == 0, trusted.stderr
    assert "logged in as" in trusted.stdout
    # The host name is checked against --server's host.
    wrong_name = cli(
        "--server", address, "--server-name", "other.example.org", "--key", ADMIN_KEY,
        "/logs 1", SSL_CERT_FILE=str(ca.pem_file),
    )  # fmt: skip
    assert wrong_name.returncode == 2
    # The abbreviation trap is gone: --serv is not --server-name.
    abbreviated = cli("--serv", address, "/liste")
    assert abbreviated.returncode == 2 and "unrecognized arguments" in abbreviated.stderr

    # The app's self-test, no --ca, the throwaway CA in SSL_CERT_FILE.
    code = "import sys; from desktop.app import main_client; sys.exit(main_client())"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT")}

    def self_test(**trust: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, "--self-test", "--server", address, "--key", ADMIN_KEY],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            env={**environment, "QT_QPA_PLATFORM": "offscreen", **trust},
        )

    trusting = self_test(SSL_CERT_FILE=str(ca.pem_file))
    assert trusting.returncode == 0, trusting.stderr
    assert "self-test OK" in trusting.stdout
    untrusted = self_test()
    assert untrusted.returncode == 1 and "system's certificate authorities" in untrusted.stderr


def test_renewed_certificate_taken_by_sighup_and_sync_without_dropping(
    fresh_server, tmp_path
) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    chain, key, first = ca.issue("chat.example.org")
    server = fresh_server(tls_cert_file=str(chain), tls_key_file=str(key))
    assert peer_fingerprint(server.port, ca.pem_file) == first
    # This server has no generated CA: its lines trust the throwaway one.
    server.client_context = lambda: ssl.create_default_context(cafile=str(ca.pem_file))
    with server.connect() as open_line:
        open_line.login(ADMIN_KEY)

        # certbot renews in place; systemctl reload sends SIGHUP.
        _, _, second = ca.issue("chat.example.org")
        assert second != first
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10

        def reloaded() -> bool:  # the new certificate served, and the reload reported
            return peer_fingerprint(server.port, ca.pem_file) == second and any(
                "SIGHUP: reloaded" in line and "tls_cert_file" in line for line in server.output
            )

        while not reloaded():
            assert time.monotonic() < deadline, "\n".join(server.output)
            time.sleep(0.1)
        assert open_line.ask("/logs 1").code in (200, 204)  # still the same connection

        # A broken renewal is refused with the reason; the current certificate stays.
        os.chmod(key, 0o644)
        refused = open_line.ask("/sync")
        assert refused.code == 400 and "accessible by group/others" in refused.body["error"]
        os.chmod(key, 0o600)
        _, _, third = ca.issue("chat.example.org")
        synced = open_line.ask("/sync")
        assert synced.code == 200 and "tls_cert_file" in synced.body["reloaded"]
        assert peer_fingerprint(server.port, ca.pem_file) == third
        assert open_line.ask("/logs 1").code in (200, 204)
