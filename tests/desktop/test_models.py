"""Models (qtmodeltester), and the pieces that need no server."""

from __future__ import annotations

import random
import shutil
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QModelIndex

from desktop.errors import Action, describe_status
from desktop.i18n import I18N_DIR
from desktop.models import (
    ConversationListModel,
    LogModel,
    MessageModel,
    RestrictionModel,
    UserTableModel,
)
from desktop.service import backoff_delay
from desktop.settings import DraftStore, KeyStore, Settings, TrustedServer
from desktop.trust import ServerAddress, TrustError, check_offer, fingerprint_of_pem
from desktop.widgets.conversation import MessageListView
from protocol.codec import STANDARD_LABELS
from protocol.models import ConversationSummary, LogEntry, Message, Page, Restriction, User

ME, PARTNER = 1, 2
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def message(number: int, mine: bool = False, **changes) -> Message:
    values = dict(
        id=number,
        sender=ME if mine else PARTNER,
        recipient=PARTNER if mine else ME,
        text=f"message {number}",
        sent_at=T0 + timedelta(minutes=number),
        modified_at=None,
        read_at=None,
        deleted_at=None,
    )
    values.update(changes)
    return Message(**values)


def page(numbers: list[int], page_number: int, total: int, size: int = 3) -> Page:
    return Page(page_number, -(-total // size), total, tuple(message(n) for n in numbers))


# --- qtmodeltester ------------------------------------------------------------------------


def test_conversation_list_model(qtmodeltester) -> None:
    model = ConversationListModel()
    model.set_me(ME)
    items = [
        ConversationSummary(User(number, "client", f"Client {number}"), message(number), number % 3)
        for number in range(2, 8)
    ]
    model.load_page(items, 0, 2)
    assert model.total_unread() == sum(number % 3 for number in range(2, 8))
    assert model.canFetchMore(QModelIndex())
    requested = []
    model.more_requested.connect(requested.append)
    model.fetchMore(QModelIndex())
    assert requested == [1] and not model.canFetchMore(QModelIndex())
    qtmodeltester.check(model)
    model.load_page([ConversationSummary(User(9, "client", "Client 9"), None, 0)], 1, 2)
    qtmodeltester.check(model)
    # A new message moves its conversation to the top and counts as unread.
    last = model.conversation(model.rowCount() - 1).partner
    assert model.apply_message(Message(50, last.id, ME, "hé", T0, None, None, None), True)
    assert model.conversation(0).partner == last and model.conversation(0).unread == 1
    assert not model.apply_message(Message(51, 99, ME, "?", T0, None, None, None), True)
    assert model.next_unread(0) is not None
    qtmodeltester.check(model)


def peek(numbers: list[int], page_number: int, total: int, first_unread=None, unread=None) -> Page:
    """An /apercu page of 3: ids equal places + 1 here."""
    base = page(numbers, page_number, total)
    return Page(base.page, base.pages, base.total, base.messages, unread, first_unread)


def test_message_model_pages_and_live_messages(qtmodeltester) -> None:
    model = MessageModel()
    asked: list[int] = []
    model.page_requested.connect(lambda partner, number: asked.append(number))
    model.reset(PARTNER, ME, page_size=3)
    model.open()
    assert asked == [0] and model.loading
    # Page 0 says the oldest unread (9) is on page 0 itself: shown at once.
    model.load_page(PARTNER, 0, peek([8, 9, 10], 0, total=10, first_unread=(9, 0), unread=2))
    qtmodeltester.check(model)
    assert [m.id for m in model.messages()] == [8, 9, 10] and not model.loading
    assert model.focus_id() == 9 and model.unread_at_open == 2
    # Nothing newer: Qt's fetchMore (at the bottom) has nothing to do.
    assert not model.has_newer() and not model.canFetchMore(QModelIndex())
    assert model.fetch_older() and asked[-1] == 1
    assert not model.fetch_older()  # one older page at a time
    # Two messages arrived meanwhile: page 1 now overlaps; no duplicates.
    model.add_message(message(11))
    model.add_message(message(12, mine=True))
    model.load_page(PARTNER, 1, peek([7, 8, 9], 1, total=12))
    assert [m.id for m in model.messages()] == [7, 8, 9, 10, 11, 12]
    assert model.fetch_older() and asked[-1] == 2
    model.load_page(PARTNER, 2, peek([4, 5, 6], 2, total=12))
    model.fetch_older()
    model.load_page(PARTNER, 3, peek([1, 2, 3], 3, total=12))
    assert [m.id for m in model.messages()] == list(range(1, 13))
    assert not model.has_older() and not model.fetch_older()
    qtmodeltester.check(model)
    # The divider sits above the oldest unread message the server named.
    dividers = [
        m.id
        for m in model.messages()
        if model.index(model.row_of(m.id), 0).data(MessageModel.DividerRole)
    ]
    assert dividers == [9]
    assert model.has_unread_up_to(1)
    # Edits, deletions and reads update rows in place.
    model.update_message(message(5, text="changé", modified_at=T0))
    model.mark_deleted(6, T0)
    model.mark_read(list(range(1, 12)), T0)
    assert model.index(4, 0).data(MessageModel.EditedRole)
    assert model.index(5, 0).data(MessageModel.DeletedRole)
    assert model.index(10, 0).data(MessageModel.ReadRole)
    assert model.index(0, 0).data(MessageModel.DayHeaderRole)
    assert not model.has_unread_up_to(11) and model.find("MESSAGE 1") == [0, 9, 10, 11]
    qtmodeltester.check(model)


def test_message_model_opens_at_the_oldest_unread_and_loads_both_ways(qtmodeltester) -> None:
    model = MessageModel()
    asked: list[int] = []
    model.page_requested.connect(lambda partner, number: asked.append(number))
    model.reset(PARTNER, ME, page_size=3)
    model.open()
    # 30 messages, the oldest unread (5) is on page 8: opened there instead.
    model.load_page(PARTNER, 0, peek([28, 29, 30], 0, total=30, first_unread=(5, 8), unread=26))
    assert asked == [0, 8] and model.rowCount() == 0 and model.loading
    model.load_page(PARTNER, 8, peek([4, 5, 6], 8, total=30, first_unread=(5, 8), unread=26))
    assert [m.id for m in model.messages()] == [4, 5, 6] and model.focus_id() == 5
    assert model.has_older() and model.has_newer()
    # Below: Qt's fetchMore asks for the next newer page.
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert asked[-1] == 7 and not model.canFetchMore(QModelIndex())
    model.load_page(PARTNER, 7, peek([7, 8, 9], 7, total=30))
    assert [m.id for m in model.messages()] == list(range(4, 10))
    # A live message far below the loaded run is counted, not shown.
    model.add_message(message(31))
    assert model.total == 31 and model.rowCount() == 6
    # Page numbers follow the total: place 9 (id 10) is on page (31-1-9)//3 = 7.
    model.fetchMore(QModelIndex())
    assert asked[-1] == 7
    model.load_page(PARTNER, 7, peek([8, 9, 10], 7, total=31))
    assert [m.id for m in model.messages()][-1] == 10
    # Jumping to the latest replaces the run.
    model.request_latest()
    model.load_page(PARTNER, 0, peek([29, 30, 31], 0, total=31))
    assert [m.id for m in model.messages()] == [29, 30, 31] and model.focus_id() is None
    assert not model.has_newer() and model.has_older()
    # A failed load is kept, and retried.
    model.fetch_older()
    model.loading_failed()
    assert model.failed and not model.loading and not model.can_fetch_older()
    model.retry()
    assert asked[-1] == 1 and model.loading and not model.failed
    qtmodeltester.check(model)


def test_message_model_resets_after_a_gap() -> None:
    model = MessageModel()
    model.reset(PARTNER, ME, page_size=3)
    model.open()
    model.load_page(PARTNER, 0, peek([1, 2, 3], 0, total=3))
    # Offline for long: the newest page no longer touches what we hold.
    model.refresh()
    model.load_page(PARTNER, 0, peek([8, 9, 10], 0, total=10))
    assert [m.id for m in model.messages()] == [8, 9, 10]
    assert model.has_older()


def test_table_models(qtmodeltester) -> None:
    logs = LogModel()
    logs.set_rows(
        [LogEntry(T0, "127.0.0.1", None if n % 2 else n, f"/cmd{n}", 200, 1.5) for n in range(5)]
    )
    qtmodeltester.check(logs)
    restrictions = RestrictionModel()
    restrictions.set_rows(
        [
            Restriction(User(3, "client", "Ana"), "block", 1, T0, T0 + timedelta(hours=1)),
            Restriction(User(4, "client", "Ben"), "ban", 0, T0, None),
        ]
    )
    qtmodeltester.check(restrictions)
    # The model owns each customer's sanction state and follows live changes.
    assert restrictions.state_of(3).blocked_until == T0 + timedelta(hours=1)
    assert restrictions.state_of(4).banned and restrictions.state_of(4).blocked_until is None
    assert not restrictions.state_of(5).sanctioned
    restrictions.apply_change(4, "unban", None)
    restrictions.apply_change(5, "block", T0)
    assert set(restrictions.states()) == {3, 5}
    assert restrictions.state_of(5).blocked_until == T0
    users = UserTableModel()
    users.load_page([User(n, "pro", f"Pro {n}") for n in range(3)], 0, 2)
    users.set_statuses({1: "bloqué"})
    assert users.canFetchMore(QModelIndex())
    qtmodeltester.check(users)


def test_a_long_history_stays_smooth(qtbot) -> None:
    """Model/view: 5000 messages lay out and scroll without one widget each."""
    model = MessageModel()
    model.reset(PARTNER, ME, page_size=5000)
    rng = random.Random(5)
    messages = tuple(
        message(n, mine=rng.random() < 0.5, text=" ".join(["mot"] * rng.randint(1, 60)))
        for n in range(1, 5001)
    )
    view = MessageListView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 500)
    view.show()
    start = time.perf_counter()
    model.open()
    model.load_page(PARTNER, 0, Page(0, 1, 5000, messages))
    view.doItemsLayout()
    view.scrollToBottom()
    view.viewport().repaint()
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)
    view.viewport().repaint()
    assert time.perf_counter() - start < 5.0
    assert view.findChildren(type(view.jump_button)) == [view.jump_button]


# --- trust, settings, errors ----------------------------------------------------------------


def test_server_addresses() -> None:
    assert ServerAddress.parse("localhost") == ServerAddress("localhost", 4242)
    assert ServerAddress.parse(" example.org:5000 ") == ServerAddress("example.org", 5000)
    assert ServerAddress.parse("[::1]:4243") == ServerAddress("::1", 4243)
    assert str(ServerAddress("::1", 4243)) == "[::1]:4243"
    for bad in ("", "host:0", "host:99999", "host:x", "a b:1"):
        with pytest.raises(ValueError):
            ServerAddress.parse(bad)


def test_fingerprints_are_computed_not_believed(server) -> None:
    pem = server.ca_file.read_text()
    printed = next(
        line.split(": ", 1)[1] for line in server.output if line.startswith("CA fingerprint")
    )
    assert fingerprint_of_pem(pem) == printed
    leaf = ssl.PEM_cert_to_DER_cert(pem)  # not issued by itself as a server cert
    address = ServerAddress("localhost", server.port)
    with pytest.raises(TrustError):
        check_offer(address, pem, "00:" * 31 + "00", b"")
    offer = check_offer(address, pem, printed, b"")
    assert offer.fingerprint == printed
    del leaf
    with pytest.raises(TrustError):
        fingerprint_of_pem("not a certificate")


def test_backoff_grows_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, 1.0, 60.0, rng) for attempt in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(60.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(backoff_delay(3, 1.0, 60.0, rng), 6) for _ in range(20)}) > 1


def test_settings_keys_and_drafts_are_private(desktop_dir) -> None:
    settings = Settings()
    settings.set_last_server("pro", "localhost:4242")
    settings.set_trusted("localhost:4242", TrustedServer("PEM", "AB:CD"))
    settings.language = "en"
    settings.save()
    again = Settings()
    assert again.last_server("pro") == "localhost:4242" and again.language == "en"
    assert again.trusted("localhost:4242") == TrustedServer("PEM", "AB:CD")
    keys = KeyStore()
    assert not keys.uses_keyring and str(desktop_dir) in keys.description
    keys.set("pro", "localhost:4242", "secret-key")
    assert KeyStore().get("pro", "localhost:4242") == "secret-key"
    assert keys.file.stat().st_mode & 0o777 == 0o600
    keys.delete("pro", "localhost:4242")
    assert KeyStore().get("pro", "localhost:4242") is None
    drafts = DraftStore()
    drafts.set("a", "brouillon")
    drafts.save()
    assert DraftStore().get("a") == "brouillon"
    assert drafts.path.stat().st_mode & 0o777 == 0o600


def test_every_status_code_has_a_french_sentence() -> None:
    codes = sorted(set(STANDARD_LABELS) - {200, 204})
    for action in Action:
        for code in codes:
            text = describe_status(code, action, {"retry_after": 7, "max": 200})
            assert text and not text.startswith("Unexpected"), (code, action)
    assert "7 s" in describe_status(429, Action.SEND, {"retry_after": 7})
    assert "200" in describe_status(413, Action.SEND, {"max": 200})
    assert "réessayer" in describe_status(429, Action.SEND, {"retry_after": 7})


def test_translations_are_complete(tmp_path) -> None:
    """Every string of the code is in the French catalogue, translated."""
    from desktop.i18n.update import lupdate

    fresh = tmp_path / "tchatator_fr.ts"
    shutil.copy(I18N_DIR / "tchatator_fr.ts", fresh)
    lupdate(fresh)  # what a developer's update would add
    for language, catalogue in (("fr", fresh), ("en", I18N_DIR / "tchatator_en.ts")):
        tree = ET.parse(catalogue)
        unfinished = [
            message.findtext("source")
            for message in tree.iter("message")
            if message.find("translation").get("type") in ("unfinished", "obsolete")
        ]
        assert unfinished == [], language
        assert (I18N_DIR / f"tchatator_{language}.qm").stat().st_size > 0


def test_singletons_survive_many_qt_calls() -> None:
    """PySide6 6.12 on Python 3.11 drops a reference to None per void call
    and to True per signal emitted: without desktop._compat this aborts."""
    from PySide6.QtCore import QObject, QPoint, Signal

    class Emitter(QObject):
        fired = Signal(bool)

    point, emitter = QPoint(), Emitter()
    for _ in range(300_000):
        point.setX(1)
        emitter.fired.emit(False)
    assert sys.getrefcount(None) > 1000 and sys.getrefcount(True) > 1000


def test_bubbles_follow_the_palette_and_the_font(qtbot) -> None:
    from PySide6.QtGui import QColor, QFont, QPalette

    from desktop.delegates import BubblePainter

    model = MessageModel()
    model.reset(PARTNER, ME, page_size=10)
    model.open()
    model.load_page(PARTNER, 0, Page(0, 1, 2, (message(1), message(2, mine=True))))
    view = MessageListView()
    qtbot.addWidget(view)
    view.set_me(ME)
    view.setModel(model)
    view.resize(500, 300)
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#eeeeee"))
    dark.setColor(QPalette.ColorRole.Highlight, QColor("#3d7bd9"))
    view.setPalette(dark)
    view.show()
    image = view.viewport().grab().toImage()
    rect = view.visualRect(model.index(0, 0))
    theirs = image.pixelColor(rect.left() + 20, rect.center().y())
    assert theirs.lightness() < 80  # a dark bubble on a dark base
    mine = view.visualRect(model.index(1, 0))
    assert image.pixelColor(mine.right() - 20, mine.center().y()) == QColor("#3d7bd9")
    small, large = QFont(), QFont()
    small.setPointSizeF(9)
    large.setPointSizeF(18)
    sizes = [
        BubblePainter(font).geometry(500, "Bonjour", "10:00", False, 0, False).height
        for font in (small, large)
    ]
    assert sizes[1] > sizes[0] * 1.6  # text scales with the system font
