"""Item models: the conversation list, one conversation's messages, tables.

As in Qt's ``fetchmore`` example, the models hold the data and the windows
hold none; ``data()`` checks its index; ``fetchMore`` inserts inside
``beginInsertRows``/``endInsertRows``. Loading is asynchronous here: a model's
``fetchMore`` only emits a request signal (the window passes it to the
``ChatService``) and the rows arrive later through ``load_page``.

Custom roles carry typed values for the delegates; ``Qt.DisplayRole`` and
``Qt.AccessibleTextRole`` carry plain sentences for screen readers.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from protocol.models import ConversationSummary, LogEntry, Message, Page, Restriction, User

from .formatting import full_time, list_time, local, log_time, short_time

__all__ = [
    "ConversationListModel",
    "ConversationRow",
    "LogModel",
    "MessageModel",
    "RestrictionModel",
    "UserTableModel",
]

Index = QModelIndex | QPersistentModelIndex
USER = Qt.ItemDataRole.UserRole
PREVIEW_CHARS = 120


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())[:PREVIEW_CHARS]


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

    more_requested = Signal(int)  # the /discussions page to load
    unread_changed = Signal(int)  # the total

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ConversationRow] = []
        self._me = -1
        self._page = -1
        self._pages = 0
        self._loading = False

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
            return _one_line(last.text)
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
            preview = self.tr("Message deleted") if row.last.deleted else _one_line(row.last.text)
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

    def set_statuses(self, statuses: dict[int, str]) -> None:
        for number, row in enumerate(self._rows):
            status = statuses.get(row.partner.id, "")
            if row.status != status:
                row.status = status
                self._changed(number)


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


# --- tables of the moderation views ------------------------------------------------------------


class _TableModel(QAbstractTableModel):
    """A read-only table of rows; subclasses name columns and cells."""

    SortRole = USER + 1
    RowRole = USER + 2

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    def headers(self) -> list[str]:
        raise NotImplementedError

    def cell(self, row: Any, column: int) -> tuple[str, Any]:
        """The text shown and the value sorted by."""
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers())

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < self.columnCount():
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.cell(row, index.column())[0]
        if role == self.SortRole:
            return self.cell(row, index.column())[1]
        if role == self.RowRole:
            return row
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            headers = self.headers()
            return headers[section] if 0 <= section < len(headers) else None
        return section + 1

    def set_rows(self, rows: list[Any]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, number: int) -> Any:
        return self._rows[number]


class LogModel(_TableModel):
    """``/logs`` entries, newest last as the server sends them."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._names: dict[int, str] = {}

    def set_names(self, names: dict[int, str]) -> None:
        """Show who each user id is (the admin's directory lists everyone)."""
        self._names = dict(names)
        if self._rows:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self._rows) - 1, 2))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == self.SortRole and index.isValid() and index.column() == 0:
            # Many entries share a second: the server's order breaks the ties.
            return index.row() if 0 <= index.row() < len(self._rows) else None
        return super().data(index, role)

    def headers(self) -> list[str]:
        return [
            self.tr("Time"),
            self.tr("Address"),
            self.tr("User"),
            self.tr("Command"),
            self.tr("Code"),
            self.tr("Duration (ms)"),
        ]

    def cell(self, row: LogEntry, column: int) -> tuple[str, Any]:
        if column == 0:
            return log_time(row.time), row.time.timestamp()
        if column == 1:
            return row.peer, row.peer
        if column == 2:
            if row.user is None:
                return "—", -1
            name = self._names.get(row.user)
            return (f"{name} (#{row.user})" if name else f"#{row.user}"), row.user
        if column == 3:
            return row.command, row.command
        if column == 4:
            return str(row.code), row.code
        return f"{row.duration_ms:.1f}", row.duration_ms


class RestrictionModel(_TableModel):
    """Blocks and bans in force (``/sanctions``)."""

    def headers(self) -> list[str]:
        return [self.tr("Customer"), self.tr("Kind"), self.tr("By"), self.tr("Until")]

    def cell(self, row: Restriction, column: int) -> tuple[str, Any]:
        if column == 0:
            return f"{row.client.name} (#{row.client.id})", row.client.name.casefold()
        if column == 1:
            text = self.tr("Block") if row.kind == "block" else self.tr("Ban")
            return text, row.kind
        if column == 2:
            return (self.tr("admin") if row.issuer == 0 else f"#{row.issuer}"), row.issuer
        if row.until is None:
            return self.tr("until lifted"), float("inf")
        return full_time(row.until), row.until.timestamp()


class UserTableModel(_TableModel):
    """The directory (``/annuaire``): pros for a customer, everyone for the admin."""

    more_requested = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._page = -1
        self._pages = 0
        self._loading = False
        self._statuses: dict[int, str] = {}

    def headers(self) -> list[str]:
        return [self.tr("Name"), self.tr("Role"), self.tr("Id"), self.tr("Sanctions")]

    def cell(self, row: User, column: int) -> tuple[str, Any]:
        if column == 0:
            return row.name, row.name.casefold()
        if column == 1:
            roles = {"client": self.tr("customer"), "pro": self.tr("professional")}
            return roles.get(row.role, row.role), row.role
        if column == 2:
            return str(row.id), row.id
        status = self._statuses.get(row.id, "")
        return status, status

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._loading and self._page + 1 < self._pages

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._loading = True
            self.more_requested.emit(self._page + 1)

    def load_page(self, users: list[User], page: int, pages: int) -> None:
        # Page numbers first: views react to the rows below by asking for more.
        self._loading = False
        self._page, self._pages = page, pages
        if page == 0:
            self.set_rows(users)
        else:
            known = {user.id for user in self._rows}
            fresh = [user for user in users if user.id not in known]
            if fresh:
                first = len(self._rows)
                self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
                self._rows.extend(fresh)
                self.endInsertRows()

    def loading_failed(self) -> None:
        self._loading = False

    def set_statuses(self, statuses: dict[int, str]) -> None:
        self._statuses = dict(statuses)
        if self._rows:
            column = len(self.headers()) - 1
            self.dataChanged.emit(self.index(0, column), self.index(len(self._rows) - 1, column))
