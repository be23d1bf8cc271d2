"""Written offline, sent on reconnect (issue 12, item 11): the outbox."""

from __future__ import annotations

from desktop.settings import DraftStore

from .conftest import (
    WAIT_MS,
    open_conversation,
    server_comes_back,
    server_goes_down,
    two_parties_who_talked,
)


def _server_texts(server, key, partner) -> list[str]:
    with server.connect() as line:
        line.login(key)
        page = line.ask(f"/conversation {partner}")
        return [message["text"] for message in page.body["messages"]]


def test_messages_written_offline_go_out_in_order_on_reconnect(
    qtbot, qloop, open_window, fresh_server
) -> None:
    server = fresh_server(max_messages=20)
    pro, client = two_parties_who_talked(server, "Mercerie", "Inès")
    window = open_window(pro["api_key"], "pro", on=server)
    open_conversation(qtbot, window, client["id"])
    service = window.service
    server_goes_down(qtbot, server, service)
    composer = window.pane.composer
    pending = window.pane.pending_label
    # Offline, writing still works: the text waits, marked as pending.
    for text in ("Je regarde en réserve.", "Nous l'avons en bleu."):
        composer.set_text(text)
        assert composer.send_button.isEnabled()
        composer.submit()
        assert composer.text() == ""
    assert not pending.isHidden()
    assert "2 messages en attente" in pending.text()
    assert "Je regarde en réserve." in pending.text() and "Nous l'avons en bleu." in pending.text()
    assert window.messages.rowCount() == 1  # not shown as sent
    # Back online: both go out, in the order they were written; no longer pending.
    server_comes_back(qtbot, server, service)
    qtbot.waitUntil(lambda: window.messages.rowCount() == 3, timeout=WAIT_MS)
    assert [m.text for m in window.messages.messages()][1:] == [
        "Je regarde en réserve.",
        "Nous l'avons en bleu.",
    ]
    qtbot.waitUntil(pending.isHidden, timeout=WAIT_MS)
    assert len(window.outbox) == 0
    assert _server_texts(server, client["api_key"], pro["id"])[-2:] == [
        "Je regarde en réserve.",
        "Nous l'avons en bleu.",
    ]


def test_a_refused_waiting_message_comes_back_to_the_composer(
    qtbot, qloop, open_window, fresh_server
) -> None:
    server = fresh_server()
    pro, client = two_parties_who_talked(server, "Droguerie", "Jules")
    customer = open_window(client["api_key"], "client", on=server)
    open_conversation(qtbot, customer, pro["id"])
    with server.connect() as line:
        line.login(pro["api_key"])
        assert line.ask(f"/ban {client['id']}").code == 200
    service = customer.service
    server_goes_down(qtbot, server, service)
    composer = customer.pane.composer
    composer.set_text("Encore moi")
    composer.submit()
    assert composer.text() == "" and not customer.pane.pending_label.isHidden()
    server_comes_back(qtbot, server, service)
    # Refused (banned): out of the queue, back in the composer, the reason shown.
    qtbot.waitUntil(lambda: composer.text() == "Encore moi", timeout=WAIT_MS)
    assert customer.pane.pending_label.isHidden() and len(customer.outbox) == 0
    qtbot.waitUntil(lambda: "Vous ne pouvez pas écrire" in customer.notice.text, timeout=WAIT_MS)


def test_messages_still_waiting_at_closing_come_back_as_a_draft(
    qtbot, qloop, open_window, fresh_server, desktop_dir
) -> None:
    """Closed while offline with messages waiting: they are not lost, they are
    the conversation's draft at the next start, in the order they were written."""
    server = fresh_server()
    pro, client = two_parties_who_talked(server, "Bazar", "Lou")
    window = open_window(pro["api_key"], "pro", on=server)
    open_conversation(qtbot, window, client["id"])
    server_goes_down(qtbot, server, window.service)
    composer = window.pane.composer
    for text in ("Premier envoi", "Second envoi"):
        composer.set_text(text)
        composer.submit()
    assert len(window.outbox) == 2
    window.close()
    key = DraftStore.key(window.server_name, pro["id"], client["id"])
    assert DraftStore(desktop_dir).get(key) == "Premier envoi\nSecond envoi"

    server.start()
    again = open_window(pro["api_key"], "pro", on=server)
    open_conversation(qtbot, again, client["id"])
    assert again.pane.composer.text() == "Premier envoi\nSecond envoi"
    assert len(again.outbox) == 0
    assert _server_texts(server, client["api_key"], pro["id"]) == ["Bonjour"]  # nothing sent
