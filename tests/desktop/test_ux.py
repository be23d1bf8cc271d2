"""Issue 12, items 6, 7, 9 and 10, on a real server: long unbroken text, banners
that do not push the layout, a stale error banner, focus and keyboard."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from desktop.models import MessageModel
from desktop.service import ChatService
from desktop.settings import KeyStore, Settings
from desktop.widgets import LoginDialog, Severity

from .conftest import WAIT_MS, open_conversation

LIVE_MS = 5000
# The shared server's max_message_size is 200: the longest word it accepts.
LONG_WORD = "https://example.org/" + "a" * 180


def _screen():
    return QGuiApplication.primaryScreen().availableGeometry()


def _settle(qtbot) -> None:
    qtbot.wait(80)  # layouts and queued scrolls run


# --- item 6: long unbroken text -------------------------------------------------------------


def test_long_unbroken_text_wraps_and_dialogs_fit(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro")
    client = make_user("client", "N" * 100)  # the longest name, unbroken
    shop = open_window(pro["api_key"], "pro")
    shop.resize(760, 520)
    _settle(qtbot)
    width = shop.width()
    connect(client["api_key"]).ask(f"/message {pro['id']} {LONG_WORD}")
    # The notice quotes it: the window keeps its width, and could be made narrower.
    qtbot.waitUntil(lambda: LONG_WORD[:30] in shop.notice.text, timeout=LIVE_MS)
    _settle(qtbot)
    assert shop.width() == width
    assert shop.minimumSizeHint().width() < width
    # In the conversation: the bubble wraps inside the view, no sideways scrolling.
    open_conversation(qtbot, shop, client["id"])
    _settle(qtbot)
    assert shop.width() == width
    view = shop.pane.view
    rect = view.visualRect(shop.messages.index(0, 0))
    assert rect.width() <= view.viewport().width()
    # More than 6 lines: an unwrapped bubble (text line, time line, margins) is
    # already taller than 3 lines of text, so a lower bound would miss a lost wrap.
    assert rect.height() > 6 * view.fontMetrics().height()
    assert shop.minimumSizeHint().width() < width  # the long name does not widen it
    # The confirmation naming them fits the screen too.
    shop.block(client["id"])
    qtbot.waitUntil(lambda: shop.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    box = shop.findChild(QMessageBox, "confirm")
    qtbot.waitUntil(box.isVisible, timeout=WAIT_MS)
    _settle(qtbot)
    assert box.frameGeometry().width() <= _screen().width()
    box.reject()
    # The details dialog fits the screen, its buttons on it.
    view.setCurrentIndex(shop.messages.index(0, 0))
    view.info_action.trigger()
    qtbot.waitUntil(lambda: shop.info_dialog is not None, timeout=WAIT_MS)
    dialog = shop.info_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    _settle(qtbot)
    screen = _screen()
    assert dialog.frameGeometry().width() <= screen.width()
    assert dialog.frameGeometry().height() <= screen.height()
    for button in dialog.findChildren(QPushButton):
        top_left = button.mapTo(dialog, QPoint(0, 0))
        assert top_left.x() >= 0 and top_left.x() + button.width() <= dialog.width()
    dialog.close()


# --- item 7: banners ------------------------------------------------------------------------


def _last_rect(window):
    view = window.pane.view
    return view.visualRect(window.messages.index(window.messages.rowCount() - 1, 0))


def _last_fully_shown(window) -> bool:
    view = window.pane.view
    rect = _last_rect(window)
    return rect.isValid() and rect.top() >= 0 and rect.bottom() <= view.viewport().height()


def test_banners_overlay_and_the_last_bubble_stays_whole(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro")
    client = make_user("client")
    line = connect(client["api_key"])
    for number in range(8):
        last = line.ask(f"/message {pro['id']} message {number} " + "mot " * 12).body["id"]
    # Read already: the view opens at the newest (unread, at the oldest unread).
    assert connect(pro["api_key"]).ask(f"/lu {client['id']} {last}").code == 200
    shop = open_window(pro["api_key"], "pro")
    shop.resize(760, 520)
    open_conversation(qtbot, shop, client["id"])
    view = shop.pane.view
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not shop.messages.loading, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: view.at_bottom() and _last_fully_shown(shop), timeout=WAIT_MS)
    geometry = view.geometry()
    last = _last_rect(shop)
    # A notice and the offline banner: nothing under them moves.
    shop.notice.show_message("Une information assez longue " * 4, Severity.ERROR)
    shop.offline_bar.show_message("Hors ligne", Severity.WARNING)
    _settle(qtbot)
    assert view.geometry() == geometry
    assert _last_rect(shop) == last
    assert shop.notice.isVisible() and shop.offline_bar.isVisible()
    # They float over the top of the messages, one under the other.
    top = view.mapTo(shop.centralWidget(), QPoint(0, 0)).y()
    assert shop.offline_bar.geometry().top() == top
    assert shop.notice.geometry().top() == shop.offline_bar.geometry().bottom() + 1
    assert shop.notice.geometry().bottom() < top + view.height() // 2
    shop.notice.dismiss()
    shop.offline_bar.dismiss()
    _settle(qtbot)
    assert view.geometry() == geometry
    # Editing my last message: the edit banner, then a taller bubble; the last
    # bubble stays whole at the bottom all along.
    editor = shop.pane.composer.editor
    shop.pane.composer.set_text("Ma réponse")
    shop.pane.composer.submit()
    qtbot.waitUntil(
        lambda: shop.messages.message(shop.messages.rowCount() - 1).sender == pro["id"],
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: _last_fully_shown(shop) and view.at_bottom(), timeout=WAIT_MS)
    qtbot.keyClick(editor, Qt.Key.Key_Up)  # edit my last message
    assert shop.pane.composer.editing is not None
    _settle(qtbot)
    assert _last_fully_shown(shop)
    shop.pane.composer.set_text("Ma réponse, " + "complétée " * 16)
    shop.pane.composer.submit()
    qtbot.waitUntil(lambda: shop.pane.composer.editing is None, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: shop.messages.index(shop.messages.rowCount() - 1, 0).data(MessageModel.EditedRole),
        timeout=WAIT_MS,
    )
    _settle(qtbot)
    assert _last_fully_shown(shop) and view.at_bottom()


# --- item 9: a stale error banner -----------------------------------------------------------


def test_error_banner_goes_when_a_message_goes_through(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro")
    client = make_user("client")
    connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    shop_line = connect(pro["api_key"])
    assert shop_line.ask(f"/ban {client['id']}").code == 200
    customer = open_window(client["api_key"], "client")
    open_conversation(qtbot, customer, pro["id"])
    composer = customer.pane.composer
    composer.set_text("Pourquoi ?")
    composer.submit()
    qtbot.waitUntil(lambda: "Vous ne pouvez pas écrire" in customer.notice.text, timeout=WAIT_MS)
    assert customer.notice.isVisible()
    assert shop_line.ask(f"/deban {client['id']}").code == 200
    composer.submit()
    qtbot.waitUntil(lambda: composer.text() == "", timeout=WAIT_MS)
    assert not customer.notice.isVisible()


# --- item 10: focus and keyboard ------------------------------------------------------------


def test_focus_goes_back_to_the_key_after_a_failed_login(qtbot, qloop, run, server) -> None:
    dialog = LoginDialog(
        "client",
        ChatService(),
        Settings(),
        KeyStore(),
        server=f"127.0.0.1:{server.port}",
        key="bad",
    )
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.file_radio.setChecked(True)
    dialog.ca_edit.setText(str(server.ca_file))
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "n'est pas valable" in dialog.status.text(), timeout=WAIT_MS)
    assert dialog.focusWidget() is dialog.key_edit
    assert dialog.key_edit.selectedText() == "bad"  # typing replaces it


def test_the_composer_takes_the_focus_when_a_conversation_opens(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro")
    first, second, third = make_user("client"), make_user("client"), make_user("client")
    for client in (first, second, third):
        connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    shop = open_window(pro["api_key"], "pro")
    editor = shop.pane.composer.editor
    qtbot.waitUntil(lambda: shop.conversations.rowCount() == 3, timeout=WAIT_MS)
    # By a click on the list.
    shop.list_view.setFocus()
    rect = shop.list_view.visualRect(shop.proxy.index(1, 0))
    qtbot.mouseClick(shop.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: shop.messages.partner >= 0, timeout=WAIT_MS)
    assert shop.focusWidget() is editor
    # By the keyboard: Down then Enter in the list.
    shop.list_view.setFocus()
    qtbot.keyClick(shop.list_view, Qt.Key.Key_Down)
    assert shop.focusWidget() is shop.list_view  # browsing does not steal the focus
    opened = shop.messages.partner
    qtbot.keyClick(shop.list_view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: shop.messages.partner != opened, timeout=WAIT_MS)
    assert shop.focusWidget() is editor
    # By "next unread".
    seen = {shop.messages.partner, opened}
    shop.list_view.setFocus()
    shop.next_unread_action.trigger()
    qtbot.waitUntil(lambda: shop.messages.partner not in seen, timeout=WAIT_MS)
    assert shop.focusWidget() is editor


def test_new_conversation_by_keyboard(qtbot, qloop, open_window, make_user) -> None:
    pro = make_user("pro", "Quincaillerie Unique Zéphyr")
    make_user("pro", "Quincaillerie Autre")
    client = make_user("client")
    customer = open_window(client["api_key"], "client")
    customer.new_conversation()
    dialog = customer.directory_dialog
    qtbot.waitUntil(lambda: dialog.proxy.rowCount() > 1, timeout=WAIT_MS)
    # Down enters the table on the first row.
    qtbot.keyClick(dialog.search, Qt.Key.Key_Down)
    assert dialog.focusWidget() is dialog.table
    assert dialog.table.selectionModel().selectedRows()
    # Enter on a single match writes to it.
    dialog.search.setFocus()
    dialog.search.setText("Unique Z")
    qtbot.waitUntil(lambda: dialog.proxy.rowCount() == 1, timeout=WAIT_MS)
    qtbot.keyClick(dialog.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: customer.messages.partner == pro["id"], timeout=WAIT_MS)
    assert customer.focusWidget() is customer.pane.composer.editor


def test_the_message_list_shows_a_focus_ring(qtbot, qloop, open_window, make_user, connect):
    pro = make_user("pro")
    client = make_user("client")
    connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    shop = open_window(pro["api_key"], "pro")
    open_conversation(qtbot, shop, client["id"])
    view = shop.pane.view
    highlight = view.palette().color(QPalette.ColorRole.Highlight)

    def border_colour():
        image = view.viewport().grab().toImage()
        return image.pixelColor(0, image.height() // 2)

    shop.search.setFocus()
    _settle(qtbot)
    assert border_colour() != highlight
    view.setFocus(Qt.FocusReason.TabFocusReason)
    _settle(qtbot)
    assert border_colour() == highlight
    assert view.currentIndex().isValid()  # a message to act on, outlined
    QApplication.processEvents()
