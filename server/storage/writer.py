"""SQLite's group commits, in a process of their own.

Why a process: the writer thread shared the GIL with the event loop. Python's
``sqlite3`` releases the GIL around every step of a statement and takes it back
after, about a dozen times per ``/message``; each time, the writer waited for
the loop thread to let go of it. Under load a write job cost 87-100 µs in the
server against 37-41 µs alone (``bench/ANALYSIS.md``). In a process of its own
it runs at the second figure, beside the loop instead of between its steps.

The server's writer thread stays: it gathers the batch as before and hands it
to this process (``ProcessCommitter.run``), which runs it with the same
``Committer`` and answers with the outcomes once they are committed. A
``200`` still means "committed" (and fsynced). Jobs are module-level functions
and plain arguments, pickled; errors come back pickled too.

    python -m server.storage.writer FD DATABASE_URL

reads batches from the socket ``FD`` and exits when it closes (the server
stopped, or died: nothing is left behind). It runs in a session of its own and
ignores SIGINT and SIGTERM: a Ctrl-C or a stop meant for the server does not
cut a batch short; the server ends it once its last batch is answered.
"""

from __future__ import annotations

import logging
import pickle
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

from protocol.errors import ServiceUnavailable

from .db import Committer, Outcome, WriteItem, make_engine

__all__ = ["ProcessCommitter", "main"]

log = logging.getLogger("tchatator.storage")


class ProcessCommitter:
    """The writer thread's side: one child process, started on first use and
    started again if it dies (the batch it was running is answered 503)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._child: subprocess.Popen[bytes] | None = None
        self._channel: Connection | None = None
        self._counts = (0, 0)

    def counts(self) -> tuple[int, int]:
        return self._counts

    def prepare(self) -> None:
        """Start the child now, so the first write does not wait for its imports."""
        if self._channel is None:
            self._start()

    def run(self, items: list[WriteItem]) -> list[Outcome]:
        try:
            channel = self._channel or self._start()
            channel.send(items)
            outcomes, self._counts = channel.recv()
            return outcomes
        except (EOFError, OSError) as error:
            log.error("database writer process lost (%s); starting a new one", error)
            self.close()
            # It may have died after its commit: say so, a blind retry could store twice.
            lost = ServiceUnavailable("the database writer stopped; this write may not be stored")
            unavailable = (False, lost)
            return [unavailable] * len(items)

    def _start(self) -> Connection:
        ours, theirs = socket.socketpair()
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "server.storage.writer", str(theirs.fileno()), self.url],
                pass_fds=(theirs.fileno(),),
                # Out of the server's process group: a Ctrl-C in the server's
                # terminal must not end it before the server's last batch.
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._channel = Connection(ours.detach())
        return self._channel

    def close(self) -> None:
        """Let the child finish (it has no batch left: the thread waits for each)."""
        if self._channel is not None:
            self._channel.close()  # end of file: the child exits
            self._channel = None
        if self._child is not None:
            try:
                self._child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            self._child = None


def serve(channel: Connection, committer: Committer) -> None:
    while True:
        try:
            items: list[WriteItem] = channel.recv()
        except EOFError:
            return
        outcomes = [_portable(outcome) for outcome in committer.run(items)]
        channel.send((outcomes, committer.counts()))


def _portable(outcome: Outcome) -> Outcome:
    """An outcome that survives pickling: an exception that would not (a
    driver's, say) comes back as a RuntimeError with its text; the traceback is
    already in this process's log."""
    ok, value = outcome
    if ok or not isinstance(value, BaseException):
        return outcome
    try:
        pickle.loads(pickle.dumps(value))
        return outcome
    except Exception:
        return False, RuntimeError(f"{type(value).__name__}: {value}")


def main(argv: list[str] | None = None) -> int:
    fd_text, url = argv if argv is not None else sys.argv[1:]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    channel = Connection(int(fd_text))
    committer = Committer(make_engine(url, pool_size=1, writer=True), url.startswith("sqlite"))
    try:
        serve(channel, committer)
    finally:
        committer.close()
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
