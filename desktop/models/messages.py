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
    """A window of the messages between me and one partner, oldest first.

    A conversation may hold thousands of messages: the model holds one
    contiguous run of them, loaded a page at a time with ``/apercu`` (which
    marks nothing read: the window says what was shown, with ``/lu``). Pages
    are cut from the newest message backwards (section 5), and a message's
    place in the conversation never changes (deleted ones stay as
    tombstones), so with the total a page tells exactly which places it
    covers: page ``p`` of ``t`` messages holds places ``[t - (p+1)·size,
    t - p·size)``. The run can therefore grow both ways:

    - newer pages at the bottom through Qt's ``canFetchMore``/``fetchMore``,
      which views call when the last row is on screen;
    - older pages at the top through ``can_fetch_older``/``fetch_older``,
      which the view calls as the user scrolls up (Qt has no top-side
      counterpart).

    Opening a conversation asks for page 0; when the answer says the oldest
    unread message is on a deeper page, that page is loaded instead and the
    "new messages" divider goes above that message. Rows are merged by
    message id (ids grow with time), never duplicated.
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

    page_requested = Signal(int, int)  # partner, page (to load with /apercu)
    # The run was replaced (opened, jumped to the latest): show ``focus_id()``.
    window_replaced = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Message] = []
        self._ids: list[int] = []
        self._partner = -1
        self._me = -1
        self._page_size = 20
        self._total = 0
        self._first_place = 0  # place in the conversation of self._rows[0]
        self._loaded_once = False
        self._requests: dict[int, str] = {}  # page -> "open", "older", "newer", "latest"
        self._failed: dict[int, str] = {}
        self._divider_id: int | None = None
        self._focus_id: int | None = None
        self._unread_at_open = 0
        self._inserting_page = False

    @property
    def partner(self) -> int:
        return self._partner

    @property
    def loading(self) -> bool:
        return bool(self._requests)

    @property
    def inserting_page(self) -> bool:
        """Rows being inserted come from a loaded page (not a live message)."""
        return self._inserting_page

    @property
    def failed(self) -> bool:
        return bool(self._failed)

    @property
    def unread_at_open(self) -> int:
        """Unread messages to me in this conversation, as the server said at opening."""
        return self._unread_at_open

    def reset(self, partner: int, me: int, page_size: int) -> None:
        """Show another conversation (empty until ``open()``'s page arrives)."""
        self.beginResetModel()
        self._rows, self._ids = [], []
        self._partner, self._me = partner, me
        self._page_size = max(1, page_size)
        self._total = 0
        self._first_place = 0
        self._loaded_once = False
        self._requests = {}
        self._failed = {}
        self._divider_id = None
        self._focus_id = None
        self._unread_at_open = 0
        self.endResetModel()

    def open(self) -> None:
        """Load the page to show first (page 0, or the oldest unread's)."""
        if self._partner >= 0:
            self._request(0, "open")

    def _request(self, page: int, kind: str) -> None:
        self._requests[page] = kind
        self._failed.pop(page, None)
        self.page_requested.emit(self._partner, page)

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
        """Newer messages below the last row (Qt asks when that row is on screen)."""
        return (
            not parent.isValid()
            and self.has_newer()
            and "newer" not in self._requests.values()
            and not self._failed
        )

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._request(self._page_of(self._first_place + len(self._rows)), "newer")

    def can_fetch_older(self) -> bool:
        return self.has_older() and "older" not in self._requests.values() and not self._failed

    def fetch_older(self) -> bool:
        """The user scrolled up near the top: ask for the page before the first row."""
        if not self.can_fetch_older():
            return False
        self._request(self._page_of(self._first_place - 1), "older")
        return True

    def request_latest(self) -> None:
        """Show the newest page, dropping the run when it does not reach it."""
        if self._partner >= 0 and "latest" not in self._requests.values():
            self._request(0, "latest")

    def refresh(self) -> None:
        """Page 0 again (after a reconnection): merged, or replacing a run that
        was at the newest and no longer reaches it."""
        if self._partner >= 0 and not self._requests:
            self._request(0, "refresh" if self._loaded_once else "open")

    def _page_of(self, place: int) -> int:
        return max(0, (self._total - 1 - place) // self._page_size)

    def has_older(self) -> bool:
        return self._loaded_once and self._first_place > 0

    def has_newer(self) -> bool:
        return self._loaded_once and self._first_place + len(self._rows) < self._total

    # --- loading ---

    def load_page(self, partner: int, number: int, page: Page) -> None:
        """A page of ``/apercu`` arrived (``number`` is the page asked for)."""
        if partner != self._partner:
            return
        kind = self._requests.pop(number, None)
        if kind is None:
            return  # asked before a reset, or answered twice
        messages = sorted(page.messages, key=lambda message: message.id)
        if not messages:  # 204: nothing in this conversation (yet)
            self._loaded_once = True
            self._total = max(self._total, len(self._rows)) if self._rows else 0
            if kind in ("open", "latest"):
                self.window_replaced.emit()
            return
        size = self._page_size
        start = max(0, page.total - (number + 1) * size)
        if kind == "open":
            if page.unread is not None:
                self._unread_at_open = page.unread
            if page.first_unread is not None:
                first_id, first_page = page.first_unread
                self._divider_id = self._focus_id = first_id
                if first_page != number and first_page < page.pages:
                    self._request(first_page, "open")  # open there, not at the newest
                    return
        if kind in ("open", "latest") or not self._rows:
            self._focus_id = self._divider_id if kind == "open" else None
            self.beginResetModel()
            self._rows = list(messages)
            self._ids = [message.id for message in messages]
            self._first_place = start
            self._total = page.total
            self._loaded_once = True
            self.endResetModel()
            self.window_replaced.emit()
            return
        low, high = self._first_place, self._first_place + len(self._rows)
        if start > high or start + len(messages) < low:
            # Not contiguous with what we hold (many messages arrived since):
            # page 0 replaces the run when it was at the newest; else drop it.
            was_at_newest = high >= self._total
            self._total = max(self._total, page.total)
            if number == 0 and was_at_newest:
                self._focus_id = None
                self.beginResetModel()
                self._rows = list(messages)
                self._ids = [message.id for message in messages]
                self._first_place = start
                self._total = page.total
                self.endResetModel()
                self.window_replaced.emit()
            return
        self._total = max(page.total, high)
        self._first_place = min(low, start)
        self._inserting_page = True
        try:
            self._merge(messages)
        finally:
            self._inserting_page = False
        self._total = max(self._total, self._first_place + len(self._rows))

    def loading_failed(self) -> None:
        """The requests in flight failed: keep them to ``retry()``."""
        self._failed.update(self._requests)
        self._requests = {}

    def retry(self) -> None:
        failed, self._failed = self._failed, {}
        for number, kind in failed.items():
            self._request(number, kind)

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
        if self.row_of(message.id) is not None:
            self.update_message(message)
            return True
        if self.has_newer() or (self._rows and message.id < self._ids[0]):
            # Beyond the loaded run: counted, shown once the user gets there.
            self._total += 1
            return True
        self._total = max(self._total, self._first_place + len(self._rows)) + self._merge([message])
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

    @property
    def divider_id(self) -> int | None:
        return self._divider_id

    def focus_id(self) -> int | None:
        """The message to show at the top after the run was replaced (None: the bottom)."""
        return self._focus_id

    def is_unread_for_me(self, row: int) -> bool:
        message = self._rows[row]
        return message.recipient == self._me and message.read_at is None and not message.deleted

    def has_unread_up_to(self, message_id: int) -> bool:
        """Whether a message to me at or before ``message_id`` is still unread here."""
        end = bisect.bisect_right(self._ids, message_id)
        return any(self.is_unread_for_me(row) for row in range(end))

    def find(self, needle: str) -> list[int]:
        """Rows whose text contains ``needle`` (case and accents as typed: casefolded)."""
        folded = needle.casefold()
        if not folded:
            return []
        return [
            row
            for row, message in enumerate(self._rows)
            if message.text is not None and folded in message.text.casefold()
        ]
