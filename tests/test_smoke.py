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


def test_the_same_path_on_uvloop(tmp_path) -> None:
    """``serve --uvloop``: the connection code leans on asyncio futures; check it there too."""
    import signal

    from .support import ServerProcess

    process = ServerProcess(tmp_path / "uvloop").start(("--uvloop",))
    try:
        pro, client = process.add_user("pro", "Uv"), process.add_user("client", "Loop")
        with process.connect() as alice, process.connect() as shop:
            assert alice.ask(f"/connexion {client['api_key']}").code == 200
            assert shop.ask(f"/connexion {pro['api_key']}").code == 200
            # Pipelined writes (overlapped by the task), then a read answered inline.
            alice.send("".join(f"/message {pro['id']} n°{n}\n" for n in range(20)))
            ids = [alice.reply().body["id"] for _ in range(20)]
            assert ids == sorted(ids)
            unread = shop.ask("/liste")
            assert unread.code == 200 and unread.body["total"] == 20
            # A read that suspends (it writes read marks) and a logout that writes.
            assert shop.ask(f"/conversation {client['id']}").code == 200
            assert shop.ask("/liste").code == 204
            assert shop.ask("/deconnexion").code == 200
            assert shop.ask("/liste").code == 401
        assert process.process is not None
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(20) == 0
        assert "Traceback" not in "\n".join(process.output)
    finally:
        process.stop()
