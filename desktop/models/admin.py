"""The tables of the moderation views: logs, sanctions, the directory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from protocol.models import LogEntry, Restriction, User

from ..formatting import full_time, log_time
from ._common import USER, Index

__all__ = ["LogModel", "RestrictionModel", "SanctionState", "UserTableModel"]


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


@dataclass(frozen=True, slots=True)
class SanctionState:
    """Where one customer stands: blocked until a time, banned, both or neither."""

    blocked_until: datetime | None = None
    banned: bool = False

    @property
    def sanctioned(self) -> bool:
        return self.blocked_until is not None or self.banned


class RestrictionModel(_TableModel):
    """Blocks and bans in force (``/sanctions``), and each customer's state.

    The rows are the server's list; ``state_of`` answers per customer and
    follows the live changes (``apply_change``) between two lists, so the
    windows hold no sanction state of their own.
    """

    states_changed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._states: dict[int, SanctionState] = {}
        self._names: dict[int, str] = {}

    def set_names(self, names: dict[int, str]) -> None:
        """Name who issued each sanction (the admin's directory lists every pro)."""
        self._names = dict(names)
        if self._rows:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self._rows) - 1, 2))

    def headers(self) -> list[str]:
        return [self.tr("Customer"), self.tr("Kind"), self.tr("By"), self.tr("Until")]

    def cell(self, row: Restriction, column: int) -> tuple[str, Any]:
        if column == 0:
            return f"{row.client.name} (#{row.client.id})", row.client.name.casefold()
        if column == 1:
            # The kind of sanction in force (a noun), not the action.
            if row.kind == "block":
                return self.tr("Block", "a sanction in force"), row.kind
            return self.tr("Ban", "a sanction in force"), row.kind
        if column == 2:
            if row.issuer == 0:
                return self.tr("admin"), row.issuer
            return self._names.get(row.issuer, f"#{row.issuer}"), row.issuer
        if row.until is None:
            return self.tr("until lifted"), float("inf")
        return full_time(row.until), row.until.timestamp()

    def set_rows(self, rows: list[Any]) -> None:
        super().set_rows(rows)
        states: dict[int, SanctionState] = {}
        for restriction in rows:
            state = states.get(restriction.client.id, SanctionState())
            if restriction.kind == "block":
                state = replace(state, blocked_until=restriction.until)
            else:
                state = replace(state, banned=True)
            states[restriction.client.id] = state
        self._states = states
        self.states_changed.emit()

    def apply_change(self, client_id: int, action: str, until: datetime | None) -> None:
        """A block, unblock, ban or unban went through (``/sanctions`` not reloaded)."""
        state = self._states.get(client_id, SanctionState())
        if action == "block":
            state = replace(state, blocked_until=until)
        elif action == "unblock":
            state = replace(state, blocked_until=None)
        elif action == "ban":
            state = replace(state, banned=True)
        elif action == "unban":
            state = replace(state, banned=False)
        if state.sanctioned:
            self._states[client_id] = state
        else:
            self._states.pop(client_id, None)
        self.states_changed.emit()

    def state_of(self, client_id: int) -> SanctionState:
        return self._states.get(client_id, SanctionState())

    def states(self) -> dict[int, SanctionState]:
        return dict(self._states)


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
