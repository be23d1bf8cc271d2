"""What every Tchatator window shares: connection banner, errors, menus, closing.

The offline banner follows the service: lost connection, countdown to the
next attempt (with "retry now"), reconnecting, back online. Errors of any
request show in a second banner, in the user's language, with the server's
own words in the tooltip; a 429 counts down to when the user can retry.
"""

from __future__ import annotations

import asyncio
import math

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMenu,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from ..errors import Action, ServiceError
from ..i18n import current_language, install_translations
from ..icon import app_icon
from ..plain import PlainLabel, plain_notification, plain_tooltip
from ..service import ChatService, ConnectionState
from ..settings import Settings
from .dialogs import ShortcutsDialog, confirm
from .notice import NoticeBar, Severity

__all__ = ["ServiceWindow", "key_name"]


def quit_keys() -> QKeySequence:
    """The platform's Quit keys; Ctrl+Q where it has none (some Linux desktops)."""
    bindings = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    return bindings[0] if bindings else QKeySequence("Ctrl+Q")


def key_name(keys: str | QKeySequence | QKeySequence.StandardKey) -> str:
    """Keys as the desktop names them, in the UI's language ("Alt+Maj+Bas" in
    French, from Qt's own catalogue), so the list never mixes two languages."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


RECONNECTED_NOTICE_MS = 4000
NOTIFICATION_MS = 8000
NAME_IN_STATUS_UNITS = 16  # the longest user name in the status bar, in line heights


class ServiceWindow(QMainWindow):
    """A main window bound to a ``ChatService`` (which it never bypasses)."""

    def __init__(
        self, service: ChatService, settings: Settings, kind: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self.kind = kind
        self.logout_requested = False
        self.rebuild_requested = False  # closed to be built again (language switch)
        self._closed: asyncio.Future[None] | None = None
        self._was_online = service.online
        self.setWindowIcon(app_icon(kind))
        container = QWidget(self)
        self._container = container
        self._layout = QVBoxLayout(container)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        # The banners float over the top of the content (banner_anchor), out of
        # the layout: showing one never moves what is under the pointer nor
        # hides the newest message (issue 12, item 7).
        self.offline_bar = NoticeBar("offline-banner", container, closable=False)
        self.notice = NoticeBar("notice", container)
        self._banner_anchor: QWidget | None = None
        self._error_shown: tuple[Action, str] | None = None
        for bar in (self.offline_bar, self.notice):
            bar.installEventFilter(self)
        container.installEventFilter(self)
        self.setCentralWidget(container)
        self.connection_label = PlainLabel("", self)
        self.connection_label.setObjectName("connection-state")
        self.statusBar().addPermanentWidget(self.connection_label)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(kind), self)
            self.tray.setToolTip("Tchatator")
            self.tray.activated.connect(lambda *_: self._raise())
            self.tray.show()
        service.state_changed.connect(self._state_changed)
        service.reconnect_scheduled.connect(self._reconnect_scheduled)
        service.reconnected.connect(self._reconnected)
        service.error.connect(self._error)
        service.session_expired.connect(self._session_expired)
        self._update_connection_label()

    def set_content(self, widget: QWidget) -> None:
        self._layout.addWidget(widget, 1)
        self.set_banner_anchor(widget)

    # --- banners ---

    def set_banner_anchor(self, widget: QWidget) -> None:
        """The banners cover the top of ``widget`` (a descendant of the content)."""
        if self._banner_anchor is not None:
            self._banner_anchor.removeEventFilter(self)
        self._banner_anchor = widget
        widget.installEventFilter(self)
        self._place_banners()

    def _place_banners(self) -> None:
        anchor = self._banner_anchor
        container = self._container
        # A hidden anchor (no conversation open): its nearest shown ancestor.
        while anchor is not None and anchor is not container and anchor.isHidden():
            anchor = anchor.parentWidget()
        if anchor is not None and anchor is not container:
            left = anchor.mapTo(container, QPoint(0, 0))
            x, top, width = left.x(), left.y(), anchor.width()
        else:
            x, top, width = 0, 0, container.width()
        for bar in (self.offline_bar, self.notice):
            if bar.isHidden():
                continue
            height = bar.heightForWidth(width) if bar.hasHeightForWidth() else -1
            height = max(height, bar.minimumSizeHint().height())
            bar.setGeometry(x, top, width, height)
            bar.raise_()
            top += height

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (
            QEvent.Type.Resize,
            QEvent.Type.Move,
            QEvent.Type.Show,
            QEvent.Type.Hide,
            QEvent.Type.LayoutRequest,
        ):
            self._place_banners()
        return super().eventFilter(watched, event)

    def clear_error(self, *actions: Action) -> None:
        """An error banner about ``actions`` is stale once one of them succeeded."""
        shown = self._error_shown
        if shown is not None and shown[0] in actions and self.notice.text == shown[1]:
            self.notice.dismiss()
        self._error_shown = None

    # --- menus shared by every window ---

    def add_common_menus(self, file_menu: QMenu) -> None:
        """Language, account and quit in ``file_menu``; a Help menu."""
        language = file_menu.addMenu(self.tr("&Language"))
        group = QActionGroup(self)
        for code, name in (("fr", "Français"), ("en", "English")):
            action = QAction(name, self, checkable=True)
            # The language spoken now (--lang may differ from the saved one).
            action.setChecked(current_language() == code)
            action.triggered.connect(lambda _checked=False, code=code: self._set_language(code))
            group.addAction(action)
            language.addAction(action)
        file_menu.addSeparator()
        switch = QAction(self.tr("Change &account…"), self)
        switch.triggered.connect(self.ask_switch_account)
        file_menu.addAction(switch)
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(quit_keys())
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        shortcuts = QAction(self.tr("&Keyboard shortcuts"), self)
        shortcuts.setShortcut(QKeySequence.StandardKey.HelpContents)
        shortcuts.triggered.connect(self.show_shortcuts)
        help_menu.addAction(shortcuts)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        return [
            (key_name("F5"), self.tr("Refresh")),
            (key_name(quit_keys()), self.tr("Quit")),
            (key_name("F1"), self.tr("This list")),
        ]

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcut_rows(), self).open()

    def _set_language(self, code: str) -> None:
        """Switch now: new catalogues, then the window is built again in that
        language on the same session (the app's loop reopens it)."""
        self.settings.language = code
        self.settings.save()
        if code == current_language():
            return
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        install_translations(app, code)
        self.rebuild_requested = True
        self.close()

    def ask_switch_account(self) -> None:
        """File, Change account: it logs out and forgets the remembered key, so ask."""
        confirm(
            self,
            self.tr("Change account"),
            self.tr(
                "Log out of this account? You will need its key to log in again "
                "(a remembered key is forgotten)."
            ),
            self.tr("&Log out"),
            self.switch_account,
        )

    def switch_account(self) -> None:
        self.logout_requested = True
        self.close()

    def app_name(self) -> str:
        """The application's name as the desktop shows it (Tchatator or Tchatator Pro)."""
        shown = QGuiApplication.applicationDisplayName()
        if shown.startswith("Tchatator"):
            return shown
        return "Tchatator Pro" if self.kind == "pro" else "Tchatator"

    def titled(self, subject: str) -> str:
        """``subject — app``: ending with the application's display name, which
        Qt otherwise appends on Linux and Windows (the name showed twice)."""
        return f"{subject} — {self.app_name()}"

    # --- connection ---

    def _update_connection_label(self) -> None:
        state = self.service.state
        user = self.service.user
        address = self.service.address
        texts = {
            ConnectionState.ONLINE: self.tr("Connected"),
            ConnectionState.CONNECTING: self.tr("Connecting…"),
            ConnectionState.OFFLINE: self.tr("Offline"),
        }
        full = short = ""
        if user is not None and address is not None:
            # A long name is elided here (the whole line is in the tooltip):
            # it must not widen the window.
            room = self.fontMetrics().height() * NAME_IN_STATUS_UNITS
            name = self.fontMetrics().elidedText(user.name, Qt.TextElideMode.ElideRight, room)
            full, short = f"{user.name} · {address}", f"{name} · {address}"
        self.connection_label.setText(f"{texts[state]}  {short}".strip())
        self.connection_label.setToolTip(plain_tooltip(f"{texts[state]}  {full}".strip()))
        self.connection_label.setAccessibleName(f"{texts[state]}  {full}".strip())

    def _state_changed(self, state: ConnectionState) -> None:
        self._update_connection_label()
        if state is ConnectionState.OFFLINE and self._was_online:
            self.offline_bar.show_message(
                self.tr("Connection lost. Reconnecting…"), Severity.WARNING
            )
        elif state is ConnectionState.CONNECTING:
            self.offline_bar.show_message(self.tr("Offline: reconnecting…"), Severity.WARNING)
        self._was_online = self._was_online or state is ConnectionState.ONLINE
        self.connection_changed(state)

    def _reconnect_scheduled(self, delay: float) -> None:
        self.offline_bar.show_countdown(
            self.tr("Offline: nothing is sent. Next connection attempt in %1 s."),
            math.ceil(delay),
            Severity.WARNING,
            actions=((self.tr("&Retry now"), self.service.retry_now),),
            on_end=lambda: self.offline_bar.show_message(
                self.tr("Offline: reconnecting…"), Severity.WARNING
            ),
        )

    def _reconnected(self) -> None:
        self.offline_bar.show_message(
            self.tr("Connection restored."), Severity.SUCCESS, timeout_ms=RECONNECTED_NOTICE_MS
        )
        self.refresh()

    def _session_expired(self) -> None:
        self.offline_bar.show_message(
            self.tr("Your session has ended and the key was refused: log in again."),
            Severity.ERROR,
            actions=((self.tr("Log &in again"), self.switch_account),),
        )

    def _error(self, report: ServiceError) -> None:
        self.handle_error(report)
        if report.code == 429 and report.retry_after:
            self.notice.show_countdown(
                self.tr("Too many requests: you can try again in %1 s."),
                report.retry_after,
                Severity.WARNING,
            )
            return
        severity = Severity.WARNING if report.code is None else Severity.ERROR
        self.notice.show_message(report.message, severity, detail=report.detail)
        self._error_shown = (report.action, self.notice.text)

    # --- hooks for the windows ---

    def connection_changed(self, state: ConnectionState) -> None:
        """Called on every state change (enable or disable what needs the server)."""

    def handle_error(self, report: ServiceError) -> None:
        """Called before the error is shown (undo a pending state, say)."""

    def refresh(self) -> None:
        """Reload everything from the server (F5, after reconnecting)."""

    def about_to_close(self) -> None:
        """Save what must be saved."""

    # --- notifications ---

    def notify(self, title: str, text: str, open_action: object = None) -> None:
        """A desktop notification where there is a tray; a banner otherwise."""
        if self.tray is not None and self.tray.isVisible():
            self.tray.showMessage(
                title, plain_notification(text), app_icon(self.kind), NOTIFICATION_MS
            )
        else:
            actions = ((self.tr("&Open"), open_action),) if callable(open_action) else ()
            self.notice.show_message(
                f"{title} — {text}", Severity.INFO, actions=actions, timeout_ms=NOTIFICATION_MS
            )
        QApplication.alert(self)

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # --- closing ---

    def wait_closed(self) -> asyncio.Future[None]:
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        return self._closed

    def closeEvent(self, event: QCloseEvent) -> None:
        self.about_to_close()
        if self.tray is not None:
            self.tray.hide()
        event.accept()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.activated()

    def activated(self) -> None:
        """The window got the focus back."""
