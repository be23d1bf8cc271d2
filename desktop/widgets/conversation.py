"""One conversation: its header, its messages, the composer.

The message list is a single ``QListView`` painted by ``MessageDelegate``
(model/view, not one widget per message), so long histories stay smooth.
Scrolling up asks the model for older pages ahead of time (two screens);
inserting one keeps the message under the pointer in place; Qt's fetchMore
brings newer pages at the bottom. New messages scroll into view only when the
user was already at the bottom, otherwise a "latest" button appears. The view
tells the window what a person can see (``newest_shown``), which is what
becomes read.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QPointF,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QCursor,
    QDesktopServices,
    QFocusEvent,
    QFont,
    QGuiApplication,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStackedLayout,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from protocol.models import Message, User

from ..delegates import MessageDelegate
from ..formatting import full_time
from ..models import MessageModel
from ..plain import PlainLabel
from .composer import Composer

__all__ = ["ConversationPane", "FindBar", "MessageListView"]

BOTTOM_SLACK_PX = 4
PENDING_MARK = "\u25f7"  # a clock face (in common fonts): written, not sent yet
PENDING_PREVIEW = 80
# Older pages are asked for while the top is less than this many screens away.
PREFETCH_SCREENS = 2


class MessageListView(QListView):
    """The bubbles; asks for older pages at the top, follows new ones at the bottom."""

    edit_requested = Signal(object)  # Message
    delete_requested = Signal(object)
    info_requested = Signal(object)
    link_activated = Signal(str)  # a web link clicked in a bubble (opened in the browser)
    shown_changed = Signal()  # what a person may see changed: check what was read

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messages")
        self.setAccessibleName(self.tr("Messages"))
        self.setItemDelegate(MessageDelegate(self))
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        # One pass: a page inserted on top must have its height known at once
        # to keep the message under the pointer in place (sizes are cached).
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.verticalScrollBar().setSingleStep(self.fontMetrics().height())
        self._me = -1
        self._pressed_link = ""
        self.viewport().setMouseTracking(True)  # the hand cursor over links
        self._anchor_before: tuple[int, int] | None = None
        self._was_at_bottom = True
        self._initial = True
        self.unseen = 0
        self.jump_button = QToolButton(self.viewport())
        self.jump_button.setObjectName("jump-latest")
        self.jump_button.setText(self.tr("↓ Latest"))
        self.jump_button.setToolTip(self.tr("Jump to the latest message (Alt+End)"))
        self.jump_button.setAccessibleName(self.tr("Jump to the latest message"))
        self.jump_button.clicked.connect(self.jump_to_latest)
        self.jump_button.hide()
        # Why the list is empty (loading, failed and when it retries): over the
        # viewport, so it moves nothing.
        self.state_label = QLabel(self.viewport())
        self.state_label.setObjectName("messages-state")
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.state_label.setWordWrap(True)
        self.state_label.hide()
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().rangeChanged.connect(lambda *_: self._fill_viewport())
        # At the bottom, stay there when the view shrinks (a banner, the edit
        # bar) or the last bubble grows (an edit): it is never left cut.
        self._stick_to_bottom = True
        self.verticalScrollBar().rangeChanged.connect(self._keep_bottom)
        self.copy_action = self._action(
            self.tr("&Copy text"), QKeySequence.StandardKey.Copy, self._copy
        )
        self.info_action = self._action(
            self.tr("&Details…"), QKeySequence("Ctrl+I"), lambda: self._emit(self.info_requested)
        )
        self.edit_action = self._action(
            self.tr("&Edit"), QKeySequence("F2"), lambda: self._emit(self.edit_requested)
        )
        self.delete_action = self._action(
            self.tr("De&lete…"),
            QKeySequence.StandardKey.Delete,
            lambda: self._emit(self.delete_requested),
        )

    def _action(
        self, title: str, keys: QKeySequence | QKeySequence.StandardKey, slot: object
    ) -> QAction:
        action = QAction(title, self)
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def set_me(self, me: int) -> None:
        self._me = me

    def setModel(self, model: MessageModel) -> None:  # type: ignore[override]
        super().setModel(model)
        model.rowsAboutToBeInserted.connect(self._before_insert)
        model.rowsInserted.connect(self._after_insert)
        model.modelReset.connect(self._after_reset)
        model.window_replaced.connect(self._replaced)

    def message_model(self) -> MessageModel:
        return self.model()  # type: ignore[return-value]

    # --- scrolling ---

    def at_bottom(self) -> bool:
        """At the newest message: the end of the view, and nothing newer to load."""
        bar = self.verticalScrollBar()
        return (
            bar.value() >= bar.maximum() - BOTTOM_SLACK_PX and not self.message_model().has_newer()
        )

    def _keep_bottom(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom and not self._initial:
            self.verticalScrollBar().setValue(maximum)

    def _scrolled(self, value: int) -> None:
        self._stick_to_bottom = self.at_bottom()
        self._fetch_older_if_near_top()
        if self.at_bottom():
            self.unseen = 0
            self.jump_button.hide()
        elif self.verticalScrollBar().maximum() - value > self.viewport().height() or (
            self.message_model().has_newer()
        ):
            self._show_jump()
        self.shown_changed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        super().wheelEvent(event)
        # At the very top the wheel changes no value (no _scrolled): ask here.
        self._fetch_older_if_near_top()

    def _fetch_older_if_near_top(self) -> None:
        """Keep older pages coming while the user is within a few screens of the top:
        the wheel never hits a wall waiting for the network."""
        if self._initial:
            return
        model = self.message_model()
        if not model.can_fetch_older():
            return
        if self.verticalScrollBar().value() <= self.viewport().height() * PREFETCH_SCREENS:
            model.fetch_older()

    def _fill_viewport(self) -> None:
        """Too few messages to scroll: fetch older ones until the view is full."""
        if not self._initial:
            QTimer.singleShot(0, self._fetch_older_if_near_top)

    def _anchor(self) -> tuple[int, int] | None:
        """(id, top) of the message under the pointer, else of the first one on screen."""
        viewport = self.viewport()
        point = viewport.mapFromGlobal(QCursor.pos())
        index = self.indexAt(point) if viewport.rect().contains(point) else QModelIndex()
        if not index.isValid():
            index = self.indexAt(QPoint(viewport.width() // 2, 1))
        if not index.isValid():
            return None
        return index.data(MessageModel.IdRole), self.visualRect(index).top()

    def _before_insert(self, parent: QModelIndex, first: int, last: int) -> None:
        self._was_at_bottom = self.at_bottom()
        self._anchor_before = None
        if first == 0 and self.model().rowCount() > 0 and not self._initial:
            self._anchor_before = self._anchor()

    def _after_insert(self, parent: QModelIndex, first: int, last: int) -> None:
        anchor, self._anchor_before = self._anchor_before, None
        if self._initial:
            QTimer.singleShot(0, self._show_initial)
            return
        if anchor is not None:
            # Older messages went on top: the message under the pointer (or
            # the first on screen) stays exactly where it was.
            message_id, top = anchor
            self.doItemsLayout()
            row = self.message_model().row_of(message_id)
            if row is not None:
                bar = self.verticalScrollBar()
                bar.setValue(bar.value() + self.visualRect(self.model().index(row, 0)).top() - top)
            QTimer.singleShot(0, self._fetch_older_if_near_top)
            return
        model = self.message_model()
        if model.inserting_page:
            # A newer page under the last row: the view stays where it is.
            self.shown_changed.emit()
            return
        mine = any(model.message(row).sender == self._me for row in range(first, last + 1))
        if self._was_at_bottom or mine:
            QTimer.singleShot(0, self.scrollToBottom)
        else:
            self.unseen += last - first + 1
            self._show_jump()
        self.shown_changed.emit()

    def _after_reset(self) -> None:
        self._initial = True
        self._stick_to_bottom = True
        self.unseen = 0
        self.jump_button.hide()

    def _replaced(self) -> None:
        self._initial = True
        QTimer.singleShot(0, self._show_initial)

    def _show_initial(self) -> None:
        """First page shown: at the "new messages" divider, else at the bottom."""
        if not self._initial:
            return
        self._initial = False
        model = self.message_model()
        focus = model.focus_id()
        row = None if focus is None else model.row_of(focus)
        self.doItemsLayout()
        if row is not None:
            self.scrollTo(model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)
            # At the divider, not the bottom: older pages going on top must
            # not pull the view down (the value may not have changed).
            self._stick_to_bottom = False
        else:
            self.scrollToBottom()
            self._stick_to_bottom = not model.has_newer()
        self._fill_viewport()
        self.shown_changed.emit()

    def newest_shown(self) -> int | None:
        """The id of the newest message a person can see now, or None when the
        window is hidden, minimized or not the active one (nothing is seen)."""
        window = self.window()
        if not self.isVisible() or window.isMinimized() or not window.isActiveWindow():
            return None
        model = self.message_model()
        if model.rowCount() == 0 or self._initial:
            return None
        viewport = self.viewport()
        index = self.indexAt(QPoint(viewport.width() // 2, viewport.height() - 1))
        row = index.row() if index.isValid() else model.rowCount() - 1
        while row >= 0:
            rect = self.visualRect(model.index(row, 0))
            if rect.bottom() < 0:
                return None
            # Seen: at least half of it (or a full screen of it) is on screen.
            visible = min(rect.bottom(), viewport.height() - 1) - max(rect.top(), 0) + 1
            if visible * 2 >= min(rect.height(), viewport.height() * 2):
                return model.message(row).id
            row -= 1
        return None

    def _show_jump(self) -> None:
        text = self.tr("↓ Latest")
        if self.unseen:
            text = self.tr("↓ %n new message(s)", "", self.unseen)
        self.jump_button.setText(text)
        self.jump_button.adjustSize()
        self._place_jump()
        self.jump_button.show()
        self.jump_button.raise_()

    def _place_jump(self) -> None:
        margin = self.fontMetrics().height() // 2
        size = self.jump_button.sizeHint()
        self.jump_button.move(
            self.viewport().width() - size.width() - margin,
            self.viewport().height() - size.height() - margin,
        )

    # --- links: underlined in the bubbles, opened in the browser on a click ---

    def link_at(self, position: QPoint) -> str:
        index = self.indexAt(position)
        if not index.isValid():
            return ""
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = self.visualRect(index)
        delegate = self.itemDelegateForIndex(index)
        if not isinstance(delegate, MessageDelegate):
            return ""
        return delegate.link_at(option, index, QPointF(position))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._pressed_link = (
            self.link_at(event.position().toPoint())
            if event.button() == Qt.MouseButton.LeftButton
            else ""
        )
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        pressed, self._pressed_link = self._pressed_link, ""
        if (
            pressed
            and event.button() == Qt.MouseButton.LeftButton
            and self.link_at(event.position().toPoint()) == pressed
        ):
            self.link_activated.emit(pressed)
            QDesktopServices.openUrl(QUrl(pressed))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        over_link = bool(self.link_at(event.position().toPoint()))
        shape = Qt.CursorShape.PointingHandCursor if over_link else Qt.CursorShape.ArrowCursor
        if self.viewport().cursor().shape() != shape:
            self.viewport().setCursor(shape)

    # --- focus: a ring around the list, and a current message to act on ---

    def focusInEvent(self, event: QFocusEvent) -> None:
        model = self.model()
        if not self.currentIndex().isValid() and model is not None and model.rowCount():
            # The newest message in sight, not the oldest loaded (Qt's choice,
            # which would scroll to the top and fetch older pages).
            inside = self.viewport().rect().adjusted(0, 0, -1, -1).bottomLeft()
            index = self.indexAt(inside)
            if not index.isValid():
                index = model.index(model.rowCount() - 1, 0)
            self.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
        super().focusInEvent(event)
        self.viewport().update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self.hasFocus():
            return
        painter = QPainter(self.viewport())
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight))
        width = max(2, self.fontMetrics().height() // 8)
        pen.setWidth(width)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        painter.setPen(pen)
        half = width // 2
        painter.drawRect(self.viewport().rect().adjusted(half, half, -half - 1, -half - 1))
        painter.end()

    def resizeEvent(self, event: object) -> None:  # type: ignore[override]
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._place_jump()
        self._place_state()

    def show_state(self, text: str | None) -> None:
        """A sentence over the messages (None: hide it)."""
        if not text:
            self.state_label.hide()
            return
        self.state_label.setText(text)
        self.state_label.setAccessibleName(text)
        self._place_state()
        self.state_label.show()
        self.state_label.raise_()

    @property
    def state_text(self) -> str:
        return self.state_label.text() if self.state_label.isVisible() else ""

    def _place_state(self) -> None:
        margin = self.fontMetrics().height()
        width = max(0, self.viewport().width() - 2 * margin)
        height = self.state_label.heightForWidth(width)
        self.state_label.setGeometry(margin, margin, width, max(height, margin * 2))

    def jump_to_latest(self) -> None:
        self.unseen = 0
        model = self.message_model()
        if model.has_newer():
            model.request_latest()  # shown at the bottom when it arrives
        self.scrollToBottom()
        self.jump_button.hide()
        last = self.model().rowCount() - 1
        if last >= 0:
            self.setCurrentIndex(self.model().index(last, 0))

    # --- message actions ---

    def current_message(self) -> Message | None:
        index = self.currentIndex()
        if not index.isValid():
            return None
        return index.data(MessageModel.MessageRole)

    def _emit(self, signal: Signal) -> None:
        message = self.current_message()
        if message is None:
            return
        if signal is not self.info_requested and (message.sender != self._me or message.deleted):
            return
        signal.emit(message)  # type: ignore[attr-defined]

    def _copy(self) -> None:
        message = self.current_message()
        if message is not None and message.text:
            QGuiApplication.clipboard().setText(message.text)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            index = self.indexAt(event.pos())
            if index.isValid():
                self.setCurrentIndex(index)
            position = event.globalPos()
        else:
            rect = self.visualRect(self.currentIndex())
            position = self.viewport().mapToGlobal(rect.center() if rect.isValid() else QPoint())
        message = self.current_message()
        if message is None:
            return
        mine = message.sender == self._me and not message.deleted
        self.edit_action.setEnabled(mine)
        self.delete_action.setEnabled(mine)
        self.copy_action.setEnabled(bool(message.text))
        menu = QMenu(self)
        menu.setObjectName("message-menu")
        menu.addAction(self.copy_action)
        menu.addAction(self.info_action)
        if message.sender == self._me:
            menu.addSeparator()
            menu.addAction(self.edit_action)
            menu.addAction(self.delete_action)
        menu.popup(position)


class FindBar(QWidget):
    """Find text in the messages loaded: Enter goes to older matches, Shift+Enter
    to newer ones, Escape closes."""

    search_changed = Signal(str)
    step_requested = Signal(int)  # -1: older, +1: newer
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("find-bar")
        layout = QHBoxLayout(self)
        margin = self.fontMetrics().height() // 2
        layout.setContentsMargins(margin, margin // 2, margin, 0)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("find-text")
        self.edit.setPlaceholderText(self.tr("Find in the conversation"))
        self.edit.setAccessibleName(self.tr("Find in the conversation"))
        self.edit.setClearButtonEnabled(True)
        layout.addWidget(self.edit, 1)
        self.result = QLabel(self)
        self.result.setObjectName("find-result")
        layout.addWidget(self.result)
        close = QToolButton(self)
        close.setText("\u00d7")  # a multiplication sign: the usual close mark
        close.setToolTip(self.tr("Close (Escape)"))
        close.setAccessibleName(self.tr("Close the search"))
        close.clicked.connect(self.close_bar)
        layout.addWidget(close)
        self.edit.textChanged.connect(self.search_changed)
        self.edit.installEventFilter(self)
        self.hide()

    def text(self) -> str:
        return self.edit.text()

    def open(self) -> None:
        self.show()
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()
        self.search_changed.emit(self.edit.text())

    def close_bar(self) -> None:
        self.hide()
        self.closed.emit()

    def set_result(self, text: str) -> None:
        self.result.setText(text)
        self.result.setAccessibleName(text)

    def eventFilter(self, watched: object, event: QEvent) -> bool:  # type: ignore[override]
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier  # type: ignore[attr-defined]
                self.step_requested.emit(1 if shift else -1)
                return True
            if key == Qt.Key.Key_Escape:
                self.close_bar()
                return True
        return super().eventFilter(watched, event)  # type: ignore[arg-type]


class ConversationPane(QWidget):
    """Header (name, status, moderation buttons for a pro), messages, composer."""

    block_requested = Signal(int)
    unblock_requested = Signal(int)
    ban_requested = Signal(int)
    unban_requested = Signal(int)

    def __init__(self, model: MessageModel, pro: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation")
        self._pro = pro
        self.partner: User | None = None
        self._blocked_until: datetime | None = None
        self._banned = False
        stack = QStackedLayout(self)
        # Shown while no conversation is chosen.
        self.placeholder = QLabel(self.tr("Choose a conversation in the list."), self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        stack.addWidget(self.placeholder)
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        margin = self.fontMetrics().height() // 2
        header.setContentsMargins(margin, margin, margin, 0)
        titles = QVBoxLayout()
        self.title = PlainLabel("", body, wrap_anywhere=True)
        self.title.setObjectName("partner-name")
        font = QFont(self.title.font())
        font.setBold(True)
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.title.setAccessibleName(self.tr("Conversation with"))
        self.status = PlainLabel("", body)
        self.status.setObjectName("partner-status")
        titles.addWidget(self.title)
        titles.addWidget(self.status)
        header.addLayout(titles, 1)
        self.block_button = QPushButton(self.tr("&Block"), body)
        self.block_button.setObjectName("block")
        self.block_button.setToolTip(self.tr("Stop this customer writing to you for a while"))
        self.unblock_button = QPushButton(self.tr("Unbloc&k"), body)
        self.unblock_button.setObjectName("unblock")
        self.ban_button = QPushButton(self.tr("B&an"), body)
        self.ban_button.setObjectName("ban")
        self.ban_button.setToolTip(self.tr("Stop this customer writing to you until you lift it"))
        self.unban_button = QPushButton(self.tr("Lift &ban"), body)
        self.unban_button.setObjectName("unban")
        for button in (self.block_button, self.unblock_button, self.ban_button, self.unban_button):
            button.setVisible(pro)
            header.addWidget(button)
        self.block_button.clicked.connect(lambda: self._moderate(self.block_requested))
        self.unblock_button.clicked.connect(lambda: self._moderate(self.unblock_requested))
        self.ban_button.clicked.connect(lambda: self._moderate(self.ban_requested))
        self.unban_button.clicked.connect(lambda: self._moderate(self.unban_requested))
        layout.addLayout(header)
        self.find_bar = FindBar(body)
        layout.addWidget(self.find_bar)
        self.view = MessageListView(body)
        self.view.setModel(model)
        layout.addWidget(self.view, 1)
        composer_box = QVBoxLayout()
        composer_box.setContentsMargins(margin, 0, margin, margin)
        # Messages written offline, waiting for the connection (the outbox).
        self.pending_label = PlainLabel("", body, wrap_anywhere=True)
        self.pending_label.setObjectName("pending")
        self.pending_label.setEnabled(False)  # the quiet colour of a pending state
        self.pending_label.hide()
        composer_box.addWidget(self.pending_label)
        self.composer = Composer(body)
        composer_box.addWidget(self.composer)
        layout.addLayout(composer_box)
        stack.addWidget(body)
        self._stack = stack
        self.find_bar.search_changed.connect(self._find)
        self.find_bar.step_requested.connect(self._find_step)
        self.find_bar.closed.connect(self.view.setFocus)
        self._matches: list[int] = []
        self._match = -1
        self.setTabOrder(self.view, self.composer.editor)
        self.setTabOrder(self.composer.editor, self.composer.send_button)

    # --- find in the conversation (Ctrl+F) ---

    def show_find(self) -> None:
        self.find_bar.open()

    def _find(self, text: str) -> None:
        model = self.view.message_model()
        self._matches = model.find(text)
        self._match = len(self._matches) - 1  # the newest first, as in every chat app
        self._show_match(text)

    def _find_step(self, step: int) -> None:
        if self._matches:
            self._match = (self._match + step) % len(self._matches)
        self._show_match(self.find_bar.text())

    def _show_match(self, text: str) -> None:
        if not text:
            self.find_bar.set_result("")
            return
        if not self._matches:
            self.find_bar.set_result(self.tr("No result"))
            return
        self.find_bar.set_result(
            self.tr("%1 of %2")
            .replace("%1", str(len(self._matches) - self._match))
            .replace("%2", str(len(self._matches)))
        )
        index = self.view.model().index(self._matches[self._match], 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def _moderate(self, signal: Signal) -> None:
        if self.partner is not None:
            signal.emit(self.partner.id)  # type: ignore[attr-defined]

    def show_conversation(self, partner: User | None) -> None:
        self.partner = partner
        self._blocked_until = None
        self._banned = False
        if partner is None:
            self._stack.setCurrentIndex(0)
            self.composer.set_conversation_enabled(False)
            return
        self._stack.setCurrentIndex(1)
        self.title.setText(partner.name)
        self.view.setAccessibleName(self.tr("Messages with %1").replace("%1", partner.name))
        self.composer.set_conversation_enabled(True)
        self._update_status()

    def set_pending(self, texts: list[str]) -> None:
        """Show the messages of this conversation that wait for the connection."""
        if not texts:
            self.pending_label.hide()
            self.pending_label.setText("")
            return
        lines = [self.tr("%n message(s) waiting for the connection:", "", len(texts))]
        for text in texts:
            line = " ".join(text.split())
            lines.append(
                PENDING_MARK
                + " "
                + (line[:PENDING_PREVIEW] + "…" if len(line) > PENDING_PREVIEW else line)
            )
        self.pending_label.setText("\n".join(lines))
        self.pending_label.setAccessibleName(lines[0])
        self.pending_label.show()

    def set_restrictions(self, blocked_until: datetime | None, banned: bool) -> None:
        self._blocked_until = blocked_until
        self._banned = banned
        self._update_status()

    def _update_status(self) -> None:
        parts = []
        if self.partner is not None:
            roles = {"client": self.tr("customer"), "pro": self.tr("professional")}
            parts.append(roles.get(self.partner.role, self.partner.role))
        if self._blocked_until is not None:
            parts.append(self.tr("blocked until %1").replace("%1", full_time(self._blocked_until)))
        if self._banned:
            parts.append(self.tr("banned"))
        self.status.setText(" · ".join(parts))
        self.status.setAccessibleName(self.status.text())
        if self._pro:
            self.block_button.setVisible(self._blocked_until is None)
            self.unblock_button.setVisible(self._blocked_until is not None)
            self.ban_button.setVisible(not self._banned)
            self.unban_button.setVisible(self._banned)
