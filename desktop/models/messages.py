"""One conversation's messages, oldest first, loaded page by page."""

from __future__ import annotations

import bisect
from dataclasses import replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from protocol.models import Message, Page

from ..formatting import local, short_time
from ._common import USER, Index

__all__ = ["MessageModel"]


# --- one conversation -----------------------------------------------------------------------


class MessageModel(QAbstractListModel):
    """The messages between me and one partner, oldest first.

    ``/conversation`` page 0 is the newest (section 5), so older pages go on
    top. Qt's views call ``fetchMore`` when scrolled to the *bottom*, which in
    a chat is where the newest message is: ``canFetchMore`` therefore answers
    True only once the view, scrolled to the top, asked for older messages
    with ``request_older()``, so a long history is fetched page by page as the
    user reads back, never all at once.

    Pages are cut from the newest message, so new messages shift them; rows
    are merged by message id (ids grow with time), never duplicated.
    """

    MessageRole = USER + 1
    IdRole = USER + 2
    TextRole = USER + 3
    MineRole = USER + 4
    SentAtRole = USER + 5
    EditedRole = USER + 6
    DeletedRole = USER + 7
    ReadRole = USER + 8
    DividerRole = USER + 9
    DayHeaderRole = USER + 10

    older_requested = Signal(int, int)  # partner, page

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Message] = []
        self._ids: list[int] = []
        self._partner = -1
        self._me = -1
        self._page_size = 20
        self._total = 0
        self._loaded_once = False
        self._loading = False
        self._armed = False
        self._unread_hint = 0
        self._divider_id: int | None = None

    @property
    def partner(self) -> int:
        return self._partner

    @property
    def loading(self) -> bool:
        return self._loading

    def reset(self, partner: int, me: int, page_size: int, unread_hint: int = 0) -> None:
        """Show another conversation (empty until its first page arrives)."""
        self.beginResetModel()
        self._rows, self._ids = [], []
        self._partner, self._me = partner, me
        self._page_size = max(1, page_size)
        self._total = 0
        self._loaded_once = False
        self._loading = partner >= 0
        self._armed = False
        self._unread_hint = unread_hint
        self._divider_id = None
        self.endResetModel()

    # --- Qt ---

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = index.row()
        message = self._rows[row]
        if role == Qt.ItemDataRole.DisplayRole or role == self.TextRole:
            return message.text if message.text is not None else self.tr("Message deleted")
        if role == self.MessageRole:
            return message
        if role == self.IdRole:
            return message.id
        if role == self.MineRole:
            return message.sender == self._me
        if role == self.SentAtRole:
            return message.sent_at
        if role == self.EditedRole:
            return message.modified_at is not None and not message.deleted
        if role == self.DeletedRole:
            return message.deleted
        if role == self.ReadRole:
            return message.read_at is not None
        if role == self.DividerRole:
            return message.id == self._divider_id
        if role == self.DayHeaderRole:
            if row == 0:
                return True
            return local(self._rows[row - 1].sent_at).date() != local(message.sent_at).date()
        if role in (Qt.ItemDataRole.AccessibleTextRole, Qt.ItemDataRole.ToolTipRole):
            return self._describe(message)
        return None

    def _describe(self, message: Message) -> str:
        mine = message.sender == self._me
        who = self.tr("You") if mine else self.tr("Them")
        text = self.tr("Message deleted") if message.deleted else (message.text or "")
        parts = [f"{who}: {text}", short_time(message.sent_at)]
        if message.modified_at is not None and not message.deleted:
            parts.append(self.tr("edited"))
        if mine:
            parts.append(self.tr("read") if message.read_at is not None else self.tr("sent"))
        return ", ".join(parts)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._armed and not self._loading and self.has_older()

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        self._armed = False
        self._loading = True
        # Page p covers positions [total - (p+1)·size, total - p·size): the first
        # page that reaches below the oldest row we hold.
        self.older_requested.emit(self._partner, len(self._rows) // self._page_size)

    def has_older(self) -> bool:
        return self._loaded_once and len(self._rows) < self._total

    def request_older(self) -> bool:
        """The user scrolled to the top: fetch the next older page, if any."""
        self._armed = True
        if self.canFetchMore():
            self.fetchMore()
            return True
        self._armed = False
        return False

    # --- loading ---

    def load_page(self, partner: int, page: Page) -> None:
        if partner != self._partner:
            return
        self._loading = False
        messages = sorted(page.messages, key=lambda message: message.id)
        if (
            self._rows
            and messages
            and page.page == 0
            and messages[0].id > self._ids[-1]
            and page.pages > 1
        ):
            # More messages arrived than a page holds (offline for a while):
            # what we hold is no longer contiguous with the newest page.
            self.beginResetModel()
            self._rows, self._ids = [], []
            self.endResetModel()
        self._total = max(page.total, len(self._rows))
        first, self._loaded_once = not self._loaded_once, True
        self._merge(messages)
        self._total = max(self._total, len(self._rows))
        if first:
            self._place_divider()

    def loading_failed(self) -> None:
        self._loading = False

    def _place_divider(self) -> None:
        if self._unread_hint <= 0:
            return
        received = [message for message in self._rows if message.recipient == self._me]
        if received:
            first_new = received[-min(self._unread_hint, len(received))]
            self._divider_id = first_new.id
            row = self.row_of(first_new.id)
            if row is not None:
                index = self.index(row, 0)
                self.dataChanged.emit(index, index)

    def _merge(self, messages: list[Message]) -> int:
        """Update known rows, insert new ones in id order; returns how many were new."""
        fresh: list[Message] = []
        for message in messages:
            row = self.row_of(message.id)
            if row is None:
                fresh.append(message)
            elif self._rows[row] != message:
                self._rows[row] = message
                index = self.index(row, 0)
                self.dataChanged.emit(index, index)
        # Group the new messages by where they go, and insert from the end so
        # the positions computed first stay valid.
        groups: dict[int, list[Message]] = {}
        for message in fresh:
            groups.setdefault(bisect.bisect_left(self._ids, message.id), []).append(message)
        for position in sorted(groups, reverse=True):
            block = groups[position]
            self.beginInsertRows(QModelIndex(), position, position + len(block) - 1)
            self._rows[position:position] = block
            self._ids[position:position] = [message.id for message in block]
            self.endInsertRows()
            following = position + len(block)
            if following < len(self._rows):  # its day header may have changed
                index = self.index(following, 0)
                self.dataChanged.emit(index, index)
        return len(fresh)

    def add_message(self, message: Message) -> bool:
        """A message sent or received live; False when it is not of this conversation."""
        if self._partner not in (message.sender, message.recipient) or self._me not in (
            message.sender,
            message.recipient,
        ):
            return False
        added = self._merge([message])
        self._total += added
        return True

    def update_message(self, message: Message) -> None:
        row = self.row_of(message.id)
        if row is not None:
            self._rows[row] = message
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

    def mark_deleted(self, message_id: int, when: datetime) -> None:
        row = self.row_of(message_id)
        if row is not None:
            self.update_message(replace(self._rows[row], text=None, deleted_at=when))

    def mark_read(self, ids: list[int], when: datetime) -> None:
        for message_id in ids:
            row = self.row_of(message_id)
            if row is not None and self._rows[row].read_at is None:
                self.update_message(replace(self._rows[row], read_at=when))

    def clear_divider(self) -> None:
        row = None if self._divider_id is None else self.row_of(self._divider_id)
        self._divider_id = None
        if row is not None:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

    # --- queries ---

    def row_of(self, message_id: int) -> int | None:
        position = bisect.bisect_left(self._ids, message_id)
        if position < len(self._ids) and self._ids[position] == message_id:
            return position
        return None

    def message(self, row: int) -> Message:
        return self._rows[row]

    def messages(self) -> list[Message]:
        return list(self._rows)

    @property
    def total(self) -> int:
        return self._total
