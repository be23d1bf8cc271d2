"""SQLite's writer runs in a child process of the server (server/storage/writer.py).

It must come and go with the server and ignore the Ctrl-C meant for it. If it
dies, only a batch it was holding may get a 503 (which says the write may be
stored); a batch for a process found dead goes to a new one. A job or a result
that cannot be pickled fails alone, and a process that cannot start costs a
503, then waits before trying again. Every message answered 200 is stored.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from protocol.errors import ServiceUnavailable
from server.storage.db import Database
from server.storage.writer import ProcessCommitter

from .support import ROOT, Line, ServerProcess, running


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


def test_a_killed_writer_is_replaced_without_losing_a_write(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        pro = server.add_user("pro", "Atelier")
        client = server.add_user("client", "Claire")
        with Line(server) as line:
            line.login(client["api_key"])
            assert line.ask(f"/message {pro['id']} avant").code == 200
            first = writer_pid(server)
            os.kill(first, signal.SIGKILL)
            assert _gone(first, 5)
            # Found dead before it got the next batch, it ran none of it: the
            # batch goes to a new process and nobody notices.
            replies = [line.ask(f"/message {pro['id']} après {n}") for n in range(5)]
            assert [reply.code for reply in replies] == [200] * 5
            second = writer_pid(server)
            assert second != first
            page = line.ask(f"/conversation {pro['id']} 0")
            texts = [message["text"] for message in page.body["messages"]]
            assert page.body["total"] == 6
            assert texts[-5:] == [f"après {n}" for n in range(5)]
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


# --- jobs for the writer process (module level: it imports them by name) ---------------


def job_note(connection: Connection, text: str) -> int:
    connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS notes (text TEXT)")
    connection.exec_driver_sql("INSERT INTO notes VALUES (?)", (text,))
    return len(text)


def job_die(connection: Connection) -> None:
    job_note(connection, "never committed")
    os._exit(3)  # the writer process dies in the middle of the batch


def job_lock_result(connection: Connection) -> Any:
    job_note(connection, "committed, answer lost")
    return threading.Lock()  # stored, but the result cannot be pickled


def _notes(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT text FROM notes")]


def test_failures_inside_the_writer_process_stay_with_their_jobs(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.start()
    try:
        _in_a_fresh_loop(_failing_jobs(database))
        notes = _notes(database)
        assert notes == ["one", "two", "three", "committed, answer lost", "after"]
        commits, jobs = database.commits, database.committed_jobs
        assert jobs == 5 and commits >= 4  # counted over both writer processes
    finally:
        database.close()


def _in_a_fresh_loop(coroutine: Any) -> None:
    """asyncio.run in a thread of its own (a test before may leave a loop running here)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if failure:
        raise failure[0]


async def _failing_jobs(database: Database) -> None:
    assert await database.write(job_note, "one") == 3
    # A job that cannot be pickled fails alone; its neighbours commit.
    outcomes = await asyncio.gather(
        database.write(job_note, "two"),
        database.write(lambda connection: 1),
        database.write(job_note, "three"),
        return_exceptions=True,
    )
    assert outcomes[0] == 3 and outcomes[2] == 5
    assert isinstance(outcomes[1], RuntimeError) and "not sent" in str(outcomes[1])
    # A result that cannot go back: its job says it was committed.
    with pytest.raises(RuntimeError, match="committed"):
        await database.write(job_lock_result)
    # Death in the middle of a batch: a 503 that does not claim nothing was stored.
    with pytest.raises(ServiceUnavailable, match="may be stored"):
        await database.write(job_die)
    assert await database.write(job_note, "after") == 5


def test_a_writer_that_cannot_start_costs_503_and_waits(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the database's folder cannot be made under a file
    committer = ProcessCommitter(f"sqlite:///{blocker / 'sub' / 'w.db'}")
    try:
        started = time.monotonic()
        for _ in range(3):
            [(ok, error)] = committer.run([(job_note, ("x",), {}, False)])
            assert not ok and isinstance(error, ServiceUnavailable)
            assert "nothing was stored" in error.error
        # 0.1 + 0.2 + 0.4 s of pause after the three failures, not a busy loop
        assert time.monotonic() - started >= 0.6
    finally:
        committer.close()


def test_the_writer_process_loads_only_what_it_runs() -> None:
    """The child imports the committer and, as it unpickles jobs, the rules and
    the queries they run: not the event loop's side of storage (``db``: reader
    pool, write queue) nor the server around them (``app``, ``commands``)."""
    probe = (
        "import sys, server.storage.writer; "
        "import server.rules  # what unpickling a job imports\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('server'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == [
        "server",
        "server.rules",
        "server.storage",
        "server.storage.commit",
        "server.storage.fastsql",
        "server.storage.models",
        "server.storage.queries",
        "server.storage.writer",
    ]
