"""The conversation list: one row per partner, latest activity first."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from protocol.models import ConversationSummary, Message, User

from ..formatting import list_time
from ._common import USER, Index, one_line

__all__ = ["ConversationListModel", "ConversationRow"]


# --- the conversation list ---------------------------------------------------------------


@dataclass(slots=True)
class ConversationRow:
    partner: User
    last: Message | None
    unread: int
    status: str = ""  # "blocked until ...", "banned": set by the window from /sanctions


class ConversationListModel(QAbstractListModel):
    """My conversations, latest activity first (``/discussions`` pages)."""

    PartnerRole = USER + 1
    PartnerIdRole = USER + 2
    NameRole = USER + 3
    PreviewRole = USER + 4
    TimeRole = USER + 5
    UnreadRole = USER + 6
    LastFromMeRole = USER + 7
    LastDeletedRole = USER + 8
    StatusRole = USER + 9
    DraftRole = USER + 20  # unsent text kept for the conversation ("" if none)

    more_requested = Signal(int)  # the /discussions page to load
    unread_changed = Signal(int)  # the total

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ConversationRow] = []
        self._me = -1
        self._page = -1
        self._pages = 0
        self._loading = False
        self._drafts: dict[int, str] = {}

    def set_me(self, me: int) -> None:
        self._me = me

    # --- Qt ---

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        last = row.last
        if role == Qt.ItemDataRole.DisplayRole or role == self.NameRole:
            return row.partner.name
        if role == self.PartnerRole:
            return row.partner
        if role == self.PartnerIdRole:
            return row.partner.id
        if role == self.PreviewRole:
            if last is None:
                return ""
            if last.deleted:
                return self.tr("Message deleted")
            return one_line(last.text)
        if role == self.TimeRole:
            return last.sent_at if last is not None else None
        if role == self.UnreadRole:
            return row.unread
        if role == self.LastFromMeRole:
            return last is not None and last.sender == self._me
        if role == self.LastDeletedRole:
            return last is not None and last.deleted
        if role == self.StatusRole:
            return row.status
        if role == self.DraftRole:
            return one_line(self._drafts.get(row.partner.id, ""))
        if role in (Qt.ItemDataRole.AccessibleTextRole, Qt.ItemDataRole.ToolTipRole):
            return self._describe(row)
        return None

    def _describe(self, row: ConversationRow) -> str:
        parts = [row.partner.name]
        if row.unread:
            parts.append(self.tr("%n unread message(s)", "", row.unread))
        if row.status:
            parts.append(row.status)
        if row.last is not None:
            preview = self.tr("Message deleted") if row.last.deleted else one_line(row.last.text)
            who = self.tr("You") if row.last.sender == self._me else row.partner.name
            parts.append(f"{who}: {preview} ({list_time(row.last.sent_at)})")
        return ", ".join(parts)

    def roleNames(self) -> dict[int, bytes]:
        names = dict(super().roleNames())
        names.update(
            {
                self.PartnerIdRole: b"partnerId",
                self.NameRole: b"name",
                self.PreviewRole: b"preview",
                self.TimeRole: b"time",
                self.UnreadRole: b"unread",
            }
        )
        return names

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._loading and self._page + 1 < self._pages

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        self._loading = True
        self.more_requested.emit(self._page + 1)

    # --- loading ---

    def load_page(self, items: list[ConversationSummary], page: int, pages: int) -> None:
        """A ``/discussions`` page arrived; page 0 replaces the list."""
        # Page numbers first: views react to the rows below by asking for more.
        self._loading = False
        self._page, self._pages = page, pages
        if page == 0:
            statuses = {row.partner.id: row.status for row in self._rows}
            # Keep conversations started here but not yet written in.
            pending = [
                row
                for row in self._rows
                if row.last is None and row.partner.id not in {item.partner.id for item in items}
            ]
            self.beginResetModel()
            self._rows = pending + [
                ConversationRow(
                    item.partner, item.last_message, item.unread, statuses.get(item.partner.id, "")
                )
                for item in items
            ]
            self.endResetModel()
        else:
            known = {row.partner.id for row in self._rows}
            fresh = [item for item in items if item.partner.id not in known]
            if fresh:
                first = len(self._rows)
                self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
                self._rows.extend(
                    ConversationRow(item.partner, item.last_message, item.unread) for item in fresh
                )
                self.endInsertRows()
        self.unread_changed.emit(self.total_unread())

    def loading_failed(self) -> None:
        self._loading = False

    # --- queries ---

    def row_of(self, partner: int) -> int | None:
        for number, row in enumerate(self._rows):
            if row.partner.id == partner:
                return number
        return None

    def conversation(self, row: int) -> ConversationRow:
        return self._rows[row]

    def partner(self, partner: int) -> User | None:
        row = self.row_of(partner)
        return None if row is None else self._rows[row].partner

    def total_unread(self) -> int:
        return sum(row.unread for row in self._rows)

    def next_unread(self, after: int = -1) -> int | None:
        """The first row with unread messages after ``after``, wrapping around."""
        count = len(self._rows)
        for step in range(1, count + 1):
            row = (after + step) % count
            if self._rows[row].unread:
                return row
        return None

    # --- changes ---

    def _changed(self, row: int) -> None:
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)

    def _to_top(self, row: int) -> int:
        if row > 0:
            self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), 0)
            self._rows.insert(0, self._rows.pop(row))
            self.endMoveRows()
        return 0

    def partner_of(self, message: Message) -> int:
        return message.recipient if message.sender == self._me else message.sender

    def apply_message(self, message: Message, count_unread: bool) -> bool:
        """A new message in some conversation; False when that partner is unknown here."""
        row = self.row_of(self.partner_of(message))
        if row is None:
            return False
        entry = self._rows[row]
        if entry.last is None or message.id >= entry.last.id:
            entry.last = message
        if count_unread and message.recipient == self._me and message.read_at is None:
            entry.unread += 1
        self._changed(row)
        self._to_top(row)
        self.unread_changed.emit(self.total_unread())
        return True

    def update_message(self, message: Message) -> None:
        for number, row in enumerate(self._rows):
            if row.last is not None and row.last.id == message.id:
                row.last = message
                self._changed(number)

    def mark_deleted(self, message_id: int, when: datetime) -> None:
        for number, row in enumerate(self._rows):
            if row.last is not None and row.last.id == message_id:
                row.last = replace(row.last, text=None, deleted_at=when)
                self._changed(number)

    def set_unread(self, partner: int, count: int) -> None:
        row = self.row_of(partner)
        if row is not None and self._rows[row].unread != count:
            self._rows[row].unread = max(0, count)
            self._changed(row)
            self.unread_changed.emit(self.total_unread())

    def ensure_partner(self, partner: User) -> int:
        """Show a conversation with ``partner``, adding an empty one at the top."""
        row = self.row_of(partner.id)
        if row is not None:
            return row
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, ConversationRow(partner, None, 0))
        self.endInsertRows()
        return 0

    def set_drafts(self, drafts: dict[int, str]) -> None:
        """The unsent text of each conversation (partner id to text), for the list's marker."""
        self._drafts = {partner: text for partner, text in drafts.items() if text.strip()}
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, 0), [self.DraftRole]
            )

    def set_draft(self, partner: int, text: str) -> None:
        if text.strip():
            self._drafts[partner] = text
        else:
            self._drafts.pop(partner, None)
        row = self.row_of(partner)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, 0), [self.DraftRole])

    def set_statuses(self, statuses: dict[int, str]) -> None:
        for number, row in enumerate(self._rows):
            status = statuses.get(row.partner.id, "")
            if row.status != status:
                row.status = status
                self._changed(number)
