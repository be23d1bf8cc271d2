"""Issue 12, item 11, where the pieces carry behaviour: the moderation users
tab (every page, A→Z, named log rows and notices), sanctions as states, only
the possible moderation actions enabled, no internal ids in the directory,
the app's name once in titles, one language in the shortcut list, a
confirmation before changing account."""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from tests.support import ADMIN_KEY

from .conftest import WAIT_MS, open_conversation


def test_moderation_users_every_page_sorted_and_named(
    qtbot, qloop, open_window, fresh_server
) -> None:
    server = fresh_server(directory_page_size=3)
    names = ["Zoé Martin", "Bruno Petit", "Yasmine Roux", "Agathe Blanc", "Marc Noir"]
    users = [server.add_user("client", name) for name in names]
    pro = server.add_user("pro", "Épicerie Fine")
    last = users[-1]  # created last: on the last page of the directory
    with server.connect() as line:
        line.login(last["api_key"])
        line.ask(f"/message {pro['id']} Bonjour")
    admin = open_window(ADMIN_KEY, "pro", on=server)
    total = len(names) + 1
    qtbot.waitUntil(lambda: admin.users.rowCount() == total, timeout=WAIT_MS)
    shown = [admin.user_proxy.index(row, 0).data() for row in range(admin.user_proxy.rowCount())]
    assert shown == sorted(shown, key=str.casefold)  # A to Z
    # The log names users of every page.
    qtbot.waitUntil(
        lambda: any(
            admin.logs.index(row, 2).data().startswith("Marc Noir")
            for row in range(admin.logs.rowCount())
        ),
        timeout=WAIT_MS,
    )
    # Only the possible actions.
    qtbot.waitUntil(lambda: admin.select_user(last["id"]), timeout=WAIT_MS)
    assert admin.block_button.isEnabled() and admin.ban_button.isEnabled()
    assert not admin.unblock_button.isEnabled() and not admin.unban_button.isEnabled()
    admin._moderate("block", ask=False)
    qtbot.waitUntil(lambda: admin.unblock_button.isEnabled(), timeout=WAIT_MS)
    assert not admin.block_button.isEnabled() and admin.ban_button.isEnabled()
    assert "Marc Noir" in admin.notice.text and "#" not in admin.notice.text
    assert admin.restrictions.index(0, 1).data() == "Blocage"
    admin._moderate("unblock")
    qtbot.waitUntil(lambda: not admin.unblock_button.isEnabled(), timeout=WAIT_MS)
    assert admin.block_button.isEnabled()
    assert admin.windowTitle().endswith("— Tchatator") or admin.windowTitle().endswith(
        "— Tchatator Pro"
    )
    assert admin.windowTitle().count("Tchatator") == 1


def test_pro_moderation_menu_only_offers_what_can_be_done(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro", "Cordonnerie")
    client = make_user("client", "Hugo Lenoir")
    connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    shop = open_window(pro["api_key"], "pro")
    actions = shop.moderation_actions
    assert not any(action.isEnabled() for action in actions.values())  # nothing open
    open_conversation(qtbot, shop, client["id"])
    qtbot.waitUntil(lambda: actions["block"].isEnabled(), timeout=WAIT_MS)
    assert actions["ban"].isEnabled()
    assert not actions["unblock"].isEnabled() and not actions["unban"].isEnabled()
    actions["ban"].trigger()
    qtbot.waitUntil(lambda: shop.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    shop.findChild(QMessageBox, "confirm").accept()
    shop.ban(client["id"], ask=False)
    qtbot.waitUntil(lambda: actions["unban"].isEnabled(), timeout=WAIT_MS)
    assert not actions["ban"].isEnabled()
    assert "Hugo Lenoir" in shop.notice.text and "banni(e)" not in shop.notice.text
    # The app's name once, last.
    assert shop.windowTitle().endswith("Cordonnerie — Tchatator Pro")
    assert shop.windowTitle().count("Tchatator") == 1
    # The shortcut list speaks French only.
    keys = " ".join(keys for keys, _ in shop.shortcut_rows())
    for english in ("Shift", "Down", "Delete", "Escape", "Up ", "End"):
        assert english not in keys, english
    assert "Alt+Maj+Bas" in keys


def test_no_ids_in_the_directory_and_change_account_asks(
    qtbot, qloop, open_window, make_user
) -> None:
    make_user("pro", "Boucherie Sans Numéro")
    client = make_user("client")
    customer = open_window(client["api_key"], "client")
    customer.new_conversation()
    dialog = customer.directory_dialog
    qtbot.waitUntil(lambda: dialog.proxy.rowCount() > 0, timeout=WAIT_MS)
    shown = [
        column
        for column in range(dialog.proxy.columnCount())
        if not dialog.table.isColumnHidden(column)
    ]
    assert shown == [0]  # the name only: no internal id
    dialog.close()
    # File, Change account: asks first; Cancel keeps the session.
    switch = next(
        action
        for action in customer.menuBar().actions()[0].menu().actions()
        if action.text() == "Changer de &compte…"
    )
    switch.trigger()
    qtbot.waitUntil(lambda: customer.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    box = customer.findChild(QMessageBox, "confirm")
    box.reject()
    qtbot.wait(50)
    assert customer.isVisible() and not customer.logout_requested
    switch.trigger()
    qtbot.waitUntil(lambda: customer.findChild(QMessageBox, "confirm") is not None, timeout=WAIT_MS)
    box = customer.findChild(QMessageBox, "confirm")
    accept = next(
        b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole
    )
    accept.click()
    qtbot.waitUntil(lambda: customer.logout_requested, timeout=WAIT_MS)


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


def test_links_in_messages_open_in_the_browser(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    pro = make_user("pro")
    client = make_user("client")
    url = "https://example.org/catalogue?page=2"
    connect(client["api_key"]).ask(f"/message {pro['id']} Voir {url}. Merci !")
    shop = open_window(pro["api_key"], "pro")
    open_conversation(qtbot, shop, client["id"])
    view = shop.pane.view
    rect = view.visualRect(shop.messages.index(0, 0))
    points = [
        QPoint(x, y)
        for x in range(rect.left(), rect.right(), 3)
        for y in range(rect.top(), rect.bottom(), 3)
    ]
    on_link = [point for point in points if view.link_at(point)]
    assert on_link, "no link found in the bubble"
    assert {view.link_at(point) for point in on_link} == {url}  # the final "." is not in it
    off_link = next(point for point in points if not view.link_at(point))
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("https", catcher, "open")
    try:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=off_link)
        assert catcher.opened == []
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=on_link[0])
        assert catcher.opened == [url]
    finally:
        QDesktopServices.unsetUrlHandler("https")


def _top(kind):
    from PySide6.QtWidgets import QApplication

    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()),
        None,
    )


def test_the_language_menu_ticks_the_language_and_switches_live(
    qtbot, qloop, server, make_user
) -> None:
    import argparse

    from PySide6.QtWidgets import QApplication

    from desktop.app import interactive
    from desktop.i18n import install_translations
    from desktop.settings import Settings
    from desktop.widgets import ChatWindow, LoginDialog

    client = make_user("client", "Léa Live")
    settings = Settings()
    settings.language = "en"  # saved, but this run speaks French (as with --lang fr)
    args = argparse.Namespace(
        server=f"127.0.0.1:{server.port}", ca=str(server.ca_file), key=client["api_key"]
    )
    task = qloop.create_task(interactive("client", args, settings))
    try:
        qtbot.waitUntil(lambda: _top(LoginDialog) is not None, timeout=WAIT_MS)
        _top(LoginDialog).start_login()
        qtbot.waitUntil(lambda: _top(ChatWindow) is not None, timeout=WAIT_MS)
        window = _top(ChatWindow)
        session = window.service.user

        def language_actions(window):
            file_menu = window.menuBar().actions()[0].menu()
            menu = file_menu.actions()[1].menu()  # after Refresh
            return {action.text(): action for action in menu.actions()}

        actions = language_actions(window)
        assert actions["Français"].isChecked() and not actions["English"].isChecked()
        assert window.menuBar().actions()[0].text() == "&Fichier"
        actions["English"].trigger()
        # The window comes back in English, on the same session, without a restart.
        qtbot.waitUntil(
            lambda: _top(ChatWindow) is not None and _top(ChatWindow) is not window,
            timeout=WAIT_MS,
        )
        english = _top(ChatWindow)
        assert english.menuBar().actions()[0].text() == "&File"
        assert english.service.user == session
        assert language_actions(english)["English"].isChecked()
        assert Settings().language == "en"
        english.close()
        qtbot.waitUntil(task.done, timeout=WAIT_MS)
    finally:
        install_translations(QApplication.instance(), "fr")
        if not task.done():
            task.cancel()


def test_the_list_marks_conversations_with_a_draft(
    qtbot, qloop, open_window, make_user, connect
) -> None:
    from desktop.models import ConversationListModel

    pro = make_user("pro")
    first, second = make_user("client", "Anne Brouillon"), make_user("client", "Basile")
    for client in (first, second):
        connect(client["api_key"]).ask(f"/message {pro['id']} Bonjour")
    shop = open_window(pro["api_key"], "pro")
    open_conversation(qtbot, shop, first["id"])
    shop.pane.composer.set_text("Réponse à finir")
    open_conversation(qtbot, shop, second["id"])

    def draft_of(partner):
        row = shop.conversations.row_of(partner)
        return shop.conversations.index(row, 0).data(ConversationListModel.DraftRole)

    assert draft_of(first["id"]) == "Réponse à finir"
    assert draft_of(second["id"]) == ""  # the open one: its text is in the composer
    # Another window (a restart): the mark comes from the saved drafts.
    again = open_window(pro["api_key"], "pro")
    qtbot.waitUntil(lambda: again.conversations.row_of(first["id"]) is not None, timeout=WAIT_MS)
    row = again.conversations.row_of(first["id"])
    index = again.conversations.index(row, 0)
    assert index.data(ConversationListModel.DraftRole) == "Réponse à finir"
