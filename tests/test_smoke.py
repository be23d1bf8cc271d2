"""A first end-to-end path: log in, write, read, answer."""


def test_client_writes_pro_answers(make_user, connect) -> None:
    pro, client = make_user("pro"), make_user("client")
    alice = connect(client["api_key"])
    shop = connect(pro["api_key"])
    sent = alice.ask(f"/message {pro['id']} Bonjour, vous êtes ouverts ?")
    assert sent.code == 200 and isinstance(sent.body["id"], int)
    unread = shop.ask("/liste")
    assert unread.code == 200
    assert [m["text"] for m in unread.body["messages"]] == ["Bonjour, vous êtes ouverts ?"]
    answer = shop.ask(f"/message {client['id']} Oui, jusqu'à 19 h.")
    assert answer.code == 200
    page = alice.ask(f"/conversation {pro['id']}")
    assert page.code == 200
    assert [m["text"] for m in page.body["messages"]] == [
        "Bonjour, vous êtes ouverts ?",
        "Oui, jusqu'à 19 h.",
    ]
