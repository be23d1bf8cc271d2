"""Render the pro, customer and admin windows to docs/screenshots/*.png.

Starts a real server in a temporary folder, fills it with the demo data
(``python -m server --config X demo``), adds some live traffic through the
client library (replies, reads, an edit, a deletion, unread messages), then
opens the real windows offscreen, logs them in over TLS and saves
``widget.grab()`` of each. Nothing of the user's configuration is touched.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--lang fr|en]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_KEY = "screenshots-admin-key-0123456789"
WINDOW_SIZE = (1180, 720)
WAIT = 15.0
LONG_CONVERSATION = 600  # messages between Bruno and the bakery
ORDERS = (
    "deux baguettes tradition et un pain de campagne.",
    "six croissants, quatre pains au chocolat.",
    "une tarte aux pommes pour six personnes.",
    "un pain complet tranché, s'il vous plaît.",
    "une galette des rois, avec la fève en porcelaine.",
)
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


class Server:
    """A real server process in ``folder`` (port chosen by the system)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / ".tchatator"
        self.config.write_text(
            f'port = 0\nadmin_api_key = "{ADMIN_KEY}"\nmax_messages = 20\n'
            # The long conversation below is written through the protocol.
            "max_requests_per_minute = 100000\nmax_requests_per_hour = 1000000\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def demo(self) -> dict[str, dict[str, Any]]:
        output = subprocess.run(
            [sys.executable, "-m", "server", "--config", str(self.config), "demo"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        users = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        return {user["name"]: user for user in users}

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "--config", str(self.config), "serve"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                match = _LISTENING.search(line)
                if match:
                    self.port = int(match.group(2))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(30) or not self.port:
            raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)

    @property
    def ca_pem(self) -> str:
        return (self.folder / "certs" / "ca.pem").read_text(encoding="ascii")


async def _traffic(server: Server, users: dict[str, dict[str, Any]]) -> None:
    from desktop.trust import ssl_context_for
    from protocol.client import TchatatorClient

    context = ssl_context_for(server.ca_pem)

    async def login(name: str) -> TchatatorClient:
        client = TchatatorClient("127.0.0.1", server.port, ssl=context)
        await client.connect()
        await client.login(users[name]["api_key"])
        return client

    bakery = users["Boulangerie Dupont"]["id"]
    alice_id = users["Alice Bernard"]["id"]
    alice = await login("Alice Bernard")
    shop = await login("Boulangerie Dupont")
    bruno = await login("Bruno Petit")
    chloe = await login("Chloé Moreau")
    # Both sides read the conversation: read marks on both sides.
    await shop.conversation(alice_id)
    await alice.conversation(bakery)
    answer = await shop.send_message(
        alice_id, "Petite précision : la fournée sort à 10 h 30, ils seront tout chauds."
    )
    await shop.edit(
        answer, "Petite précision : la fournée sort à 10 h 15, ils seront encore tout chauds."
    )
    await alice.conversation(bakery)
    oops = await alice.send_message(bakery, "Oups, message envoyé trop vite.")
    await alice.delete(oops)
    await alice.send_message(
        bakery, "Super, merci !\nJe prendrai aussi une baguette tradition, si possible."
    )
    # Other customers write to the bakery: unread badges in the pro window.
    await chloe.send_message(bakery, "Bonjour ! Êtes-vous ouverts le lundi ?")
    await shop.conversation(users["Chloé Moreau"]["id"])
    await shop.send_message(users["Chloé Moreau"]["id"], "Bonjour, non : fermé le lundi.")
    # The garage answers Alice: an unread conversation in her window.
    garage = await login("Garage Martin")
    await garage.send_message(alice_id, "Bonjour Alice, oui, sans rendez-vous le matin.")
    # A long conversation (a regular customer): read, for the history shot.
    bruno_id = users["Bruno Petit"]["id"]
    last = 0
    for number in range(1, LONG_CONVERSATION + 1):
        if number % 3:
            last = await bruno.send_message(bakery, f"Commande n° {number} : {ORDERS[number % 5]}")
        else:
            await shop.send_message(bruno_id, f"Commande n° {number - 1} prête, à tout à l'heure.")
    await shop.mark_read(bruno_id, last)
    await bruno.send_message(bakery, "Bonjour, faites-vous des gâteaux d'anniversaire ?")
    await bruno.send_message(bakery, "Pour samedi, 8 personnes, au chocolat.")
    # A sanction, for the pro's list and the admin view.
    await shop.block(users["Chloé Moreau"]["id"])
    for client in (alice, shop, bruno, chloe, garage):
        await client.close()


async def capture(server: Server, users: dict[str, dict[str, Any]], out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from desktop.app import make_window
    from desktop.service import ChatService
    from desktop.settings import DraftStore, Settings
    from desktop.trust import ServerAddress

    address = ServerAddress("127.0.0.1", server.port)
    settings = Settings()
    shots = (
        ("pro", "pro", users["Boulangerie Dupont"]["api_key"], "Alice Bernard"),
        ("client", "client", users["Alice Bernard"]["api_key"], "Boulangerie Dupont"),
        ("pro-history", "pro", users["Boulangerie Dupont"]["api_key"], "Bruno Petit"),
        ("admin", "pro", ADMIN_KEY, None),
        ("client-dark", "client", users["Alice Bernard"]["api_key"], "Boulangerie Dupont"),
    )
    light = QApplication.palette()
    for name, kind, key, partner in shots:
        # What a dark desktop hands Qt (offscreen has no system scheme of its own).
        QApplication.setPalette(dark_palette() if name.endswith("-dark") else light)
        service = ChatService()
        await service.open_session(address, server.ca_pem, key)
        loaded = asyncio.Event()
        if name == "admin":
            service.logs_loaded.connect(lambda *_, event=loaded: event.set())
        else:
            service.conversations_loaded.connect(lambda *_, event=loaded: event.set())
        window = make_window(kind, service, settings, DraftStore())
        window.resize(*WINDOW_SIZE)  # type: ignore[attr-defined]
        window.show()  # type: ignore[attr-defined]
        await asyncio.wait_for(loaded.wait(), WAIT)
        if partner is not None:
            model = window.conversations  # type: ignore[attr-defined]
            row = next(
                number
                for number in range(model.rowCount())
                if model.conversation(number).partner.name == partner
            )
            history = asyncio.Event()
            service.history_loaded.connect(lambda *_, event=history: event.set())
            window.open_partner(model.conversation(row).partner)  # type: ignore[attr-defined]
            await asyncio.wait_for(history.wait(), WAIT)
            if name == "client":
                window.pane.composer.set_text("Je passe vers 11 h")  # type: ignore[attr-defined]
            if name == "pro-history":
                await scroll_into_history(window, pages=6)
        else:
            await asyncio.sleep(0.5)  # the users and sanctions tabs load too
        for _ in range(10):  # let layouts and scrolling settle
            await asyncio.sleep(0.05)
            QApplication.processEvents()
        path = out / f"{name}.png"
        window.grab().save(str(path))  # type: ignore[attr-defined]
        print(f"wrote {path}")
        window.close()  # type: ignore[attr-defined]
        await service.close()
        window.deleteLater()  # type: ignore[attr-defined]


async def scroll_into_history(window: Any, pages: int) -> None:
    """Scroll up through ``pages`` older pages, as a person reading back would.

    Only ``asyncio.sleep`` here: the qasync loop runs Qt's events meanwhile
    (a nested ``processEvents`` while replies arrive re-enters the loop)."""
    view = window.pane.view
    model = window.messages
    for _ in range(200):
        await asyncio.sleep(0.05)
        if not view._initial:
            break
    target = model.rowCount() + pages * 20
    for _ in range(400):
        if model.rowCount() >= target:
            break
        bar = view.verticalScrollBar()
        bar.setValue(max(0, bar.value() - view.viewport().height() // 3))
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)


def dark_palette() -> Any:
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, "#2b2b2e"),
        (roles.WindowText, "#e8e8ea"),
        (roles.Base, "#1f1f22"),
        (roles.AlternateBase, "#29292d"),
        (roles.Text, "#e8e8ea"),
        (roles.Button, "#35353a"),
        (roles.ButtonText, "#e8e8ea"),
        (roles.Highlight, "#3d7bd9"),
        (roles.HighlightedText, "#ffffff"),
        (roles.PlaceholderText, "#8e8e95"),
        (roles.ToolTipBase, "#35353a"),
        (roles.ToolTipText, "#e8e8ea"),
        (roles.Link, "#6ea8ff"),
        (roles.Mid, "#4a4a50"),
        (roles.Dark, "#18181a"),
        (roles.Light, "#4a4a50"),
    ):
        palette.setColor(role, QColor(colour))
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#77777d"))
    return palette


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lang", choices=("fr", "en"), default="fr")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tchatator-shots-") as folder:
        os.environ["TCHATATOR_DESKTOP_DIR"] = str(Path(folder) / "desktop")
        server = Server(Path(folder))
        users = server.demo()
        server.start()
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            import qasync
            from PySide6.QtWidgets import QApplication

            from desktop.i18n import install_translations

            app = QApplication.instance() or QApplication(sys.argv[:1])
            app.setQuitOnLastWindowClosed(False)
            install_translations(app, args.lang)  # type: ignore[arg-type]

            async def run() -> None:
                await _traffic(server, users)
                await capture(server, users, args.out)

            qasync.run(run())
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
