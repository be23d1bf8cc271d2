"""Blocks and bans from the pro's conversation header; the admin's moderation view."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop.models import LogModel
from tests.support import ADMIN_KEY

from .conftest import WAIT_MS, open_conversation


def _confirm(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    box = window.findChild(QMessageBox, "confirm")
    button = next(
        b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole
    )
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_pro_blocks_bans_and_lifts(qtbot, qloop, open_window, make_user, connect) -> None:
    pro = make_user("pro")
    client = make_user("client", "Emma Blanc")
    connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    shop = open_window(pro["api_key"], "pro")
    customer = open_window(client["api_key"], "client")
    open_conversation(qtbot, shop, client["id"])
    open_conversation(qtbot, customer, pro["id"])
    pane = shop.pane
    assert pane.block_button.isVisibleTo(shop) and not pane.unblock_button.isVisibleTo(shop)
    # Block from the header, through its confirmation: "until when" is shown.
    qtbot.mouseClick(pane.block_button, Qt.MouseButton.LeftButton)
    _confirm(qtbot, shop)
    qtbot.waitUntil(lambda: "bloqué·e jusqu'au" in pane.status.text(), timeout=WAIT_MS)
    assert pane.unblock_button.isVisibleTo(shop) and not pane.block_button.isVisibleTo(shop)
    assert "jusqu'au" in shop.notice.text
    row = shop.conversations.row_of(client["id"])
    qtbot.waitUntil(
        lambda: shop.conversations.conversation(row).status == "bloqué·e", timeout=WAIT_MS
    )
    # The customer's message is refused with a clear sentence; the text stays.
    composer = customer.pane.composer
    composer.set_text("Pourquoi ?")
    composer.submit()
    qtbot.waitUntil(lambda: "Vous ne pouvez pas écrire" in customer.notice.text, timeout=WAIT_MS)
    assert composer.text() == "Pourquoi ?" and not composer.busy
    # Blocking twice: a 409, explained.
    shop.block(client["id"], ask=False)
    qtbot.waitUntil(lambda: "déjà bloqué" in shop.notice.text, timeout=WAIT_MS)
    # Unblock, ban, and the list of sanctions with its lift button.
    qtbot.mouseClick(pane.unblock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "bloqué" not in pane.status.text(), timeout=WAIT_MS)
    shop.ban(client["id"], ask=False)
    qtbot.waitUntil(lambda: "banni" in pane.status.text(), timeout=WAIT_MS)
    assert pane.unban_button.isVisibleTo(shop)
    shop.show_sanctions()
    dialog = shop.sanctions_dialog
    qtbot.waitUntil(lambda: shop.restrictions.rowCount() == 1, timeout=WAIT_MS)
    assert shop.restrictions.index(0, 1).data() == "Ban"  # a state, not the verb
    assert "Emma Blanc" in shop.restrictions.index(0, 0).data()
    dialog.table.selectRow(0)
    qtbot.mouseClick(dialog.lift_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shop.restrictions.rowCount() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "banni" not in pane.status.text(), timeout=WAIT_MS)
    dialog.close()
    # Free again: the customer's message goes through.
    composer.submit()
    qtbot.waitUntil(lambda: customer.messages.rowCount() == 2, timeout=WAIT_MS)


def test_admin_moderation_view(qtbot, qloop, open_window, make_user, connect) -> None:
    client = make_user("client", "Félix Noir")
    pro = make_user("pro")
    line = connect(client["api_key"])
    line.ask(f"/message {pro['id']} Bonjour")
    admin = open_window(ADMIN_KEY, "pro")
    assert admin.objectName() == "admin-window"
    # The log table, newest first, with a working refresh.
    qtbot.waitUntil(lambda: admin.logs.rowCount() > 0, timeout=WAIT_MS)
    commands = {admin.logs.index(row, 3).data() for row in range(admin.logs.rowCount())}
    assert "/connexion" in commands and "/message" in commands
    before = admin.logs.rowCount()
    admin.log_count.setValue(before + 50)
    qtbot.mouseClick(admin.refresh_logs_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: admin.logs.rowCount() > before, timeout=WAIT_MS)
    # Newest first on screen (the server sends them newest last).
    shown_first = admin.log_table.model().index(0, 0).data(LogModel.SortRole)
    assert shown_first == admin.logs.rowCount() - 1
    admin.log_filter.setText("/message")
    assert all(
        admin.log_proxy.index(row, 3).data() == "/message"
        for row in range(admin.log_proxy.rowCount())
    )
    # Reload the configuration.
    admin.sync_action.trigger()
    qtbot.waitUntil(lambda: "Configuration rechargée" in admin.notice.text, timeout=WAIT_MS)
    # Ban any customer from the users tab; the sanctions tab shows it. The
    # search covers every page of the directory.
    admin.tabs.setCurrentIndex(1)
    admin.user_filter.setText(client["name"])
    qtbot.waitUntil(lambda: admin.select_user(client["id"]), timeout=WAIT_MS)
    assert admin.ban_button.isEnabled()
    admin._moderate("ban", ask=False)
    qtbot.waitUntil(
        lambda: any(
            admin.restrictions.row(row).client.id == client["id"]
            for row in range(admin.restrictions.rowCount())
        ),
        timeout=WAIT_MS,
    )
    assert line.ask(f"/message {pro['id']} Encore moi").code == 403
    admin._moderate("unban")
    qtbot.waitUntil(lambda: "levés" in admin.notice.text, timeout=WAIT_MS)
    assert line.ask(f"/message {pro['id']} Encore moi").code == 200
    # A pro cannot be moderated: the buttons stay off.
    admin.user_filter.setText(pro["name"])
    qtbot.waitUntil(lambda: admin.select_user(pro["id"]), timeout=WAIT_MS)
    assert not admin.ban_button.isEnabled()


def test_directory_search_covers_every_page(qtbot, qloop, open_window, fresh_server) -> None:
    server = fresh_server(directory_page_size=4)
    for number in range(30):
        server.add_user("pro", f"Atelier {number:02}")
    wanted = server.add_user("pro", "Zinguerie du Port")  # last by name
    client = server.add_user("client", "Yvon")
    window = open_window(client["api_key"], "client", on=server)
    window.new_conversation()
    dialog = window.directory_dialog
    # The table fetches the pages that fill it, not the whole directory...
    qtbot.waitUntil(lambda: window.directory.rowCount() >= 4, timeout=WAIT_MS)
    qtbot.wait(300)
    assert window.directory.rowCount() < 31
    # ...but a search does.
    dialog.search.setText("Zinguerie")
    qtbot.waitUntil(lambda: dialog.select(wanted["id"]), timeout=WAIT_MS)
    assert dialog.proxy.rowCount() == 1
    dialog.close()
