"""The left column of the chat window: the filter, "new conversation", the list.

It shows ``ConversationListModel`` through a filter proxy; which conversation
opens, and when, is the window's business (it listens to ``view``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..delegates import ConversationDelegate
from ..models import ConversationListModel

__all__ = ["ConversationList", "SearchBox"]


class SearchBox(QLineEdit):
    """The conversation filter; Down goes to the list, Enter opens the first match."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.down: Callable[[], None] | None = None
        self.enter: Callable[[], None] | None = None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Down and self.down is not None:
            self.down()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.enter is not None:
            self.enter()
            return
        super().keyPressEvent(event)


class ConversationList(QWidget):
    """Search box, "new conversation" button (customers only), the conversations."""

    def __init__(
        self, model: ConversationListModel, pro: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conversation-list")
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setFilterRole(ConversationListModel.NameRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        layout = QVBoxLayout(self)
        margin = self.fontMetrics().height() // 2
        layout.setContentsMargins(margin, margin, 0, margin)
        self.search = SearchBox(self)
        self.search.setObjectName("search")
        self.search.setPlaceholderText(self.tr("Search (Ctrl+K)"))
        self.search.setAccessibleName(self.tr("Search a conversation"))
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.new_button = QPushButton(self.tr("&New conversation"), self)
        self.new_button.setObjectName("new-conversation")
        self.new_button.setToolTip(self.tr("Write to a professional (Ctrl+N)"))
        self.new_button.setVisible(not pro)
        layout.addWidget(self.new_button)
        self.view = QListView(self)
        self.view.setObjectName("conversations")
        self.view.setAccessibleName(self.tr("Conversations"))
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(ConversationDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setUniformItemSizes(True)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        layout.addWidget(self.view, 1)
        self.setTabOrder(self.search, self.new_button)
        self.setTabOrder(self.new_button, self.view)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.search.down = self.focus_list

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def focus_list(self) -> None:
        self.view.setFocus()
        if not self.view.currentIndex().isValid() and self.proxy.rowCount():
            self.view.setCurrentIndex(self.proxy.index(0, 0))

    def select_partner(self, partner_id: int) -> None:
        """Show ``partner_id`` as current without the view's change signals."""
        row = self.model.row_of(partner_id)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid() and self.view.currentIndex() != index:
            selection = self.view.selectionModel()
            selection.blockSignals(True)
            self.view.setCurrentIndex(index)
            selection.blockSignals(False)
            self.view.viewport().update()
