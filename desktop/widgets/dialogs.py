"""Small dialogs: message details, directory picker, sanctions, shortcuts.

Dialogs are opened with ``open()`` (window-modal, non-blocking) and awaited
with ``await_dialog``: a nested ``exec()`` would run a second event loop under
the asyncio one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from protocol.models import Message, User

from ..formatting import full_time
from ..models import RestrictionModel, UserTableModel
from ..plain import PlainLabel, PlainToolTipDelegate, breakable

__all__ = [
    "DirectoryDialog",
    "InfoDialog",
    "SanctionsDialog",
    "ShortcutsDialog",
    "await_dialog",
    "confirm",
    "fit_to_screen",
]


async def await_dialog(dialog: QDialog) -> int:
    """Open ``dialog`` window-modally and wait for its result code."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(code: int) -> None:
        if not future.done():
            future.set_result(code)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    finally:
        dialog.finished.disconnect(finished)


def confirm(
    parent: QWidget,
    title: str,
    text: str,
    yes_text: str,
    on_yes: Callable[[], None],
    *,
    destructive: bool = False,
) -> QMessageBox:
    """A non-blocking yes/no question; ``on_yes`` runs if confirmed."""
    box = QMessageBox(
        QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question,
        title,
        breakable(text),  # a long unbroken name must not make it wider than the screen
        QMessageBox.StandardButton.Cancel,
        parent,
    )
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel if destructive else yes)
    box.setTextFormat(Qt.TextFormat.PlainText)  # the text names people
    box.setObjectName("confirm")

    def done() -> None:
        if box.clickedButton() is yes:
            on_yes()
        box.deleteLater()

    box.finished.connect(done)
    box.open()
    return box


class InfoDialog(QDialog):
    """``/info``: everything the server knows about one message."""

    def __init__(self, message: Message, names: dict[int, str], parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("info")
        self.setWindowTitle(self.tr("Message details"))
        form = QFormLayout(self)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        unit = self.fontMetrics().height()

        def add(label: str, value: str, *, scroll: bool = False) -> None:
            # Long words (a URL, a name) wrap anywhere: the dialog fits the screen.
            field = PlainLabel(value, self, wrap_anywhere=True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setAccessibleName(label)
            field.setMinimumWidth(unit * 12)
            field.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            if not scroll:
                form.addRow(label, field)
                return
            area = QScrollArea(self)
            area.setWidget(field)
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area.setMinimumHeight(min(field.sizeHint().height(), unit * 3) + 2)
            form.addRow(label, area)

        def who(user_id: int) -> str:
            return f"{names.get(user_id, '?')} (#{user_id})"

        add(self.tr("Number"), str(message.id))
        add(self.tr("From"), who(message.sender))
        add(self.tr("To"), who(message.recipient))
        add(self.tr("Sent"), full_time(message.sent_at))
        add(self.tr("Edited"), full_time(message.modified_at))
        add(self.tr("Read"), full_time(message.read_at))
        add(self.tr("Deleted"), full_time(message.deleted_at))
        add(
            self.tr("Text"),
            self.tr("(erased)") if message.deleted else (message.text or ""),
            scroll=True,
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        form.addRow(buttons)
        fit_to_screen(self, unit * 34)


def fit_to_screen(dialog: QWidget, width: int) -> None:
    """Size ``dialog`` for ``width`` pixels of content, never beyond the screen."""
    anchor = dialog.parentWidget() or dialog
    screen = anchor.screen().availableGeometry()
    room_width, room_height = int(screen.width() * 0.9), int(screen.height() * 0.9)
    dialog.setMaximumSize(room_width, room_height)
    width = min(max(width, dialog.minimumSizeHint().width()), room_width)
    layout = dialog.layout()
    height = layout.totalHeightForWidth(width) if layout is not None else -1
    if height < 0:
        height = dialog.sizeHint().height()
    dialog.resize(width, min(height, room_height))


class _TableDialog(QDialog):
    def _table(self, model: object, name: str) -> tuple[QTableView, QSortFilterProxyModel]:
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(model)  # type: ignore[arg-type]
        proxy.setSortRole(UserTableModel.SortRole)
        proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        proxy.setFilterKeyColumn(0)
        table = QTableView(self)
        table.setModel(proxy)
        table.setItemDelegate(PlainToolTipDelegate(table))
        table.setObjectName(name)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setSortingEnabled(True)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setTabKeyNavigation(False)
        return table, proxy


class DirectoryDialog(_TableDialog):
    """A customer picks the professional to write to (``/annuaire``)."""

    def __init__(self, model: UserTableModel, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("directory")
        self.setWindowTitle(self.tr("New conversation"))
        self.resize(self.fontMetrics().height() * 28, self.fontMetrics().height() * 24)
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("Choose the professional you want to write to."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(self.tr("Search by name"))
        self.search.setAccessibleName(self.tr("Search professionals"))
        self.search.setClearButtonEnabled(True)
        intro.setBuddy(self.search)
        layout.addWidget(self.search)
        self.table, self.proxy = self._table(model, "directory-table")
        self.table.setAccessibleName(self.tr("Professionals"))
        self.table.hideColumn(1)  # role: all professionals
        self.table.hideColumn(2)  # internal id: means nothing to a customer
        self.table.hideColumn(3)  # sanctions
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        layout.addWidget(self.table, 1)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        # A search covers the whole directory: fetch the pages not loaded yet.
        self._model = model
        self.search.textChanged.connect(self._fetch_for_search)
        model.modelReset.connect(self._fetch_for_search)
        model.rowsInserted.connect(self._fetch_for_search)
        buttons = QDialogButtonBox(self)
        self.open_button = buttons.addButton(
            self.tr("Write"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept_selection)
        buttons.rejected.connect(self.reject)
        self.table.doubleClicked.connect(lambda _index: self._accept_selection())
        layout.addWidget(buttons)
        self.chosen: User | None = None
        self.search.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """In the search box, Down enters the table; Enter writes to a single match."""
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key == Qt.Key.Key_Down and self.proxy.rowCount():
                self.table.setFocus(Qt.FocusReason.OtherFocusReason)
                if not self.table.selectionModel().selectedRows():
                    self.table.selectRow(0)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if self.proxy.rowCount() == 1:
                    self.table.selectRow(0)
                self._accept_selection()
                return True
        return super().eventFilter(watched, event)

    def _fetch_for_search(self, *_: object) -> None:
        if self.search.text() and self._model.canFetchMore():
            self._model.fetchMore()

    def select(self, user_id: int) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            user = index.data(UserTableModel.RowRole)
            if user is not None and user.id == user_id:
                self.table.selectRow(row)
                return True
        return False

    def _accept_selection(self) -> None:
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return
        self.chosen = indexes[0].data(UserTableModel.RowRole)
        self.accept()


class SanctionsDialog(_TableDialog):
    """A pro's blocks and bans in force, with the ways to lift them."""

    def __init__(
        self,
        model: RestrictionModel,
        lift: Callable[[int, str], None],
        refresh: Callable[[], None],
        parent: QWidget | None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sanctions")
        self.setWindowTitle(self.tr("Blocks and bans"))
        self.resize(self.fontMetrics().height() * 34, self.fontMetrics().height() * 20)
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("Customers you blocked or banned, in force now."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table, self.proxy = self._table(model, "sanctions-table")
        self.table.setSortingEnabled(False)
        self.table.setAccessibleName(self.tr("Blocks and bans in force"))
        intro.setBuddy(self.table)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.lift_button = QPushButton(self.tr("&Lift"), self)
        self.lift_button.setToolTip(self.tr("Lift the selected block or ban"))
        self.refresh_button = QPushButton(self.tr("&Refresh"), self)
        row.addWidget(self.lift_button)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        close = QPushButton(self.tr("Close"), self)
        close.clicked.connect(self.accept)
        row.addWidget(close)
        layout.addLayout(row)
        self.refresh_button.clicked.connect(refresh)

        def lift_selected() -> None:
            indexes = self.table.selectionModel().selectedRows()
            if indexes:
                restriction = indexes[0].data(RestrictionModel.RowRole)
                lift(restriction.client.id, restriction.kind)

        self.lift_button.clicked.connect(lift_selected)


class ShortcutsDialog(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcuts")
        self.setWindowTitle(self.tr("Keyboard shortcuts"))
        form = QFormLayout(self)
        for keys, meaning in rows:
            label = PlainLabel(keys, self)
            bold = QFont(label.font())
            bold.setBold(True)
            label.setFont(bold)
            form.addRow(label, PlainLabel(meaning, self))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
