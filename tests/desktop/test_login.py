"""Logging in through the real dialog: CA file, fingerprint (TOFU), failures."""

from __future__ import annotations

import json
import subprocess
import sys

from PySide6.QtCore import Qt

from desktop.service import ChatService
from desktop.settings import KeyStore, Settings, TrustedServer
from desktop.trust import fingerprint_of_pem
from desktop.widgets import LoginDialog
from tests.support import ADMIN_KEY, ROOT

from .conftest import WAIT_MS


def _dialog(qtbot, kind, server_text, key):
    service = ChatService()
    dialog = LoginDialog(kind, service, Settings(), KeyStore(), server=server_text, key=key)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog, service


def test_login_with_the_ca_file(qtbot, qloop, run, server, make_user) -> None:
    pro = make_user("pro", "Fromagerie Bleue")
    dialog, service = _dialog(qtbot, "pro", f"127.0.0.1:{server.port}", pro["api_key"])
    dialog.file_radio.setChecked(True)
    dialog.ca_edit.setText(str(server.ca_file))
    dialog.remember_check.setChecked(True)
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.user is not None, timeout=WAIT_MS)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert service.user.name == "Fromagerie Bleue" and service.online
    # Remembered: the server, its CA, and the key (no keyring here: a 0600 file).
    settings = Settings()
    assert settings.last_server("pro") == f"127.0.0.1:{server.port}"
    assert settings.trusted(f"127.0.0.1:{server.port}") is not None
    keys = KeyStore()
    assert not keys.uses_keyring
    assert keys.get("pro", f"127.0.0.1:{server.port}") == pro["api_key"]
    assert keys.file.stat().st_mode & 0o777 == 0o600
    run(service.close())


def test_login_with_the_fingerprint(qtbot, qloop, run, server, make_user) -> None:
    client = make_user("client")
    dialog, service = _dialog(qtbot, "client", f"localhost:{server.port}", client["api_key"])
    dialog.tofu_radio.setChecked(True)
    dialog.start_login()
    qtbot.waitUntil(lambda: dialog.fingerprint_dialog is not None, timeout=WAIT_MS)
    shown = dialog.fingerprint_dialog.fingerprint_label.text().replace("\n", "")
    printed = next(
        line.split(": ", 1)[1] for line in server.output if line.startswith("CA fingerprint")
    )
    assert shown == printed
    assert service.user is None  # nothing sent before the user decides
    qtbot.mouseClick(dialog.fingerprint_dialog.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.user is not None, timeout=WAIT_MS)
    assert service.user.id == client["id"]
    trusted = Settings().trusted(f"localhost:{server.port}")
    assert trusted is not None and trusted.fingerprint == printed
    run(service.close())
    # Next time the remembered CA is offered and used without asking again.
    again, second = _dialog(qtbot, "client", f"localhost:{server.port}", client["api_key"])
    assert again.saved_radio.isChecked()
    again.start_login()
    qtbot.waitUntil(lambda: again.user is not None, timeout=WAIT_MS)
    run(second.close())


def test_refusing_the_fingerprint_sends_nothing(qtbot, qloop, run, server, make_user) -> None:
    client = make_user("client")
    dialog, service = _dialog(qtbot, "client", f"127.0.0.1:{server.port}", client["api_key"])
    dialog.tofu_radio.setChecked(True)
    dialog.start_login()
    qtbot.waitUntil(lambda: dialog.fingerprint_dialog is not None, timeout=WAIT_MS)
    dialog.fingerprint_dialog.reject()
    qtbot.waitUntil(lambda: "rien n'a été envoyé" in dialog.status.text(), timeout=WAIT_MS)
    assert service.user is None and not dialog.isHidden()
    assert Settings().trusted(f"127.0.0.1:{server.port}") is None


def test_a_wrong_key_and_a_wrong_door_are_explained(qtbot, qloop, run, server, make_user) -> None:
    dialog, service = _dialog(qtbot, "client", f"127.0.0.1:{server.port}", "not-a-key")
    dialog.file_radio.setChecked(True)
    dialog.ca_edit.setText(str(server.ca_file))
    dialog.start_login()
    qtbot.waitUntil(lambda: "n'est pas valable" in dialog.status.text(), timeout=WAIT_MS)
    pro = make_user("pro")
    dialog.key_edit.setText(pro["api_key"])
    dialog.start_login()
    qtbot.waitUntil(lambda: "Tchatator Pro" in dialog.status.text(), timeout=WAIT_MS)
    assert dialog.user is None and not service.online


def _self_test(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from desktop.app import main_client; sys.exit(main_client())"
    return subprocess.run(
        [sys.executable, "-c", code, "--self-test", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_self_test_mode(server, make_user, tmp_path) -> None:
    client = make_user("client", "Self Test")
    good = _self_test(
        "--server",
        f"127.0.0.1:{server.port}",
        "--ca",
        str(server.ca_file),
        # "--key=" form: a generated key may start with "-" (argparse would
        # take it for an option).
        f"--key={client['api_key']}",
    )
    assert good.returncode == 0, good.stderr
    assert "self-test OK" in good.stdout and "Self Test" in good.stdout
    bad = _self_test(
        "--server", f"127.0.0.1:{server.port}", "--ca", str(server.ca_file), "--key", "wrong"
    )
    assert bad.returncode == 1
    assert "self-test FAILED" in bad.stderr
    admin = _self_test(
        "--server", f"127.0.0.1:{server.port}", "--ca", str(server.ca_file), "--key", ADMIN_KEY
    )
    assert admin.returncode == 0, admin.stderr
    json.dumps(admin.stdout)


def _top(kind):
    from PySide6.QtWidgets import QApplication

    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()),
        None,
    )


def test_the_app_from_login_to_account_change(qtbot, qloop, server, make_user) -> None:
    import argparse

    from desktop.app import interactive
    from desktop.widgets import ChatWindow

    client = make_user("client", "Inès Vert")
    args = argparse.Namespace(
        server=f"127.0.0.1:{server.port}", ca=str(server.ca_file), key=client["api_key"]
    )
    task = qloop.create_task(interactive("client", args, Settings()))
    qtbot.waitUntil(lambda: _top(LoginDialog) is not None, timeout=WAIT_MS)
    dialog = _top(LoginDialog)
    assert dialog.file_radio.isChecked()
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _top(ChatWindow) is not None, timeout=WAIT_MS)
    window = _top(ChatWindow)
    assert window.windowTitle() == "Inès Vert — Tchatator"  # the app's name once, last
    window.switch_account()  # File > Change account: back to the login dialog
    qtbot.waitUntil(lambda: _top(LoginDialog) is not None, timeout=WAIT_MS)
    second = _top(LoginDialog)
    assert second.key_edit.text() == ""  # the key of the old account is not kept
    second.reject()  # Quit
    qtbot.waitUntil(task.done, timeout=WAIT_MS)
    assert task.result() == 0


def test_a_certificate_from_another_authority_gets_no_key(
    qtbot, qloop, run, server, fresh_server, make_user
) -> None:
    """A remembered CA that did not issue the server's certificate: refused."""
    other = fresh_server()  # its own, different CA
    client = make_user("client")
    settings = Settings()
    address = f"127.0.0.1:{other.port}"
    impostor_ca = server.ca_file.read_text()
    settings.set_trusted(address, TrustedServer(impostor_ca, fingerprint_of_pem(impostor_ca)))
    settings.save()
    dialog, service = _dialog(qtbot, "client", address, client["api_key"])
    assert dialog.saved_radio.isChecked()
    dialog.start_login()
    qtbot.waitUntil(lambda: "la clé n'a pas été envoyée" in dialog.status.text(), timeout=WAIT_MS)
    assert service.user is None
    # The other server never saw a /connexion (the handshake failed first).
    with other.connect() as line:
        line.login(ADMIN_KEY)
        logs = line.ask("/logs 100").body or {"logs": []}
    logins = [entry for entry in logs["logs"] if entry["command"] == "/connexion"]
    assert len(logins) == 1  # the admin's own, just above


def test_the_local_ca_file_is_offered_for_a_local_server_only(
    qtbot, qloop, server, tmp_path, monkeypatch
) -> None:
    """./certs/ca.pem proves nothing about a remote server (issue 10, item 9)."""
    (tmp_path / "certs").mkdir()
    local_ca = tmp_path / "certs" / "ca.pem"
    local_ca.write_text(server.ca_file.read_text())
    monkeypatch.chdir(tmp_path)
    for address in ("localhost:4242", "127.0.0.1:4242", "[::1]:4242"):
        dialog, _ = _dialog(qtbot, "client", address, "")
        assert dialog.ca_edit.text() == str(local_ca.resolve()), address
        assert dialog.file_radio.isChecked(), address
    # A remote server: no file offered, the fingerprint step instead.
    remote, _ = _dialog(qtbot, "client", "chat.example.org:4242", "")
    assert remote.ca_edit.text() == "" and remote.tofu_radio.isChecked()
    # Typing a remote address after a local one takes the local file away...
    dialog.server_edit.setText("chat.example.org:4242")
    dialog.server_edit.editingFinished.emit()
    assert dialog.ca_edit.text() == "" and dialog.tofu_radio.isChecked()
    # ...and back to a local one offers it again.
    dialog.server_edit.setText("localhost:4242")
    dialog.server_edit.editingFinished.emit()
    assert dialog.ca_edit.text() == str(local_ca.resolve()) and dialog.file_radio.isChecked()
    # A file the user chose (typed, browsed or --ca) stays, whatever the server.
    chosen, _ = _dialog(qtbot, "client", "chat.example.org:4242", "")
    chosen.ca_edit.clear()
    qtbot.keyClicks(chosen.ca_edit, str(server.ca_file))
    assert chosen.file_radio.isChecked()
    chosen.server_edit.setText("other.example.org:4242")
    chosen.server_edit.editingFinished.emit()
    assert chosen.ca_edit.text() == str(server.ca_file) and chosen.file_radio.isChecked()
    given = LoginDialog(
        "client",
        ChatService(),
        Settings(),
        KeyStore(),
        server="chat.example.org:4242",
        ca_file=str(server.ca_file),
    )
    qtbot.addWidget(given)
    assert given.ca_edit.text() == str(server.ca_file) and given.file_radio.isChecked()
