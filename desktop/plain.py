"""Remote text is shown as it was typed, never interpreted (issue 10, item 3).

Message text, user names and the server's own error words come from other
people. Qt guesses whether a string is rich text (``Qt::mightBeRichText``) in
every ``QLabel`` left on ``AutoText``, in ``QMessageBox`` and in every tooltip:
a customer named ``<b style="font-size:40pt">Compte suspendu</b>`` would show
a fake banner in a pro's window, and ``<img src="file:///...">`` would load a
local file. So:

- every label that may hold remote text is a ``PlainLabel``;
- every tooltip that may hold remote text goes through ``plain_tooltip``
  (tooltips have no format switch: the text is escaped into a paragraph that
  Qt renders back to exactly the original characters);
- item views' tooltips (``ToolTipRole``) are shown by their delegate
  through ``show_plain_tooltip``;
- desktop notifications go through ``plain_notification`` (freedesktop
  notification servers read a subset of HTML in the body).
"""

from __future__ import annotations

import bisect
import html
import sys

from PySide6.QtCore import QEvent, QModelIndex
from PySide6.QtGui import (
    QClipboard,
    QContextMenuEvent,
    QGuiApplication,
    QHelpEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    Qt,  # QtGui's Qt adds convertFromPlainText
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QMenu,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

__all__ = [
    "ZERO_WIDTH_SPACE",
    "PlainLabel",
    "PlainToolTipDelegate",
    "breakable",
    "plain_notification",
    "plain_tooltip",
    "show_plain_tooltip",
]


ZERO_WIDTH_SPACE = "\u200b"
BREAK_EVERY = 12


def breakable(text: str, every: int = BREAK_EVERY) -> str:
    """``text`` with a break opportunity every ``every`` characters of a long word.

    ``QLabel`` wraps at word boundaries only: one 400-character word (a URL)
    would make its minimum width, and so the window's, 3,000 pixels wide.
    """
    return _with_breaks(text, every)[0]


def _with_breaks(text: str, every: int = BREAK_EVERY) -> tuple[str, list[int]]:
    """``breakable(text)``, and where in it the inserted breaks are (ascending)."""
    out: list[str] = []
    breaks: list[int] = []
    run = 0
    for char in text:
        if char.isspace():
            run = 0
        elif run >= every:
            breaks.append(len(out))
            out.append(ZERO_WIDTH_SPACE)
            run = 0
        out.append(char)
        run += not char.isspace()
    return "".join(out), breaks


class PlainLabel(QLabel):
    """A ``QLabel`` that shows its text literally, whatever it looks like.

    With ``wrap_anywhere`` it also wraps, breaking long words where it must
    (``text()`` still returns the text as given).
    """

    def __init__(
        self, text: str = "", parent: QWidget | None = None, *, wrap_anywhere: bool = False
    ) -> None:
        super().__init__(parent)
        self._source = ""
        self._breaks: list[int] = []
        self._menu: QMenu | None = None
        self._wrap_anywhere = wrap_anywhere
        self.setTextFormat(Qt.TextFormat.PlainText)
        if wrap_anywhere:
            self.setWordWrap(True)
        self.setText(text)

    def setText(self, text: str) -> None:  # type: ignore[override]
        self._source = text
        shown, self._breaks = _with_breaks(text) if self._wrap_anywhere else (text, [])
        super().setText(shown)

    def text(self) -> str:  # type: ignore[override]
        return self._source

    # What a person copies is the text as given: the breaks inserted for wrapping
    # are left out (a URL copied from the details dialog must still work).

    def selected_source_text(self) -> str:
        """The selection, in the text as given."""
        start = self.selectionStart()
        if start < 0:
            return ""
        end = start + len(self.selectedText())
        return self._source[self._source_index(start) : self._source_index(end)]

    def _source_index(self, shown: int) -> int:
        return shown - bisect.bisect_left(self._breaks, shown)

    def _copy(self, mode: QClipboard.Mode = QClipboard.Mode.Clipboard) -> None:
        QGuiApplication.clipboard().setText(self.selected_source_text(), mode)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._breaks and self.hasSelectedText() and event.matches(QKeySequence.StandardKey.Copy):
            self._copy()
            event.accept()
            return
        super().keyPressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)  # X11/Wayland: the selection is copied here
        clipboard = QGuiApplication.clipboard()
        if self._breaks and self.hasSelectedText() and clipboard.supportsSelection():
            self._copy(QClipboard.Mode.Selection)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        selectable = self.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
        if not (self._breaks and selectable):
            super().contextMenuEvent(event)
            return
        # QLabel's own menu (Copy, Select All), with a Copy of our own.
        if self._menu is not None:
            self._menu.deleteLater()  # the previous one, closed by now
        menu = QMenu(self)
        copy = menu.addAction(self.tr("&Copy"))
        copy.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        copy.setEnabled(self.hasSelectedText())
        copy.triggered.connect(lambda: self._copy())
        everything = menu.addAction(self.tr("Select All"))
        shown = len(self._source) + len(self._breaks)
        everything.triggered.connect(lambda: self.setSelection(0, shown))
        menu.popup(event.globalPos())
        self._menu = menu


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip that shows it literally (empty stays empty: no tooltip)."""
    if not text:
        return ""
    return Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal)


def plain_notification(text: str) -> str:
    """``text`` for a desktop notification's body: markup escaped where it is read."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return html.escape(text, quote=False)
    return text


def show_plain_tooltip(event: QHelpEvent, view: QAbstractItemView, index: QModelIndex) -> bool:
    """An item view's tooltip (``ToolTipRole``) shown literally; for ``helpEvent``."""
    text = index.data(Qt.ItemDataRole.ToolTipRole) if index.isValid() else None
    if not text:
        QToolTip.hideText()
        event.ignore()
        return False
    QToolTip.showText(event.globalPos(), plain_tooltip(str(text)), view, view.visualRect(index))
    return True


class PlainToolTipDelegate(QStyledItemDelegate):
    """The standard delegate, with tooltips shown literally (tables of names)."""

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: QModelIndex,
    ) -> bool:
        if event is not None and event.type() == QEvent.Type.ToolTip:
            return show_plain_tooltip(event, view, index)
        return super().helpEvent(event, view, option, index)
