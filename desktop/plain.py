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

import html
import sys

from PySide6.QtCore import QEvent, QModelIndex
from PySide6.QtGui import QHelpEvent, Qt  # QtGui's Qt adds convertFromPlainText
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
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
    out: list[str] = []
    run = 0
    for char in text:
        if char.isspace():
            run = 0
        elif run >= every:
            out.append(ZERO_WIDTH_SPACE)
            run = 0
        out.append(char)
        run += not char.isspace()
    return "".join(out)


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
        self._wrap_anywhere = wrap_anywhere
        self.setTextFormat(Qt.TextFormat.PlainText)
        if wrap_anywhere:
            self.setWordWrap(True)
        self.setText(text)

    def setText(self, text: str) -> None:  # type: ignore[override]
        self._source = text
        super().setText(breakable(text) if self._wrap_anywhere else text)

    def text(self) -> str:  # type: ignore[override]
        return self._source


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
