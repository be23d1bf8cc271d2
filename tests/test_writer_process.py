"""SQLite's writer runs in a child process of the server (server/storage/writer.py).

It must come and go with the server, ignore the Ctrl-C meant for the server,
and, if it dies, cost the batch it was running a 503 and nothing else: the
next write starts a new one, and every message answered 200 is stored.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .support import Line, ServerProcess, running


def writer_pid(server: ServerProcess, timeout: float = 10.0) -> int:
    """The pid of the server's writer process (waits for it to be started)."""
    assert server.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in _children(server.process.pid):
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"server.storage.writer" in command and not _is_zombie(child):
                return child
        time.sleep(0.05)
    raise AssertionError("the server has no writer process")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as file:
            found += [int(child) for child in file.read().split()]
    return found


def _is_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status[status.rindex(")") + 2] == "Z"


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_killed_writer_costs_one_batch_and_is_replaced(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        pro = server.add_user("pro", "Atelier")
        client = server.add_user("client", "Claire")
        with Line(server) as line:
            line.login(client["api_key"])
            assert line.ask(f"/message {pro['id']} avant").code == 200
            first = writer_pid(server)
            os.kill(first, signal.SIGKILL)
            assert _gone(first, 5)
            replies = [line.ask(f"/message {pro['id']} après {n}") for n in range(5)]
            codes = [reply.code for reply in replies]
            # The batch that met the dead process is refused, not lost in silence.
            assert codes == [503, 200, 200, 200, 200], codes
            assert "writer" in replies[0].body["error"]
            second = writer_pid(server)
            assert second != first
            page = line.ask(f"/conversation {pro['id']} 0")
            texts = [message["text"] for message in page.body["messages"]]
            assert page.body["total"] == 5
            assert texts[-4:] == [f"après {n}" for n in range(1, 5)]
        assert any("writer process lost" in text for text in server.output)


def test_the_writer_ignores_ctrl_c_and_ends_with_the_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        assert server.process is not None
        pro = server.add_user("pro", "Quincaillerie")
        client = server.add_user("client", "Paul")
        child = writer_pid(server)
        # A Ctrl-C in the server's terminal goes to its process group: not the writer's.
        assert os.getsid(child) != os.getsid(server.process.pid)
        with Line(server) as line:
            line.login(client["api_key"])
            assert line.ask(f"/message {pro['id']} prêt").code == 200
            os.kill(child, signal.SIGINT)
            os.kill(child, signal.SIGTERM)
            assert line.ask(f"/message {pro['id']} toujours là").code == 200
        assert writer_pid(server) == child
    finally:
        assert server.stop() == 0
    assert _gone(child, 5), "the writer process outlived the server"
