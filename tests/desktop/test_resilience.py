"""When things go wrong: a 429 with its retry time, a server restart."""

from __future__ import annotations

import re

from pytestqt.exceptions import TimeoutError

from desktop.service import ConnectionState
from desktop.widgets import Severity

from .conftest import WAIT_MS, open_conversation, two_parties_who_talked

RETRY = re.compile(r"réessayer dans (\d+) s")


def test_too_many_requests_shows_when_to_retry(qtbot, qloop, open_window, fresh_server) -> None:
    server = fresh_server(max_requests_per_minute=10)
    client = server.add_user("client", "Gaspard")
    window = open_window(client["api_key"], "client", on=server)
    qtbot.waitUntil(
        lambda: window.service.last_error is None and window.isVisible(), timeout=WAIT_MS
    )
    # Each refresh is one /discussions: soon over 10 a minute.
    for _ in range(12):
        window.refresh()
    qtbot.waitUntil(lambda: RETRY.search(window.notice.text) is not None, timeout=WAIT_MS)
    assert window.notice.severity is Severity.WARNING
    assert window.service.last_error.code == 429
    first = int(RETRY.search(window.notice.text).group(1))
    # A minute, plus at most one 1 s bucket (the bucketed window, server/limits.py).
    assert 1 <= first <= 61
    # The banner counts down to the moment the user can retry.
    qtbot.waitUntil(
        lambda: (
            (match := RETRY.search(window.notice.text)) is not None and int(match.group(1)) < first
        ),
        timeout=2500,
    )


def test_server_restart_offline_banner_then_reconnection(
    qtbot, qloop, open_window, fresh_server, run
) -> None:
    server = fresh_server()
    pro, client = two_parties_who_talked(server, "Quincaillerie", "Hugo")
    window = open_window(pro["api_key"], "pro", on=server)
    open_conversation(qtbot, window, client["id"])
    service = window.service
    token = service._token
    server.stop()
    # Lost: an offline banner; a request made now fails with a clear sentence
    # (what the user writes waits in the outbox: tests/desktop/test_outbox.py).
    qtbot.waitUntil(lambda: service.state is not ConnectionState.ONLINE, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.offline_bar.isVisible(), timeout=WAIT_MS)
    assert "Hors ligne" in window.offline_bar.text or "perdue" in window.offline_bar.text
    composer = window.pane.composer
    composer.set_text("Vous êtes là ?")
    service.send_message(client["id"], "Vous êtes là ?")
    qtbot.waitUntil(lambda: "n'a pas été envoyé" in window.notice.text, timeout=WAIT_MS)
    assert composer.text() == "Vous êtes là ?"
    # Back: reconnected with backoff, the session resumed with its token.
    server.start()
    try:
        qtbot.waitUntil(lambda: service.state is ConnectionState.ONLINE, timeout=15000)
    except TimeoutError as error:
        raise AssertionError(
            f"not reconnected: {service.state}, last error {service.last_error}, "
            f"banner {window.offline_bar.text!r}, server said {server.output[-6:]}"
        ) from error
    qtbot.waitUntil(lambda: "rétablie" in window.offline_bar.text, timeout=WAIT_MS)
    assert service._token == token  # resumed, not a new login with the key
    assert composer.send_button.isEnabled()
    composer.submit()
    qtbot.waitUntil(lambda: window.messages.rowCount() == 2, timeout=WAIT_MS)
    with server.connect() as line:
        line.login(client["api_key"])
        page = line.ask(f"/conversation {pro['id']}")
        assert [m["text"] for m in page.body["messages"]][-1] == "Vous êtes là ?"
