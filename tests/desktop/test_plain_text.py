"""Remote text is shown literally, never as rich text (issue 10, item 3).

A customer and a professional named with hostile rich text, and a message of
the same, go through every widget that shows remote text: notices and their
tooltips, the conversation header, the status bar, the list's and the
messages' tooltips, the details dialog, the confirmations, the moderation
view. Each must show the characters as typed: what a person reads is
computed the way Qt decides it (``Qt::mightBeRichText`` for ``AutoText``,
as a ``QLabel``, a ``QMessageBox`` and ``QToolTip`` do).
"""

from __future__ import annotations

import html
import sys

from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QContextMenuEvent, QHelpEvent, QKeyEvent, QTextDocument
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QToolTip, QWidget

from desktop.plain import ZERO_WIDTH_SPACE, PlainLabel, plain_notification, plain_tooltip
from desktop.widgets import Severity
from tests.support import ADMIN_KEY

from .conftest import WAIT_MS, open_conversation

HOSTILE = '<b style="font-size:40pt;color:red">Compte suspendu</b><img src="file:///etc/passwd">'
HOSTILE_TEXT = HOSTILE + " &amp; <i>fin</i>"


def shown(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """What a person reads of ``text`` shown in ``text_format`` (zero-width
    spaces, the break opportunities given to long words, are invisible)."""
    text = text.replace(ZERO_WIDTH_SPACE, "")
    rich = text_format == Qt.TextFormat.RichText or (
        text_format == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text)
    )
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def assert_literal(widget: QLabel | QMessageBox, expected: str = HOSTILE) -> None:
    assert expected in shown(widget.text(), widget.textFormat()), widget.objectName()


def tooltip_of(view: QWidget, row: int) -> str:
    """Hover ``row`` of an item view: the tooltip text Qt shows."""
    QToolTip.hideText()
    rect = view.visualRect(view.model().index(row, 0))
    local = rect.center()
    event = QHelpEvent(QEvent.Type.ToolTip, local, view.viewport().mapToGlobal(local))
    QApplication.sendEvent(view.viewport(), event)
    return QToolTip.text()


def labels_showing(root: QWidget, needle: str = "Compte suspendu") -> list[QLabel]:
    return [label for label in root.findChildren(QLabel) if needle in label.text()]


def test_hostile_names_and_text_are_shown_literally(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro", HOSTILE)
    client = make_user("client", HOSTILE)
    shop = open_window(pro["api_key"], "pro")
    # The status bar names the user (elided when long: in full in its tooltip).
    assert shop.connection_label.textFormat() == Qt.TextFormat.PlainText
    assert HOSTILE[:20] in shop.connection_label.text()
    assert HOSTILE in shown(shop.connection_label.toolTip())
    # A message arrives: the in-window notice names the sender and quotes the text.
    connect(client["api_key"]).ask(f"/message {pro['id']} {HOSTILE_TEXT}")
    qtbot.waitUntil(lambda: "Compte suspendu" in shop.notice.text, timeout=WAIT_MS)
    assert_literal(shop.notice.label, HOSTILE)
    assert_literal(shop.notice.label, HOSTILE_TEXT[:120])
    # The list's tooltip (name and preview).
    qtbot.waitUntil(lambda: shop.conversations.row_of(client["id"]) is not None, timeout=WAIT_MS)
    assert HOSTILE in shown(tooltip_of(shop.list_view, 0))
    # The conversation: header, message tooltip.
    open_conversation(qtbot, shop, client["id"])
    assert_literal(shop.pane.title)
    assert HOSTILE_TEXT in shown(tooltip_of(shop.pane.view, 0))
    # The details dialog: sender, recipient, text.
    shop.pane.view.setCurrentIndex(shop.messages.index(0, 0))
    shop.pane.view.info_action.trigger()
    qtbot.waitUntil(lambda: shop.info_dialog is not None, timeout=WAIT_MS)
    fields = labels_showing(shop.info_dialog)
    assert len(fields) == 3  # from, to, text
    for field in fields:
        assert_literal(field)
    assert any(HOSTILE_TEXT in shown(f.text(), f.textFormat()) for f in fields)
    shop.info_dialog.close()
    # Block: the confirmation names the customer.
    shop.block(client["id"])
    qtbot.waitUntil(lambda: shop.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    box = shop.findChild(QMessageBox, "confirm")
    assert_literal(box)
    box.reject()
    # Done: the success notice names them too.
    shop.block(client["id"], ask=False)
    qtbot.waitUntil(lambda: shop.notice.severity is Severity.SUCCESS, timeout=WAIT_MS)
    assert_literal(shop.notice.label)
    # An error's detail (the server's own words) is the notice's tooltip.
    shop.notice.show_message("Erreur", Severity.ERROR, detail=HOSTILE)
    assert HOSTILE in shown(shop.notice.label.toolTip())
    # And no label anywhere in the window renders the name as rich text.
    found = labels_showing(shop)
    assert found
    for label in found:
        assert_literal(label)


def test_the_customer_and_the_moderator_see_it_literally(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro", HOSTILE)
    client = make_user("client", HOSTILE)
    connect(client["api_key"]).ask(f"/message {pro['id']} {HOSTILE_TEXT}")
    customer = open_window(client["api_key"], "client")
    open_conversation(qtbot, customer, pro["id"])
    assert_literal(customer.pane.title)
    assert HOSTILE in shown(customer.connection_label.toolTip())
    assert HOSTILE in shown(tooltip_of(customer.list_view, 0))
    # The moderation view: the user table's tooltips and the confirmation.
    admin = open_window(ADMIN_KEY, "client")
    qtbot.waitUntil(lambda: admin.select_user(client["id"]), timeout=WAIT_MS)
    admin._moderate("ban")
    qtbot.waitUntil(lambda: admin.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    box = admin.findChild(QMessageBox, "confirm")
    assert_literal(box)
    box.reject()


def test_plain_helpers() -> None:
    assert shown(plain_tooltip(HOSTILE)) == HOSTILE
    assert plain_tooltip("") == ""
    if sys.platform.startswith("linux"):  # notification servers read markup in the body
        escaped = plain_notification(HOSTILE)
        assert "<" not in escaped and html.unescape(escaped) == HOSTILE


def test_copying_a_wrapped_long_word_gives_the_text_as_typed(qtbot) -> None:
    """The details dialog wraps a long URL by inserting break opportunities;
    what a person copies from it (Ctrl+C, the context menu, the X11 selection)
    is the URL as it was sent, without them."""
    url = "https://example.com/" + "a1b2c3d4" * 50
    text = f"Voir {url} merci"
    label = PlainLabel(text, wrap_anywhere=True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    qtbot.addWidget(label)
    label.resize(300, 400)
    label.show()
    qtbot.waitExposed(label)
    shown = QLabel.text(label)
    assert ZERO_WIDTH_SPACE in shown and label.text() == text  # wrapped, source kept
    clipboard = QApplication.clipboard()

    label.setSelection(0, len(shown))
    qtbot.keyClick(label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == text

    start, end = shown.index("https"), shown.index(" merci")
    label.setSelection(start, end - start)
    qtbot.keyClick(label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == url

    clipboard.setText("autre chose")
    where = QPoint(5, 5)
    QApplication.sendEvent(
        label,
        QContextMenuEvent(QContextMenuEvent.Reason.Mouse, where, label.mapToGlobal(where)),
    )
    menu = label._menu
    assert menu is not None
    copy = menu.actions()[0]
    assert copy.isEnabled()
    copy.trigger()
    assert clipboard.text() == url
    menu.close()

    # Part of the word only: the breaks inside the selection go, none of the text.
    middle = shown.index("a1b2", start + 30)
    label.setSelection(middle, 40)
    label.keyPressEvent(
        QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    )
    assert clipboard.text() == label.selected_source_text()
    assert ZERO_WIDTH_SPACE not in clipboard.text() and clipboard.text() in url
    assert len(clipboard.text()) == 40 - label.selectedText().count(ZERO_WIDTH_SPACE)
