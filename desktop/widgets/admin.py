"""The moderation view, opened when the admin key logs in.

Three tabs: the request log (``/logs``, a sortable table with refresh), the
users (``/annuaire`` lists everyone for the admin) with block, unblock, ban
and lift-ban on any customer, and every block and ban in force
(``/sanctions``). A toolbar button reloads the server's configuration
(``/sync``) and says which keys changed and which need a restart.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from protocol.models import LogEntry, Restriction, User

from ..errors import Action, ServiceError
from ..models import LogModel, RestrictionModel, UserTableModel
from ..plain import PlainToolTipDelegate
from ..service import ChatService, ConnectionState
from ..settings import Settings
from .base import ServiceWindow, key_name
from .dialogs import confirm
from .notice import Severity

__all__ = ["AdminWindow"]

DEFAULT_LOG_LINES = 200
MAX_LOG_LINES = 10_000
NOTICE_MS = 6000


def _table(
    parent: QWidget, model: object, name: str, accessible: str
) -> tuple[QTableView, QSortFilterProxyModel]:
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)  # type: ignore[arg-type]
    proxy.setSortRole(LogModel.SortRole)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(-1)
    table = QTableView(parent)
    table.setObjectName(name)
    table.setAccessibleName(accessible)
    table.setModel(proxy)
    table.setItemDelegate(PlainToolTipDelegate(table))
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setTabKeyNavigation(False)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table, proxy


class AdminWindow(ServiceWindow):
    def __init__(
        self, service: ChatService, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(service, settings, "admin", parent)
        self.setObjectName("admin-window")
        self.setWindowTitle(self.titled(self.tr("Moderation")))
        self.logs = LogModel(self)
        self.users = UserTableModel(self)
        self.restrictions = RestrictionModel(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("admin-tabs")
        self.tabs.setDocumentMode(True)
        # Logs.
        page = QWidget(self.tabs)
        layout = QVBoxLayout(page)
        row = QHBoxLayout()
        count_label = QLabel(self.tr("&Entries:"), page)
        self.log_count = QSpinBox(page)
        self.log_count.setRange(1, MAX_LOG_LINES)
        self.log_count.setValue(DEFAULT_LOG_LINES)
        self.log_count.setAccessibleName(self.tr("Number of log entries"))
        count_label.setBuddy(self.log_count)
        self.log_filter = QLineEdit(page)
        self.log_filter.setPlaceholderText(self.tr("Filter (command, address, code…)"))
        self.log_filter.setAccessibleName(self.tr("Filter the log"))
        self.log_filter.setClearButtonEnabled(True)
        self.refresh_logs_button = QPushButton(self.tr("&Refresh"), page)
        self.refresh_logs_button.setObjectName("refresh-logs")
        row.addWidget(count_label)
        row.addWidget(self.log_count)
        row.addWidget(self.log_filter, 1)
        row.addWidget(self.refresh_logs_button)
        layout.addLayout(row)
        self.log_table, self.log_proxy = _table(page, self.logs, "logs", self.tr("Request log"))
        layout.addWidget(self.log_table, 1)
        self.tabs.addTab(page, self.tr("&Log"))
        # Users.
        page = QWidget(self.tabs)
        layout = QVBoxLayout(page)
        self.user_filter = QLineEdit(page)
        self.user_filter.setPlaceholderText(self.tr("Search a user"))
        self.user_filter.setAccessibleName(self.tr("Search a user"))
        self.user_filter.setClearButtonEnabled(True)
        layout.addWidget(self.user_filter)
        self.user_table, self.user_proxy = _table(page, self.users, "users", self.tr("Users"))
        self.user_proxy.setFilterKeyColumn(0)
        # A→Z (a sortable view starts on Z→A), and every page of the directory.
        self.user_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        layout.addWidget(self.user_table, 1)
        buttons = QHBoxLayout()
        self.block_button = QPushButton(self.tr("&Block"), page)
        self.unblock_button = QPushButton(self.tr("Unbloc&k"), page)
        self.ban_button = QPushButton(self.tr("B&an"), page)
        self.unban_button = QPushButton(self.tr("Lift &ban"), page)
        for button, name in (
            (self.block_button, "block"),
            (self.unblock_button, "unblock"),
            (self.ban_button, "ban"),
            (self.unban_button, "unban"),
        ):
            button.setObjectName(name)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.selection_hint = QLabel(self.tr("Select a customer to moderate."), page)
        buttons.addWidget(self.selection_hint)
        layout.addLayout(buttons)
        self.tabs.addTab(page, self.tr("&Users"))
        # Sanctions.
        page = QWidget(self.tabs)
        layout = QVBoxLayout(page)
        self.sanction_table, _ = _table(
            page, self.restrictions, "sanctions", self.tr("Blocks and bans in force")
        )
        layout.addWidget(self.sanction_table, 1)
        self.tabs.addTab(page, self.tr("&Sanctions"))
        self.set_content(self.tabs)
        unit = self.fontMetrics().height()
        self.resize(unit * 60, unit * 36)
        # Menus and toolbar.
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        refresh = QAction(self.tr("&Refresh"), self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh)
        file_menu.addAction(refresh)
        self.sync_action = QAction(self.tr("Reload the server &configuration"), self)
        self.sync_action.setObjectName("sync")
        self.sync_action.setShortcut(QKeySequence("Ctrl+R"))
        self.sync_action.triggered.connect(self.service.reload_config)
        file_menu.addAction(self.sync_action)
        self.add_common_menus(file_menu)
        toolbar = self.addToolBar(self.tr("Actions"))
        toolbar.setObjectName("admin-toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(refresh)
        toolbar.addAction(self.sync_action)
        # Wiring.
        self.refresh_logs_button.clicked.connect(self.refresh_logs)
        self.log_filter.textChanged.connect(self.log_proxy.setFilterFixedString)
        self.user_filter.textChanged.connect(self.user_proxy.setFilterFixedString)
        # The moderator sees every user, and the log names them all: fetch
        # the directory's pages one after the other.
        self.users.modelReset.connect(self._fetch_rest)
        self.users.rowsInserted.connect(self._fetch_rest)
        self.users.more_requested.connect(self.service.load_directory)
        self.restrictions.states_changed.connect(self._update_buttons)
        self.user_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.block_button.clicked.connect(lambda: self._moderate("block"))
        self.unblock_button.clicked.connect(lambda: self._moderate("unblock"))
        self.ban_button.clicked.connect(lambda: self._moderate("ban"))
        self.unban_button.clicked.connect(lambda: self._moderate("unban"))
        service.logs_loaded.connect(self._logs_loaded)
        service.directory_loaded.connect(self._directory_loaded)
        service.restrictions_loaded.connect(self._restrictions_loaded)
        service.restriction_changed.connect(self._restriction_changed)
        service.config_reloaded.connect(self._config_reloaded)
        self._update_buttons()
        self.refresh()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        return [
            (key_name("Ctrl+R"), self.tr("Reload the server configuration")),
            *super().shortcut_rows(),
        ]

    # --- loading ---

    def refresh(self) -> None:
        self.refresh_logs()
        self.service.load_directory(0)
        self.service.load_restrictions()

    def refresh_logs(self) -> None:
        self.service.load_logs(self.log_count.value())

    def _logs_loaded(self, entries: list[LogEntry]) -> None:
        self.logs.set_rows(entries)
        # Newest first on screen: the server sends them newest last.
        self.log_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)

    def _directory_loaded(self, users: list[User], page: int, pages: int) -> None:
        self.users.load_page(users, page, pages)
        names = {0: self.tr("admin")}
        for row in range(self.users.rowCount()):
            user = self.users.row(row)
            names[user.id] = user.name
        self.logs.set_names(names)
        self.restrictions.set_names(names)

    def handle_error(self, report: ServiceError) -> None:
        if report.action is Action.DIRECTORY:
            self.users.loading_failed()

    def connection_changed(self, state: ConnectionState) -> None:
        online = state is ConnectionState.ONLINE
        self.sync_action.setEnabled(online)
        self.refresh_logs_button.setEnabled(online)
        self._update_buttons()

    # --- moderation ---

    def _fetch_rest(self, *_: object) -> None:
        if self.users.canFetchMore():
            self.users.fetchMore()

    def _name(self, user_id: int) -> str:
        for row in range(self.users.rowCount()):
            user = self.users.row(row)
            if user.id == user_id:
                return user.name
        return self.tr("customer %1").replace("%1", str(user_id))

    def selected_user(self) -> User | None:
        indexes = self.user_table.selectionModel().selectedRows()
        if not indexes:
            return None
        return indexes[0].data(UserTableModel.RowRole)

    def select_user(self, user_id: int) -> bool:
        for row in range(self.user_proxy.rowCount()):
            user = self.user_proxy.index(row, 0).data(UserTableModel.RowRole)
            if user is not None and user.id == user_id:
                self.user_table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        user = self.selected_user()
        customer = user is not None and user.role == "client" and self.service.online
        state = self.restrictions.state_of(user.id) if user is not None else None
        blocked = state is not None and state.blocked_until is not None
        banned = state is not None and state.banned
        # Only what can be done: no "unblock" for a customer who is not blocked.
        self.block_button.setEnabled(customer and not blocked)
        self.unblock_button.setEnabled(customer and blocked)
        self.ban_button.setEnabled(customer and not banned)
        self.unban_button.setEnabled(customer and banned)
        self.selection_hint.setVisible(not customer)

    def _moderate(self, action: str, ask: bool = True) -> None:
        user = self.selected_user()
        if user is None or user.role != "client":
            return
        slot = {
            "block": self.service.block,
            "unblock": self.service.unblock,
            "ban": self.service.ban,
            "unban": self.service.unban,
        }[action]
        if not ask or action in ("unblock", "unban"):
            slot(user.id)
            return
        if action == "block":
            text = self.tr("Block %1? They cannot write to anyone for a while.")
        else:
            text = self.tr("Ban %1? They cannot write to anyone until the ban is lifted.")
        confirm(
            self,
            self.tr("Moderation"),
            text.replace("%1", user.name),
            self.tr("&Confirm"),
            lambda: slot(user.id),
            destructive=True,
        )

    def _restrictions_loaded(self, restrictions: list[Restriction]) -> None:
        self.restrictions.set_rows(restrictions)
        statuses: dict[int, list[str]] = {}
        for restriction in restrictions:
            word = self.tr("block") if restriction.kind == "block" else self.tr("ban")
            statuses.setdefault(restriction.client.id, []).append(word)
        self.users.set_statuses({key: ", ".join(value) for key, value in statuses.items()})

    def _restriction_changed(self, client_id: int, action: str, until: object) -> None:
        texts = {
            "block": self.tr("%1 cannot write to anyone for a while."),
            "unblock": self.tr("%1 can write again."),
            "ban": self.tr("%1 cannot write to anyone until the ban is lifted."),
            "unban": self.tr("Every ban on %1 is lifted."),
        }
        self.notice.show_message(
            texts[action].replace("%1", self._name(client_id)),
            Severity.SUCCESS,
            timeout_ms=NOTICE_MS,
        )
        # The list in force changed (the admin lifts every block or ban at once).
        self.service.load_restrictions()

    def _config_reloaded(self, result: dict) -> None:
        reloaded = ", ".join(result.get("reloaded") or []) or self.tr("none")
        restart = ", ".join(result.get("restart_required") or [])
        text = self.tr("Configuration reloaded. Changed: %1.").replace("%1", reloaded)
        if restart:
            text += " " + self.tr("Needs a restart: %1.").replace("%1", restart)
        self.notice.show_message(text, Severity.SUCCESS, timeout_ms=NOTICE_MS * 2)
