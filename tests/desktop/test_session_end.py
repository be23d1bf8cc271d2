"""A push listener's session ended by the server: the app finds out within seconds.

Server side, each cause is tested in tests/test_security.py; here the real
app reacts to the server's ``* deconnexion`` and close: it logs in again with
its key when the key still works, and asks for the key when it does not.
"""

from __future__ import annotations

from desktop.service import ConnectionState

# The server re-checks listeners every 5 s; margin for a loaded machine.
SESSION_END_MS = 15000


def test_rotated_key_makes_the_app_ask_for_the_key(qtbot, open_window, server) -> None:
    pro = server.add_user("pro", "Serrurerie")
    window = open_window(pro["api_key"], "pro")
    service = window.service
    expired: list[bool] = []
    service.session_expired.connect(lambda: expired.append(True))
    server.cli("user", "rotate-key", str(pro["id"]))
    qtbot.waitUntil(lambda: bool(expired), timeout=SESSION_END_MS)
    assert service.state is ConnectionState.OFFLINE
    qtbot.waitUntil(lambda: "clé a été refusée" in window.offline_bar.text, timeout=SESSION_END_MS)


def test_token_revoked_elsewhere_logs_in_again_with_the_key(qtbot, open_window, server) -> None:
    pro = server.add_user("pro", "Menuiserie")
    window = open_window(pro["api_key"], "pro")
    service = window.service
    token = service._token
    with server.connect() as line:
        line.login(token)
        assert line.ask("/deconnexion").code == 200
    # Ended at once on this server, then a new session with the key.
    qtbot.waitUntil(lambda: service._token not in ("", token), timeout=SESSION_END_MS)
    qtbot.waitUntil(lambda: service.state is ConnectionState.ONLINE, timeout=SESSION_END_MS)
    with server.connect() as line:
        assert line.ask(f"/connexion {token}").code == 401
