"""A pro window and a customer window on a real server: writing, live push,
edits, deletions, read marks, paging back through history, drafts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop.models import MessageModel
from desktop.settings import DraftStore

from .conftest import WAIT_MS, activate, open_conversation

LIVE_MS = 5000  # "within a few seconds, without any action"


def _texts(window) -> list[str | None]:
    return [message.text for message in window.messages.messages()]


def _type(qtbot, window, text: str) -> None:
    editor = window.pane.composer.editor
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if line.isascii():
            qtbot.keyClicks(editor, line)
        else:  # QTest types ASCII only (it asserts on other characters)
            editor.insertPlainText(line)
        if number < len(lines) - 1:
            qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)


def test_customer_and_pro_talk_live(qtbot, qloop, open_window, make_user) -> None:
    pro = make_user("pro", "Librairie Page")
    client = make_user("client", "Denis Roux")
    customer = open_window(client["api_key"], "client")
    shop = open_window(pro["api_key"], "pro")
    # The customer starts a conversation from the directory.
    customer.new_conversation()
    dialog = customer.directory_dialog
    qtbot.keyClicks(dialog.search, "Librairie")  # the search covers every page
    qtbot.waitUntil(lambda: dialog.select(pro["id"]), timeout=WAIT_MS)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: customer.messages.partner == pro["id"], timeout=WAIT_MS)
    composer = customer.pane.composer
    assert composer.counter.text() == "0 / 200"  # max_message_size of this server
    _type(qtbot, customer, "Bonjour !\nAvez-vous le dernier Goncourt ?")
    assert (
        composer.counter.text()
        == f"{len('Bonjour !') + 1 + len('Avez-vous le dernier Goncourt ?')} / 200"
    )
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: customer.messages.rowCount() == 1, timeout=WAIT_MS)
    assert _texts(customer) == ["Bonjour !\nAvez-vous le dernier Goncourt ?"]
    assert composer.text() == ""
    # The pro sees it arrive, without doing anything: list, badge, title, notice.
    qtbot.waitUntil(lambda: shop.conversations.row_of(client["id"]) is not None, timeout=LIVE_MS)
    row = shop.conversations.row_of(client["id"])
    qtbot.waitUntil(lambda: shop.conversations.conversation(row).unread == 1, timeout=LIVE_MS)
    assert shop.windowTitle().startswith("(1) ")
    assert "Denis Roux" in shop.notice.text  # no tray offscreen: an in-window notice
    # The pro opens it: read on the server, the read mark reaches the customer live.
    open_conversation(qtbot, shop, client["id"])
    assert _texts(shop) == ["Bonjour !\nAvez-vous le dernier Goncourt ?"]
    # Read once shown on screen (/lu), not by loading it.
    qtbot.waitUntil(lambda: shop.conversations.total_unread() == 0, timeout=LIVE_MS)
    assert not shop.windowTitle().startswith("(")
    first = customer.messages.index(0, 0)
    qtbot.waitUntil(lambda: first.data(MessageModel.ReadRole), timeout=LIVE_MS)
    # The pro answers; the customer's open conversation shows it live.
    _type(qtbot, shop, "Oui, il nous en reste deux.")
    qtbot.keyClick(shop.pane.composer.editor, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: customer.messages.rowCount() == 2, timeout=LIVE_MS)
    assert _texts(customer)[1] == "Oui, il nous en reste deux."
    assert not customer.messages.index(1, 0).data(MessageModel.MineRole)
    qtbot.waitUntil(lambda: shop.messages.rowCount() == 2, timeout=WAIT_MS)
    assert shop.messages.index(1, 0).data(MessageModel.MineRole)


def test_edit_delete_and_details(qtbot, qloop, open_window, make_user, connect) -> None:
    pro = make_user("pro")
    client = make_user("client")
    line = connect(client["api_key"])
    assert line.ask(f"/message {pro['id']} Je voudrais réserver").code == 200
    customer = open_window(client["api_key"], "client")
    shop = open_window(pro["api_key"], "pro")
    open_conversation(qtbot, customer, pro["id"])
    open_conversation(qtbot, shop, client["id"])
    mine = customer.messages.message(0)
    # Edit from the composer: the banner, Enter saves, the pro sees it live.
    customer.edit_message(mine)
    composer = customer.pane.composer
    assert composer.editing == mine.id and composer.edit_bar.isVisibleTo(customer)
    composer.set_text("Je voudrais réserver une table pour deux")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: composer.editing is None, timeout=WAIT_MS)
    assert customer.messages.index(0, 0).data(MessageModel.EditedRole)
    qtbot.waitUntil(
        lambda: shop.messages.message(0).text == "Je voudrais réserver une table pour deux",
        timeout=LIVE_MS,
    )
    assert shop.messages.index(0, 0).data(MessageModel.EditedRole)
    # Details (/info) in a dialog.
    customer.pane.view.setCurrentIndex(customer.messages.index(0, 0))
    customer.pane.view.info_action.trigger()
    qtbot.waitUntil(lambda: customer.info_dialog is not None, timeout=WAIT_MS)
    assert customer.info_dialog.isVisible()
    customer.info_dialog.close()
    # Delete through the context action and its confirmation.
    customer.pane.view.delete_action.trigger()
    box = customer.findChild(QMessageBox, "confirm")
    assert box is not None
    accept = next(
        b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole
    )
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: customer.messages.message(0).deleted, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: shop.messages.message(0).deleted, timeout=LIVE_MS)
    assert shop.messages.index(0, 0).data(Qt.ItemDataRole.DisplayRole) == "Message supprimé"
    # A pro cannot edit a customer's message: the actions stay off.
    shop.pane.view.setCurrentIndex(shop.messages.index(0, 0))
    shop.pane.view.edit_action.trigger()
    assert shop.pane.composer.editing is None


def test_paging_back_through_history(qtbot, qloop, open_window, make_user, connect) -> None:
    pro = make_user("pro")
    client = make_user("client")
    line = connect(client["api_key"])
    total = 24
    for number in range(1, total + 1):
        last = line.ask(f"/message {pro['id']} message {number}").body["id"]
    # All read already (else the view opens at the oldest unread: test_volume).
    assert connect(pro["api_key"]).ask(f"/lu {client['id']} {last}").code == 200
    shop = open_window(pro["api_key"], "pro")
    shop.resize(700, 420)
    open_conversation(qtbot, shop, client["id"])
    view = shop.pane.view
    # Pages of 3 (max_messages); the view fetches only what fills it.
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0, timeout=WAIT_MS)
    qtbot.wait(300)
    loaded = shop.messages.rowCount()
    assert 3 <= loaded < total
    assert _texts(shop)[-1] == f"message {total}"
    # Scrolling to the top fetches older pages, one at a time, in order.
    while shop.messages.rowCount() < total:
        before = shop.messages.rowCount()
        view.verticalScrollBar().setValue(0)
        qtbot.waitUntil(lambda before=before: shop.messages.rowCount() > before, timeout=WAIT_MS)
        # What the user was reading stays in place: not thrown back to the top.
        assert view.verticalScrollBar().value() > 0
    assert _texts(shop) == [f"message {number}" for number in range(1, total + 1)]
    assert not shop.messages.has_older()


def test_draft_survives_a_restart(qtbot, qloop, open_window, make_user, connect, desktop_dir):
    pro = make_user("pro")
    client = make_user("client")
    connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    first = open_window(pro["api_key"], "pro")
    open_conversation(qtbot, first, client["id"])
    _type(qtbot, first, "Réponse pas finie")
    first.close()
    drafts = desktop_dir / "drafts.json"
    assert drafts.stat().st_mode & 0o777 == 0o600
    second = open_window(pro["api_key"], "pro")
    open_conversation(qtbot, second, client["id"])
    assert second.pane.composer.text() == "Réponse pas finie"
    assert DraftStore().get(DraftStore.key(second.server_name, pro["id"], client["id"]))


def test_next_unread_and_new_messages_divider(qtbot, qloop, open_window, make_user, connect):
    pro = make_user("pro")
    first, second = make_user("client"), make_user("client")
    shop_line = connect(pro["api_key"])
    one = connect(first["api_key"])
    one.ask(f"/message {pro['id']} ancien")
    shop_line.ask(f"/conversation {first['id']}")  # read
    shop_line.ask(f"/message {first['id']} réponse")
    one.ask(f"/message {pro['id']} nouveau 1")
    one.ask(f"/message {pro['id']} nouveau 2")
    connect(second["api_key"]).ask(f"/message {pro['id']} autre")
    shop = open_window(pro["api_key"], "pro")
    activate(qtbot, shop)
    qtbot.waitUntil(lambda: shop.conversations.total_unread() == 3, timeout=WAIT_MS)
    shop.next_unread_action.trigger()  # Alt+Shift+Down
    qtbot.waitUntil(
        lambda: shop.messages.rowCount() > 0 and not shop.messages.loading, timeout=WAIT_MS
    )
    opened = shop.messages.partner
    assert opened in (first["id"], second["id"])
    if opened == first["id"]:
        dividers = [
            shop.messages.index(row, 0).data(MessageModel.DividerRole)
            for row in range(shop.messages.rowCount())
        ]
        assert dividers == [False, False, True, False]  # before "nouveau 1"
    shop.next_unread_action.trigger()
    qtbot.waitUntil(lambda: shop.messages.partner != opened, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: shop.conversations.total_unread() == 0, timeout=WAIT_MS)


def test_the_keyboard_alone(qtbot, qloop, open_window, make_user, connect) -> None:
    pro = make_user("pro")
    client = make_user("client", "Zoe Keyboard")
    connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour au clavier")
    shop = open_window(pro["api_key"], "pro")
    shop.activateWindow()
    qtbot.waitUntil(shop.isActiveWindow, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: shop.conversations.rowCount() == 1, timeout=WAIT_MS)
    # Ctrl+F: search; typing filters; Enter opens the match and goes to the composer.
    qtbot.keyClick(shop, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert shop.search.hasFocus()
    qtbot.keyClicks(shop.search, "zoe")
    assert shop.proxy.rowCount() == 1
    qtbot.keyClick(shop.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: shop.messages.rowCount() == 1, timeout=WAIT_MS)
    editor = shop.pane.composer.editor
    assert editor.hasFocus()
    qtbot.keyClicks(editor, "Bonjour Zoe")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: shop.messages.rowCount() == 2, timeout=WAIT_MS)
    # Up in the empty composer edits my last message; Escape cancels.
    qtbot.keyClick(editor, Qt.Key.Key_Up)
    assert shop.pane.composer.editing == shop.messages.message(1).id
    assert editor.toPlainText() == "Bonjour Zoe"
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert shop.pane.composer.editing is None and editor.toPlainText() == ""
    # A new message for the pro: Alt+Shift+Down finds nothing else unread.
    assert shop.next_unread_action.shortcut().toString() == "Alt+Shift+Down"


def test_reading_on_another_computer_clears_the_badges(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    """The pro reads a customer's messages in another session (another
    computer, the CLI): this window's badge for that customer and its title's
    total fall by as many, live, without a refresh."""
    pro = make_user("pro")
    first, second = make_user("client"), make_user("client")
    one = connect(first["api_key"])
    for number in range(3):
        assert one.ask(f"/message {pro['id']} question {number}").code == 200
    assert connect(second["api_key"]).ask(f"/message {pro['id']} autre").code == 200
    shop = open_window(pro["api_key"], "pro")
    qtbot.waitUntil(lambda: shop.conversations.total_unread() == 4, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: shop.unread_total == 4, timeout=WAIT_MS)

    def badge(client: dict) -> int:
        return shop.conversations.conversation(shop.conversations.row_of(client["id"])).unread

    elsewhere = connect(pro["api_key"])
    page = elsewhere.ask(f"/apercu {first['id']}").body
    middle = page["messages"][1]["id"]
    assert elsewhere.ask(f"/lu {first['id']} {middle}").code == 200  # two of three
    qtbot.waitUntil(lambda: badge(first) == 1, timeout=WAIT_MS)
    assert shop.unread_total == 2 and shop.windowTitle().startswith("(2) ")
    assert elsewhere.ask(f"/conversation {first['id']}").code == 200  # the rest
    qtbot.waitUntil(lambda: badge(first) == 0, timeout=WAIT_MS)
    assert badge(second) == 1 and shop.unread_total == 1
