"""Desktop fixtures: offscreen Qt, a qasync loop, real windows on a real server.

The tests are synchronous and poll with ``qtbot.waitUntil`` (dependency notes:
``waitSignal`` inside async tests hangs under qasync). The qasync loop is
created "already running", so every Qt event pumped by pytest-qt also runs
the asyncio callbacks: the windows talk to the real server while the test
waits. ``run(coroutine)`` drives one coroutine to its end the same way.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never touch the developer's real keyring from the tests.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync

from desktop.app import make_window
from desktop.i18n import install_translations
from desktop.service import ChatService
from desktop.settings import CONFIG_DIR_ENV, DraftStore, Settings
from desktop.trust import ServerAddress
from tests.support import ServerProcess

# Fast reconnection in tests; the real defaults are 1 s doubling up to 60 s.
TEST_RECONNECT_BASE = 0.2
TEST_RECONNECT_MAX = 1.0
WAIT_MS = 8000

# The service logs connection losses and reconnection attempts at INFO: shown
# with a failing test.
logging.getLogger("tchatator.desktop").setLevel(logging.INFO)


@pytest.fixture(scope="session", autouse=True)
def french(qapp: Any) -> None:
    """The apps are French by default: test them in French."""
    qapp.setQuitOnLastWindowClosed(False)
    install_translations(qapp, "fr")


@pytest.fixture(autouse=True)
def desktop_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, drafts and keys of each test in its own folder."""
    folder = tmp_path / "desktop-config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def session_loop(qapp: Any) -> Iterator[qasync.QEventLoop]:
    """One qasync loop for the session: ``stop()`` calls ``app.exit()``, after
    which a second "already running" loop never gets its callbacks run."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)
    # close() refuses a running loop, and stop() would quit the application:
    # mark it stopped, then close it (which joins its resolver threads).
    loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
    loop.close()


@pytest.fixture
def qloop(qapp: Any, session_loop: qasync.QEventLoop) -> Iterator[qasync.QEventLoop]:
    """The loop, with whatever a test left running cancelled afterwards."""
    asyncio.events._set_running_loop(session_loop)
    yield session_loop
    for task in asyncio.all_tasks(session_loop):
        task.cancel()
    qapp.processEvents()


Runner = Callable[..., Any]


@pytest.fixture
def run(qtbot: Any, qloop: qasync.QEventLoop) -> Runner:
    """Run a coroutine on the Qt loop until it ends; returns its result."""

    def run_coroutine(coroutine: Coroutine[Any, Any, Any], timeout: int = WAIT_MS) -> Any:
        task = qloop.create_task(coroutine)
        qtbot.waitUntil(task.done, timeout=timeout)
        return task.result()

    return run_coroutine


def ca_pem(server: ServerProcess) -> str:
    return server.ca_file.read_text(encoding="ascii")


@pytest.fixture
def open_window(qtbot: Any, run: Runner, server: ServerProcess) -> Iterator[Callable[..., Any]]:
    """Log a key in through a real ChatService and show its real window."""
    opened: list[tuple[Any, ChatService]] = []

    def open_one(
        key: str, kind: str = "client", on: ServerProcess | None = None, **options: Any
    ) -> Any:
        target = on or server
        service = ChatService(
            reconnect_base=TEST_RECONNECT_BASE, reconnect_max=TEST_RECONNECT_MAX, **options
        )
        address = ServerAddress("127.0.0.1", target.port)
        run(service.open_session(address, ca_pem(target), key))
        window = make_window(kind, service, Settings(), DraftStore())
        opened.append((window, service))
        window.show()
        return window

    yield open_one
    for window, service in opened:
        window.close()
        run(service.close())
        window.deleteLater()


def wait_rows(qtbot: Any, model: Any, count: int, timeout: int = WAIT_MS) -> None:
    qtbot.waitUntil(lambda: model.rowCount() == count, timeout=timeout)


def activate(qtbot: Any, window: Any) -> None:
    """Make ``window`` the one a person is looking at (messages shown there get read)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def open_conversation(qtbot: Any, window: Any, partner_id: int) -> None:
    """Open the conversation with ``partner_id`` once the list shows it, in the
    active window."""
    activate(qtbot, window)
    qtbot.waitUntil(lambda: window.conversations.row_of(partner_id) is not None, timeout=WAIT_MS)
    row = window.conversations.row_of(partner_id)
    window.open_partner(window.conversations.conversation(row).partner)
    qtbot.waitUntil(lambda: not window.messages.loading, timeout=WAIT_MS)


# --- a server that goes away and comes back (tests/desktop/test_outbox.py, test_resilience.py)

BACK_MS = 15000


def two_parties_who_talked(server: Any, pro_name: str, client_name: str) -> tuple[dict, dict]:
    """On a server that will come back on the same port: a pro and a client
    who wrote to them ("Bonjour")."""
    server.rewrite_config(port=server.port)
    pro = server.add_user("pro", pro_name)
    client = server.add_user("client", client_name)
    with server.connect() as line:
        line.login(client["api_key"])
        assert line.ask(f"/message {pro['id']} Bonjour").code == 200
    return pro, client


def server_goes_down(qtbot: Any, server: Any, service: Any) -> None:
    """Stop the server; return once the app has noticed."""
    from desktop.service import ConnectionState

    server.stop()
    qtbot.waitUntil(lambda: service.state is not ConnectionState.ONLINE, timeout=WAIT_MS)


def server_comes_back(qtbot: Any, server: Any, service: Any) -> None:
    """Start the server again; return once the app is online with it."""
    from pytestqt.exceptions import TimeoutError

    from desktop.service import ConnectionState

    server.start()
    try:
        qtbot.waitUntil(lambda: service.state is ConnectionState.ONLINE, timeout=BACK_MS)
    except TimeoutError as error:
        raise AssertionError(f"not reconnected: {service.last_error}") from error
