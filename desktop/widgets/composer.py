"""Writing a message: Enter sends, Shift+Enter adds a line.

Newlines go to the service as they are; the client library escapes them as
``\\n`` (Pactocole section 2). The counter counts code points, as the server's
``max_message_size`` does, and sending is refused above it before any request.
The composer also edits one of my messages (context menu, F2): same box, a
banner says so, Escape cancels.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["Composer", "MessageEdit"]

COMPOSER_LINES = 3
OVER_LIMIT_STYLE = "color: #e53935; font-weight: bold;"


class MessageEdit(QPlainTextEdit):
    """A text box where Enter submits and Shift+Enter inserts a newline."""

    submitted = Signal()
    cancelled = Signal()
    edit_last = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        modifiers = event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            self.cancelled.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Up and not self.toPlainText() and not modifiers:
            self.edit_last.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str)
    edit_requested = Signal(int, str)
    edit_last_requested = Signal()
    text_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self._limit = 1000
        self._online = True
        self._busy = False
        self._enabled = False
        self._editing: int | None = None
        self._saved_draft = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # The edit banner.
        self.edit_bar = QWidget(self)
        bar = QHBoxLayout(self.edit_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        self.edit_label = QLabel(self.tr("Editing a message (Escape cancels)"), self.edit_bar)
        cancel = QToolButton(self.edit_bar)
        cancel.setText(self.tr("Cancel"))
        cancel.setAccessibleName(self.tr("Cancel editing"))
        cancel.clicked.connect(self.cancel_edit)
        bar.addWidget(self.edit_label, 1)
        bar.addWidget(cancel)
        self.edit_bar.hide()
        layout.addWidget(self.edit_bar)
        row = QHBoxLayout()
        self.editor = MessageEdit(self)
        self.editor.setObjectName("composer-text")
        self.editor.setTabChangesFocus(True)
        self.editor.setPlaceholderText(
            self.tr("Write a message… (Enter sends, Shift+Enter: new line)")
        )
        self.editor.setAccessibleName(self.tr("Message to send"))
        self.editor.setAccessibleDescription(
            self.tr("Enter sends the message, Shift+Enter adds a line.")
        )
        lines = self.editor.fontMetrics().lineSpacing() * COMPOSER_LINES
        self.editor.setFixedHeight(int(lines + 2 * self.editor.frameWidth() + 8))
        row.addWidget(self.editor, 1)
        side = QVBoxLayout()
        self.send_button = QPushButton(self.tr("&Send"), self)
        self.send_button.setObjectName("send")
        self.send_button.setToolTip(self.tr("Send (Enter)"))
        self.send_button.setAccessibleName(self.tr("Send the message"))
        self.counter = QLabel(self)
        self.counter.setObjectName("counter")
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.counter.setAccessibleName(self.tr("Characters used"))
        side.addWidget(self.send_button)
        side.addWidget(self.counter)
        row.addLayout(side)
        layout.addLayout(row)
        self.editor.textChanged.connect(self._text_changed)
        self.editor.submitted.connect(self.submit)
        self.editor.cancelled.connect(self.cancel_edit)
        self.editor.edit_last.connect(self.edit_last_requested)
        self.send_button.clicked.connect(self.submit)
        self._refresh()

    # --- state ---

    def set_limit(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._refresh()

    def set_online(self, online: bool) -> None:
        self._online = online
        self._refresh()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.editor.setReadOnly(busy)
        self._refresh()

    def set_conversation_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        self.editor.setEnabled(enabled)
        self._refresh()

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def editing(self) -> int | None:
        return self._editing

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text)
        cursor = self.editor.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.editor.setTextCursor(cursor)

    def clear(self) -> None:
        self.editor.clear()

    def draft(self) -> str:
        """The text to keep as a draft (not the text of a message being edited)."""
        return self._saved_draft if self._editing is not None else self.text()

    # --- editing one of my messages ---

    def start_edit(self, message_id: int, text: str) -> None:
        if self._editing is None:
            self._saved_draft = self.text()
        self._editing = message_id
        self.edit_bar.show()
        self.send_button.setText(self.tr("&Save"))
        self.send_button.setToolTip(self.tr("Save the change (Enter)"))
        self.set_text(text)
        self.editor.setFocus()
        self._refresh()

    def cancel_edit(self) -> None:
        if self._editing is None:
            return
        self._editing = None
        self.edit_bar.hide()
        self.send_button.setText(self.tr("&Send"))
        self.send_button.setToolTip(self.tr("Send (Enter)"))
        self.set_text(self._saved_draft)
        self._saved_draft = ""
        self._refresh()

    def finish_edit(self, message_id: int) -> None:
        if self._editing == message_id:
            self.cancel_edit()

    # --- sending ---

    def _problem(self) -> str | None:
        text = self.text()
        if not self._enabled:
            return self.tr("Choose a conversation first.")
        if not self._online and self._editing is not None:
            return self.tr("Offline: the change can be saved once the connection is back.")
        if self._busy:
            return self.tr("Sending…")
        if not text.strip():
            return self.tr("The message is empty.")
        if len(text) > self._limit:
            return self.tr("The message is too long.")
        return None

    def submit(self) -> None:
        if self._problem() is not None or self._busy:
            return
        text = self.text()
        if self._editing is not None:
            self.edit_requested.emit(self._editing, text)
        else:
            self.send_requested.emit(text)

    def _text_changed(self) -> None:
        self._refresh()
        if self._editing is None:
            self.text_changed.emit(self.text())

    def _refresh(self) -> None:
        count = len(self.text())
        self.counter.setText(f"{count} / {self._limit}")
        over = count > self._limit
        # Red and bold over the limit: readable on light and dark schemes.
        self.counter.setStyleSheet(OVER_LIMIT_STYLE if over else "")
        self.counter.setAccessibleDescription(
            self.tr("Over the limit of %1 characters").replace("%1", str(self._limit))
            if over
            else ""
        )
        problem = self._problem()
        self.send_button.setEnabled(problem is None)
        if problem is not None:
            tip = problem
        elif self._editing is not None:
            tip = self.tr("Save the change (Enter)")
        elif not self._online:
            # Written offline, sent when the connection is back (the outbox).
            tip = self.tr("Offline: the message will be sent when the connection is back.")
        else:
            tip = self.tr("Send (Enter)")
        self.send_button.setToolTip(tip)
