"""The window of a professional or a customer: conversations on the left,
the open conversation on the right.

The window routes the service's signals to the models; it holds no data of
its own beyond which conversation is open and the server's unread total.
Unread counts come from ``/discussions`` (per conversation) and ``/liste``
(the total) and follow push events. Pages are read with ``/apercu``, which
marks nothing: what the view shows in the active window is marked read with
``/lu`` (the answer gives the new counts).
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QSplitter,
    QWidget,
)

from protocol.models import ConversationSummary, Message, Page, ReadMark, User

from ..errors import Action, ServiceError
from ..formatting import full_time
from ..icon import app_icon
from ..models import ConversationListModel, MessageModel, RestrictionModel, UserTableModel
from ..models.outbox import Outbox
from ..service import ChatService, ConnectionState
from ..settings import DraftStore, Settings
from .base import ServiceWindow, key_name
from .conversation import ConversationPane
from .conversation_list import ConversationList
from .dialogs import DirectoryDialog, InfoDialog, SanctionsDialog, confirm
from .notice import Severity

__all__ = ["ChatWindow"]

OPEN_DELAY_MS = 150
MARK_READ_DELAY_MS = 300
HISTORY_RETRY_S = 5  # a failed page without the server's retry_after
DRAFT_SAVE_DELAY_MS = 500
NOTICE_MS = 6000


class ChatWindow(ServiceWindow):
    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        drafts: DraftStore,
        kind: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(service, settings, kind, parent)
        user = service.user
        assert user is not None, "log in before opening the window"
        self.user = user
        self.me = user.id
        self.pro = user.role == "pro"
        self.drafts = drafts
        self.server_name = str(service.address)
        self.setObjectName("chat-window")
        # The user's unread total, all conversations: the server's figure
        # (/liste, /lu), not a sum over the conversations loaded so far.
        self._unread_total = 0
        self._read_asked: tuple[int, int] = (-1, 0)  # (partner, up to) asked with /lu
        self._unnamed: list[Message] = []
        self._opening: User | None = None
        self.directory_dialog: DirectoryDialog | None = None
        self.info_dialog: InfoDialog | None = None
        self.sanctions_dialog = None
        # Models.
        self.conversations = ConversationListModel(self)
        self.conversations.set_me(self.me)
        self.messages = MessageModel(self)
        self.directory = UserTableModel(self)
        self.restrictions = RestrictionModel(self)
        self.outbox = Outbox(self)
        # Left: search, new conversation, the list.
        self.sidebar = ConversationList(self.conversations, self.pro, self)
        self.proxy = self.sidebar.proxy
        self.search = self.sidebar.search
        self.new_button = self.sidebar.new_button
        self.list_view = self.sidebar.view
        # Right: the conversation.
        self.pane = ConversationPane(self.messages, self.pro, self)
        self.pane.view.set_me(self.me)
        self.pane.show_conversation(None)
        self.pane.composer.set_limit(service.max_message_size)
        splitter = QSplitter(self)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(self.pane)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        unit = self.fontMetrics().height()
        splitter.setSizes([unit * 19, unit * 37])
        splitter.setChildrenCollapsible(False)
        self.set_content(splitter)
        self.set_banner_anchor(self.pane.view)  # over the oldest messages shown
        self.resize(unit * 56, unit * 36)
        self.setTabOrder(self.list_view, self.pane.view)
        self._build_menus()
        # Timers.
        self._open_timer = QTimer(self)
        self._open_timer.setSingleShot(True)
        self._open_timer.setInterval(OPEN_DELAY_MS)
        self._open_timer.timeout.connect(self._open_current)
        self._read_timer = QTimer(self)
        self._read_timer.setSingleShot(True)
        self._read_timer.setInterval(MARK_READ_DELAY_MS)
        self._read_timer.timeout.connect(self._mark_shown_read)
        self._history_retry = QTimer(self)
        self._history_retry.setSingleShot(True)
        self._history_retry.timeout.connect(self._retry_history)
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_DELAY_MS)
        self._draft_timer.timeout.connect(self._save_draft)
        # Wiring: widgets to the service.
        self.search.enter = self._open_first_match
        # Moving in the list with the arrows opens after a pause, leaving the
        # focus in the list; filtering (the list changes under the search box)
        # never opens nor marks anything read.
        self.list_view.selectionModel().currentChanged.connect(self._current_changed)
        # A click, Enter or a double click opens the conversation to write in it.
        self.list_view.clicked.connect(lambda _index: self._open_and_write())
        self.list_view.activated.connect(lambda _index: self._open_and_write())
        self.new_button.clicked.connect(self.new_conversation)
        self.conversations.more_requested.connect(self.service.load_conversations)
        self.conversations.unread_changed.connect(lambda _total: self._update_title())
        self.messages.page_requested.connect(self.service.load_history)
        self.pane.view.shown_changed.connect(self._read_timer.start)
        composer = self.pane.composer
        composer.send_requested.connect(self._send)
        composer.edit_requested.connect(self._edit)
        composer.edit_last_requested.connect(self._edit_last)
        composer.text_changed.connect(lambda _text: self._draft_timer.start())
        self.pane.view.edit_requested.connect(self.edit_message)
        self.pane.view.delete_requested.connect(self.delete_message)
        self.pane.view.info_requested.connect(lambda m: self.service.load_info(m.id))
        self.pane.block_requested.connect(self.block)
        self.pane.unblock_requested.connect(self.service.unblock)
        self.pane.ban_requested.connect(self.ban)
        self.pane.unban_requested.connect(self.service.unban)
        # Wiring: the service to the models.
        service.conversations_loaded.connect(self._conversations_loaded)
        service.history_loaded.connect(self._history_loaded)
        service.message_sent.connect(self._message_sent)
        self.outbox.changed.connect(self._show_pending)
        service.message_received.connect(self._message_received)
        service.message_changed.connect(self._message_changed)
        service.message_deleted.connect(self._message_deleted)
        service.messages_read.connect(self.messages.mark_read)
        service.read_marked.connect(self._read_marked)
        service.read_elsewhere.connect(self._read_elsewhere)
        # A refused /lu: ask again the next time something is shown.
        service.background_failed.connect(lambda _report: self._forget_read_request())
        service.unread_total_loaded.connect(self._set_unread_total)
        service.info_loaded.connect(self._show_info)
        service.restrictions_loaded.connect(self.restrictions.set_rows)
        self.restrictions.states_changed.connect(self._apply_statuses)
        service.restriction_changed.connect(self._restriction_changed)
        service.directory_loaded.connect(self.directory.load_page)
        self.directory.more_requested.connect(self.service.load_directory)
        self._update_title()
        self.refresh()

    # --- menus and shortcuts ---

    def _build_menus(self) -> None:
        self.moderation_actions: dict[str, QAction] = {}
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr("&File"))
        refresh = QAction(self.tr("&Refresh"), self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh)
        file_menu.addAction(refresh)
        menu = bar.addMenu(self.tr("&Conversation"))
        self.new_action = QAction(self.tr("&New conversation…"), self)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.triggered.connect(self.new_conversation)
        self.new_action.setVisible(not self.pro)
        self.new_action.setEnabled(not self.pro)
        menu.addAction(self.new_action)
        search = QAction(self.tr("&Search a conversation"), self)
        search.setShortcut(QKeySequence("Ctrl+K"))
        search.triggered.connect(self.focus_search)
        menu.addAction(search)
        find = QAction(self.tr("&Find in the conversation"), self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self.find_in_conversation)
        menu.addAction(find)
        self.next_unread_action = QAction(self.tr("Next &unread conversation"), self)
        self.next_unread_action.setShortcut(QKeySequence("Alt+Shift+Down"))
        self.next_unread_action.triggered.connect(self.next_unread)
        menu.addAction(self.next_unread_action)
        latest = QAction(self.tr("Jump to the &latest message"), self)
        latest.setShortcut(QKeySequence("Alt+End"))
        latest.triggered.connect(self.pane.view.jump_to_latest)
        menu.addAction(latest)
        write = QAction(self.tr("&Write a message"), self)
        write.setShortcut(QKeySequence("Ctrl+L"))
        write.triggered.connect(lambda: self.pane.composer.editor.setFocus())
        menu.addAction(write)
        menu.addSeparator()
        for action in (
            self.pane.view.info_action,
            self.pane.view.edit_action,
            self.pane.view.delete_action,
        ):
            menu.addAction(action)
        if self.pro:
            moderation = bar.addMenu(self.tr("&Moderation"))
            for name, title, slot in (
                ("block", self.tr("&Block this customer…"), lambda: self._with_partner(self.block)),
                (
                    "unblock",
                    self.tr("Un&block this customer"),
                    lambda: self._with_partner(self.service.unblock),
                ),
                ("ban", self.tr("B&an this customer…"), lambda: self._with_partner(self.ban)),
                (
                    "unban",
                    self.tr("&Lift the ban"),
                    lambda: self._with_partner(self.service.unban),
                ),
            ):
                action = QAction(title, self)
                action.triggered.connect(slot)
                moderation.addAction(action)
                self.moderation_actions[name] = action
            moderation.addSeparator()
            sanctions = QAction(self.tr("&Blocks and bans…"), self)
            sanctions.setShortcut(QKeySequence("Ctrl+Shift+S"))
            sanctions.triggered.connect(self.show_sanctions)
            moderation.addAction(sanctions)
            self._apply_statuses()  # nothing to moderate before a conversation opens
        self.add_common_menus(file_menu)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = [
            (key_name("Enter"), self.tr("Send the message")),
            (key_name("Shift+Enter"), self.tr("New line in the message")),
            (key_name("Ctrl+K"), self.tr("Search a conversation")),
            (key_name("Ctrl+F"), self.tr("Find in the conversation")),
            (key_name("Alt+Shift+Down"), self.tr("Next unread conversation")),
            (key_name("Alt+End"), self.tr("Jump to the latest message")),
            (key_name("Ctrl+L"), self.tr("Write a message")),
            (key_name("F2"), self.tr("Edit the selected message")),
            (key_name("Delete"), self.tr("Delete the selected message")),
            (key_name("Ctrl+I"), self.tr("Details of the selected message")),
            (
                self.tr("%1 (empty message)").replace("%1", key_name("Up")),
                self.tr("Edit my last message"),
            ),
            (key_name("Escape"), self.tr("Cancel editing")),
        ]
        if not self.pro:
            rows.insert(2, (key_name("Ctrl+N"), self.tr("New conversation")))
        else:
            rows.append((key_name("Ctrl+Shift+S"), self.tr("Blocks and bans")))
        return rows + super().shortcut_rows()

    def focus_search(self) -> None:
        self.sidebar.focus_search()

    def find_in_conversation(self) -> None:
        """Ctrl+F: find text in the open conversation (else search the list)."""
        if self.pane.partner is None:
            self.focus_search()
        else:
            self.pane.show_find()

    def _current_changed(self, current: object, previous: object) -> None:
        if self.list_view.hasFocus():
            self._open_timer.start()

    def _open_first_match(self) -> None:
        if self.proxy.rowCount():
            self.list_view.setCurrentIndex(self.proxy.index(0, 0))
            self._open_current()
            self.pane.composer.editor.setFocus()

    # --- loading ---

    def refresh(self) -> None:
        self.service.load_conversations(0)
        if self.pro:
            self.service.load_restrictions()
        self.service.load_unread_total()
        self._read_timer.start()
        if self.messages.partner >= 0:
            if self.messages.failed:
                self._retry_history()
            else:
                self.messages.refresh()

    def connection_changed(self, state: ConnectionState) -> None:
        self.pane.composer.set_online(state is ConnectionState.ONLINE)
        if state is ConnectionState.ONLINE:
            self._flush_outbox()

    def handle_error(self, report: ServiceError) -> None:
        if report.action is Action.SEND and self._outbox_failed(report):
            return
        if report.action is Action.SEND or report.action is Action.EDIT:
            self.pane.composer.set_busy(False)
        elif report.action is Action.HISTORY:
            if report.target == self.messages.partner:
                self.messages.loading_failed()
                self._history_failed(report)
        elif report.action is Action.CONVERSATIONS:
            self.conversations.loading_failed()
            if report.retry_after and self.conversations.rowCount() == 0:
                QTimer.singleShot(
                    report.retry_after * 1000, lambda: self.service.load_conversations(0)
                )
        elif report.action is Action.DIRECTORY:
            self.directory.loading_failed()

    def _conversations_loaded(
        self, items: list[ConversationSummary], page: int, pages: int
    ) -> None:
        self.conversations.load_page(items, page, pages)
        self._mark_drafts()
        unnamed, self._unnamed = self._unnamed, []
        for message in unnamed:
            self._notify_message(message)
        self._apply_statuses()
        self._select_partner(self.messages.partner)
        self._update_title()

    def _history_loaded(self, partner: int, page_number: int, page: Page) -> None:
        if partner != self.messages.partner:
            return
        self.messages.load_page(partner, page_number, page)
        self.pane.view.show_state(None)
        if page.unread is not None:
            self.conversations.set_unread(partner, page.unread)

    def _history_failed(self, report: ServiceError) -> None:
        """Say why the pane is empty, and try again when the server allows it."""
        if report.code is None:
            # Offline: the reconnection's refresh() retries.
            self.pane.view.show_state(report.message)
            return
        delay = report.retry_after if report.retry_after else HISTORY_RETRY_S
        self.pane.view.show_state(
            self.tr("%1 Trying again in %2 s.")
            .replace("%1", report.message)
            .replace("%2", str(delay))
        )
        self._history_retry.start(delay * 1000)

    def _retry_history(self) -> None:
        self._history_retry.stop()
        if self.messages.partner >= 0 and self.messages.failed:
            self.pane.view.show_state(self.tr("Loading…"))
            self.messages.retry()

    # --- read state ---

    def _mark_shown_read(self) -> None:
        """Messages become read as a person sees them: up to the newest on screen."""
        partner = self.messages.partner
        if partner < 0 or not self.service.online:
            return  # offline: refresh() looks again once reconnected
        up_to = self.pane.view.newest_shown()
        if up_to is None or not self.messages.has_unread_up_to(up_to):
            return
        asked_partner, asked_up_to = self._read_asked
        if asked_partner == partner and asked_up_to >= up_to:
            return  # already asked for that
        self._read_asked = (partner, up_to)
        self.service.mark_read(partner, up_to)

    def _forget_read_request(self) -> None:
        self._read_asked = (-1, 0)

    def _read_marked(self, partner: int, mark: ReadMark) -> None:
        self.conversations.set_unread(partner, mark.unread)
        self._set_unread_total(mark.total_unread)
        if partner == self.messages.partner:
            self._read_timer.start()  # more may have come into view meanwhile

    def _read_elsewhere(self, partner: int, count: int) -> None:
        """This user read ``count`` of ``partner``'s messages in another session."""
        row = self.conversations.row_of(partner)
        if row is not None:
            unread = self.conversations.conversation(row).unread
            self.conversations.set_unread(partner, unread - count)
        self._set_unread_total(self._unread_total - count)

    def _set_unread_total(self, total: int) -> None:
        self._unread_total = max(0, total)
        self._update_title()

    @property
    def unread_total(self) -> int:
        return self._unread_total

    # --- choosing a conversation ---

    def _open_and_write(self) -> None:
        self._open_current()
        self.focus_composer()

    def focus_composer(self) -> None:
        if self.pane.partner is not None:
            self.pane.composer.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def _open_current(self) -> None:
        self._open_timer.stop()
        index = self.list_view.currentIndex()
        if index.isValid():
            partner = index.data(ConversationListModel.PartnerRole)
            if partner is not None:
                self.open_partner(partner)

    def _select_partner(self, partner_id: int) -> None:
        self.sidebar.select_partner(partner_id)

    def open_partner(self, partner: User) -> None:
        """Show the conversation with ``partner`` and load its newest page."""
        if partner.id == self.messages.partner:
            return
        self._save_draft()
        previous = self.messages.partner
        if previous >= 0:  # left with unsent text: marked in the list
            self.conversations.set_draft(previous, self.drafts.get(self._draft_key(previous)))
        self.conversations.set_draft(partner.id, "")  # open: the composer shows it
        composer = self.pane.composer
        composer.cancel_edit()
        composer.set_busy(False)
        self._mark_shown_read()  # what was on screen until now was seen
        self._read_timer.stop()
        self._history_retry.stop()
        self.pane.view.show_state(self.tr("Loading…"))
        self._read_asked = (-1, 0)
        self.messages.reset(partner.id, self.me, self.service.max_messages)
        self.pane.show_conversation(partner)
        self._show_pending()
        self._apply_statuses()
        composer.set_limit(self.service.max_message_size)
        composer.set_online(self.service.online)
        composer.set_text(self.drafts.get(self._draft_key(partner.id)))
        self._select_partner(partner.id)
        self.messages.open()
        self._update_title()

    def open_partner_id(self, partner_id: int) -> None:
        partner = self.conversations.partner(partner_id)
        if partner is not None:
            self.open_partner(partner)
            self._raise()

    def next_unread(self) -> None:
        current = self.conversations.row_of(self.messages.partner)
        row = self.conversations.next_unread(-1 if current is None else current)
        if row is None:
            self.statusBar().showMessage(self.tr("No unread conversation."), NOTICE_MS)
            return
        self.open_partner(self.conversations.conversation(row).partner)
        self.focus_composer()

    def new_conversation(self) -> None:
        if self.pro:
            return
        self.service.load_directory(0)
        dialog = DirectoryDialog(self.directory, self)
        self.directory_dialog = dialog

        def done(code: int) -> None:
            if code and dialog.chosen is not None:
                self.conversations.ensure_partner(dialog.chosen)
                self.open_partner(dialog.chosen)
                self.pane.composer.editor.setFocus()
            self.directory_dialog = None
            dialog.deleteLater()

        dialog.finished.connect(done)
        dialog.open()

    def _update_title(self) -> None:
        title = self.titled(self.user.name)
        unread = self._unread_total
        if unread:
            title = f"({unread}) {title}"
        self.setWindowTitle(title)
        self.setWindowIcon(app_icon(self.kind, unread))

    # --- drafts ---

    def _draft_key(self, partner: int) -> str:
        return DraftStore.key(self.server_name, self.me, partner)

    def _save_draft(self) -> None:
        self._draft_timer.stop()
        partner = self.messages.partner
        if partner >= 0:
            self.drafts.set(self._draft_key(partner), self.pane.composer.draft())
            self.drafts.save()

    def _mark_drafts(self) -> None:
        """The list marks the conversations holding unsent text (not the open one)."""
        texts = {}
        for row in range(self.conversations.rowCount()):
            partner = self.conversations.conversation(row).partner.id
            if partner != self.messages.partner:
                texts[partner] = self.drafts.get(self._draft_key(partner))
        self.conversations.set_drafts(texts)

    def about_to_close(self) -> None:
        self._save_draft()
        # Still waiting for a connection: back to their drafts, kept on disk, rather
        # than lost with the window. (One in flight may have arrived: the history
        # shows it at the next start, next to the draft.)
        for pending in self.outbox.take_all():
            self._give_back_to_draft(pending.partner, pending.text, composer=False)

    # --- writing ---

    def _send(self, text: str) -> None:
        partner = self.messages.partner
        if partner < 0:
            return
        if not self.service.online or len(self.outbox):
            # Offline (or earlier messages still waiting): queued, in order.
            self.outbox.add(partner, text)
            self.pane.composer.clear()
            self.drafts.set(self._draft_key(partner), "")
            self.drafts.save()
            self._flush_outbox()
            return
        self.pane.composer.set_busy(True)
        self.service.send_message(partner, text)

    def _flush_outbox(self) -> None:
        """Send the oldest waiting message; the next goes when it is through."""
        if not self.service.online:
            return
        pending = self.outbox.take_next()
        if pending is not None:
            self.service.send_message(pending.partner, pending.text)

    def _show_pending(self) -> None:
        partner = self.messages.partner
        self.pane.set_pending([p.text for p in self.outbox.pending_for(partner)])

    def _outbox_failed(self, report: ServiceError) -> bool:
        """A waiting message failed: kept for later (no connection) or given back
        to its conversation's draft (refused). True when the report was about it."""
        flying = self.outbox.in_flight
        if flying is None or report.target != flying.partner:
            return False
        if report.code is None:
            self.outbox.retry_later()
            return True
        self.outbox.refused()
        self._give_back_to_draft(flying.partner, flying.text, composer=True)
        self._flush_outbox()
        return True

    def _give_back_to_draft(self, partner: int, text: str, *, composer: bool) -> None:
        """Append ``text`` to what is being written to ``partner``: in the composer
        if that conversation is open there (and ``composer``), else its saved draft."""
        if composer and partner == self.messages.partner and self.pane.composer.editing is None:
            current = self.pane.composer.text()
            self.pane.composer.set_text(f"{current}\n{text}" if current else text)
            return
        key = self._draft_key(partner)
        current = self.drafts.get(key)
        self.drafts.set(key, f"{current}\n{text}" if current else text)
        self.drafts.save()
        self.conversations.set_draft(partner, self.drafts.get(key))

    def _edit(self, message_id: int, text: str) -> None:
        self.pane.composer.set_busy(True)
        self.service.edit_message(message_id, text)

    def _edit_last(self) -> None:
        for message in reversed(self.messages.messages()):
            if message.sender == self.me and not message.deleted:
                self.edit_message(message)
                return

    def edit_message(self, message: Message) -> None:
        if message.sender == self.me and not message.deleted and message.text is not None:
            self.pane.composer.start_edit(message.id, message.text)

    def delete_message(self, message: Message, ask: bool = True) -> None:
        if message.sender != self.me or message.deleted:
            return
        if not ask:
            self.service.delete_message(message.id)
            return
        confirm(
            self,
            self.tr("Delete the message"),
            self.tr("Delete this message? Its text is erased for both of you."),
            self.tr("&Delete"),
            lambda: self.service.delete_message(message.id),
            destructive=True,
        )

    def _show_info(self, message: Message) -> None:
        names = {self.me: self.user.name}
        for partner_id in (message.sender, message.recipient):
            partner = self.conversations.partner(partner_id)
            if partner is not None:
                names[partner.id] = partner.name
        self.info_dialog = InfoDialog(message, names, self)
        self.info_dialog.open()

    # --- live events ---

    def _message_sent(self, message: Message) -> None:
        self.clear_error(Action.SEND)  # "you cannot write…" is no longer true
        if message.recipient == self.messages.partner and self.messages.has_newer():
            self.messages.request_latest()  # show what was just sent, at the bottom
        self.messages.add_message(message)
        if not self.conversations.apply_message(message, False):
            self.service.load_conversations(0)
        if self.outbox.is_in_flight(message.recipient, message.text):
            self.outbox.sent()  # a waiting message went out: the composer holds newer text
            self._flush_outbox()
            return
        key = self._draft_key(message.recipient)
        if message.recipient == self.messages.partner:
            composer = self.pane.composer
            composer.set_busy(False)
            composer.clear()
            self.drafts.set(key, "")
        elif self.drafts.get(key) == message.text:
            # Sent after the user moved to another conversation: the text
            # saved as that conversation's draft went out.
            self.drafts.set(key, "")
            self.conversations.set_draft(message.recipient, "")
        self.drafts.save()

    def _message_received(self, message: Message) -> None:
        partner = self.conversations.partner_of(message)
        is_open = partner == self.messages.partner
        to_me = message.recipient == self.me
        if is_open:
            self.messages.add_message(message)
        # Unread until a person sees it (the view says so: _mark_shown_read).
        known = self.conversations.apply_message(message, to_me)
        if to_me:
            self._unread_total += 1
        if to_me and (not is_open or not self.isActiveWindow()):
            if known:
                self._notify_message(message)
            else:
                self._unnamed.append(message)  # told once the list knows the name
        if not known:
            self.service.load_conversations(0)
        self._update_title()
        if is_open:
            self._read_timer.start()

    def _notify_message(self, message: Message) -> None:
        partner_id = self.conversations.partner_of(message)
        partner = self.conversations.partner(partner_id)
        name = partner.name if partner is not None else self.tr("someone")
        preview = " ".join((message.text or "").split())[:120]
        self.notify(
            self.tr("New message from %1").replace("%1", name),
            preview,
            lambda: self.open_partner_id(partner_id),
        )

    def activated(self) -> None:
        self._read_timer.start()  # what is on screen is seen now

    def _message_changed(self, message: Message) -> None:
        self.messages.update_message(message)
        self.conversations.update_message(message)
        if self.pane.composer.editing == message.id:
            self.clear_error(Action.EDIT)
            self.pane.composer.set_busy(False)
            self.pane.composer.finish_edit(message.id)

    def _message_deleted(self, message_id: int, when: datetime) -> None:
        self.messages.mark_deleted(message_id, when)
        self.conversations.mark_deleted(message_id, when)
        if self.pane.composer.editing == message_id:
            self.pane.composer.cancel_edit()

    # --- moderation (pro) ---

    def _with_partner(self, action: object) -> None:
        partner = self.pane.partner
        if partner is not None and callable(action):
            action(partner.id)

    def _name(self, client_id: int) -> str:
        partner = self.conversations.partner(client_id)
        return partner.name if partner is not None else f"#{client_id}"

    def block(self, client_id: int, ask: bool = True) -> None:
        if not ask:
            self.service.block(client_id)
            return
        hours = max(1, round(int(self.service.limits.get("block_duration", 86400)) / 3600))
        confirm(
            self,
            self.tr("Block"),
            self.tr("Block %1? They cannot write to you for %2 h.")
            .replace("%1", self._name(client_id))
            .replace("%2", str(hours)),
            self.tr("&Block"),
            lambda: self.service.block(client_id),
            destructive=True,
        )

    def ban(self, client_id: int, ask: bool = True) -> None:
        if not ask:
            self.service.ban(client_id)
            return
        confirm(
            self,
            self.tr("Ban"),
            self.tr("Ban %1? They cannot write to you until you lift the ban.").replace(
                "%1", self._name(client_id)
            ),
            self.tr("B&an"),
            lambda: self.service.ban(client_id),
            destructive=True,
        )

    def _apply_statuses(self) -> None:
        texts = {}
        for client_id, state in self.restrictions.states().items():
            parts = []
            if state.blocked_until is not None:
                parts.append(self.tr("blocked"))
            if state.banned:
                parts.append(self.tr("banned"))
            texts[client_id] = ", ".join(parts)
        self.conversations.set_statuses(texts)
        partner = self.pane.partner
        state = self.restrictions.state_of(partner.id) if partner is not None else None
        if state is not None:
            self.pane.set_restrictions(state.blocked_until, state.banned)
        # Only what can be done to the open conversation's customer.
        customer = partner is not None and partner.role == "client"
        blocked = state is not None and state.blocked_until is not None
        banned = state is not None and state.banned
        for name, allowed in (
            ("block", not blocked),
            ("unblock", blocked),
            ("ban", not banned),
            ("unban", banned),
        ):
            if name in self.moderation_actions:
                self.moderation_actions[name].setEnabled(customer and allowed)

    def _restriction_changed(self, client_id: int, action: str, until: datetime | None) -> None:
        name = self._name(client_id)
        texts = {
            "block": self.tr("%1 is blocked until %2.").replace("%2", full_time(until)),
            "unblock": self.tr("%1 can write to you again."),
            "ban": self.tr("%1 is banned until you lift the ban."),
            "unban": self.tr("The ban on %1 is lifted."),
        }
        self.notice.show_message(
            texts[action].replace("%1", name), Severity.SUCCESS, timeout_ms=NOTICE_MS
        )
        self.restrictions.apply_change(client_id, action, until)

    def show_sanctions(self) -> None:
        def lift(client_id: int, kind: str) -> None:
            if kind == "block":
                self.service.unblock(client_id)
            else:
                self.service.unban(client_id)

        self.service.load_restrictions()
        dialog = SanctionsDialog(self.restrictions, lift, self.service.load_restrictions, self)
        self.sanctions_dialog = dialog
        dialog.open()
