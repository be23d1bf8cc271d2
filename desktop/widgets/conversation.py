"""One conversation: its header, its messages, the composer.

The message list is a single ``QListView`` painted by ``MessageDelegate``
(model/view, not one widget per message), so long histories stay smooth.
Scrolling to the top asks the model for the next older page; inserting it
keeps what the user was reading in place; new messages scroll into view only
when the user was already at the bottom, otherwise a "latest" button appears.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import (
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
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
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

__all__ = ["ConversationPane", "MessageListView"]

BOTTOM_SLACK_PX = 4
PENDING_MARK = "\u25f7"  # a clock face (in common fonts): written, not sent yet
PENDING_PREVIEW = 80


class MessageListView(QListView):
    """The bubbles; asks for older pages at the top, follows new ones at the bottom."""

    edit_requested = Signal(object)  # Message
    delete_requested = Signal(object)
    info_requested = Signal(object)
    link_activated = Signal(str)  # a web link clicked in a bubble (opened in the browser)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messages")
        self.setAccessibleName(self.tr("Messages"))
        self.setItemDelegate(MessageDelegate(self))
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.verticalScrollBar().setSingleStep(self.fontMetrics().height())
        self._me = -1
        self._pressed_link = ""
        self.viewport().setMouseTracking(True)  # the hand cursor over links
        self._distance_from_bottom: int | None = None
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

    def message_model(self) -> MessageModel:
        return self.model()  # type: ignore[return-value]

    # --- scrolling ---

    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK_PX

    def _keep_bottom(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom and not self._initial:
            self.verticalScrollBar().setValue(maximum)

    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick_to_bottom = self.at_bottom()
        if value <= bar.minimum() and bar.maximum() > 0 and not self._initial:
            self.message_model().request_older()
        if self.at_bottom():
            self.unseen = 0
            self.jump_button.hide()
        elif bar.maximum() - value > self.viewport().height():
            self._show_jump()

    def _fill_viewport(self) -> None:
        """Too few messages to scroll: fetch older ones until the view is full."""
        model = self.message_model()
        if self.verticalScrollBar().maximum() == 0 and model.has_older() and not model.loading:
            QTimer.singleShot(0, model.request_older)

    def _before_insert(self, parent: QModelIndex, first: int, last: int) -> None:
        bar = self.verticalScrollBar()
        self._was_at_bottom = self.at_bottom()
        if first == 0 and self.model().rowCount() > 0:
            self._distance_from_bottom = bar.maximum() - bar.value()
        else:
            self._distance_from_bottom = None

    def _after_insert(self, parent: QModelIndex, first: int, last: int) -> None:
        distance = self._distance_from_bottom
        self._distance_from_bottom = None
        if self._initial:
            QTimer.singleShot(0, self._show_initial)
            return
        if distance is not None:
            # Older messages went on top: keep the same message under the eyes.
            self.doItemsLayout()
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum() - distance)
            return
        model = self.message_model()
        mine = any(model.message(row).sender == self._me for row in range(first, last + 1))
        if self._was_at_bottom or mine:
            QTimer.singleShot(0, self.scrollToBottom)
        else:
            self.unseen += last - first + 1
            self._show_jump()

    def _after_reset(self) -> None:
        self._initial = True
        self._stick_to_bottom = True
        self.unseen = 0
        self.jump_button.hide()

    def _show_initial(self) -> None:
        """First page shown: at the "new messages" divider, else at the bottom."""
        if not self._initial:
            return
        self._initial = False
        model = self.message_model()
        for row in range(model.rowCount()):
            if model.index(row, 0).data(MessageModel.DividerRole):
                self.scrollTo(model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)
                break
        else:
            self.scrollToBottom()
        self._fill_viewport()

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

    def jump_to_latest(self) -> None:
        self.unseen = 0
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
        self.setTabOrder(self.view, self.composer.editor)
        self.setTabOrder(self.composer.editor, self.composer.send_button)

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
