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
and plain arguments, pickled; errors come back pickled too. What happens when
the process dies or cannot start: ``ProcessCommitter``.

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

from .commit import Committer, Outcome, WriteItem, make_engine, pause_after_failures

__all__ = ["ProcessCommitter", "main"]

log = logging.getLogger("tchatator.storage")

READY = "ready"  # the child's first word, once it can take batches
START_TIMEOUT = 60.0  # seconds for a child to import what it needs


class WriterDidNotStart(Exception):
    pass


class ProcessCommitter:
    """The writer thread's side: one child process, started on first use and
    again whenever it died.

    - A child found dead when a batch is handed over ran nothing of it: the
      batch goes to a new child, and nobody notices.
    - A child that dies while it holds a batch may have committed it: its jobs
      get a 503 that says so (a blind retry could store a message twice).
    - A child that cannot start costs the batch a 503, and the next attempt
      waits a little longer (``pause_after_failures``).
    - A job that cannot be pickled fails alone, before anything is sent.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._child: subprocess.Popen[bytes] | None = None
        self._channel: Connection | None = None
        self._failures = 0
        self.commits = 0  # over every child: each batch's answer says what it added
        self.committed_jobs = 0

    def prepare(self) -> None:
        """Start the child now, so the first write does not wait for its imports."""
        if self._channel is None:
            try:
                self._start()
            except WriterDidNotStart:
                log.exception("the database writer process did not start")

    def run(self, items: list[WriteItem]) -> list[Outcome]:
        try:
            payload = pickle.dumps(items)
        except Exception:  # nothing was sent: find the jobs that do not pickle
            payload = None
        if payload is not None:
            return self._run_in_child(payload, len(items))
        outcomes: list[Outcome] = [(False, RuntimeError("write job not run"))] * len(items)
        sendable = []
        for index, item in enumerate(items):
            try:
                pickle.dumps(item)
            except Exception as error:  # a lambda, a closure, an open file...
                log.exception("a write job cannot go to the writer process")
                outcomes[index] = (False, RuntimeError(f"write job not sent: {error}"))
            else:
                sendable.append(index)
        if sendable:
            batch = [items[index] for index in sendable]
            results = self._run_in_child(pickle.dumps(batch), len(batch))
            for index, outcome in zip(sendable, results, strict=True):
                outcomes[index] = outcome
        return outcomes

    def _run_in_child(self, payload: bytes, count: int) -> list[Outcome]:
        for attempt in (1, 2):
            try:
                channel = self._channel or self._start()
            except WriterDidNotStart as error:
                log.error("the database writer process did not start: %s", error)
                self._after_failure()
                lost = ServiceUnavailable("the database writer cannot start; nothing was stored")
                return [(False, lost)] * count
            try:
                channel.send_bytes(payload)
            except OSError as error:
                # Gone before it got the batch: it ran none of it.
                log.error("database writer process lost (%s); starting a new one", error)
                self._after_failure(pause=attempt > 1)
                if attempt == 1:
                    continue
                lost = ServiceUnavailable("the database writer stopped; nothing was stored")
                return [(False, lost)] * count
            try:
                outcomes, (commits, committed_jobs) = channel.recv()
            except (EOFError, OSError) as error:
                log.error("database writer process lost during a batch (%s)", error)
                self._after_failure()
                # It may have died after its commit: say so.
                lost = ServiceUnavailable("the database writer stopped; this write may be stored")
                return [(False, lost)] * count
            self._failures = 0
            self.commits += commits
            self.committed_jobs += committed_jobs
            return outcomes
        raise AssertionError("unreachable")

    def _after_failure(self, *, pause: bool = True) -> None:
        self.close()
        self._failures += 1
        if pause:
            pause_after_failures(self._failures)

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
        channel = Connection(ours.detach())
        self._channel = channel
        try:
            if not channel.poll(START_TIMEOUT) or channel.recv() != READY:
                raise WriterDidNotStart(f"no word from it in {START_TIMEOUT} s")
        except (EOFError, OSError) as error:
            self.close()
            raise WriterDidNotStart("it exited at once (its error is in the log above)") from error
        except WriterDidNotStart:
            self.close()
            raise
        return channel

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
    channel.send(READY)
    while True:
        try:
            items: list[WriteItem] = channel.recv()
        except EOFError:
            return
        commits, committed_jobs = committer.commits, committer.committed_jobs
        outcomes = committer.run(items)
        added = (committer.commits - commits, committer.committed_jobs - committed_jobs)
        try:
            data = pickle.dumps((outcomes, added))
        except Exception:
            # Committed, but something will not pickle: each outcome on its own.
            data = pickle.dumps(([_portable(outcome) for outcome in outcomes], added))
        channel.send_bytes(data)


def _portable(outcome: Outcome) -> Outcome:
    """An outcome that survives pickling: one that would not (a driver's
    exception, an odd result) comes back as a RuntimeError with its text; a
    traceback is already in this process's log."""
    try:
        pickle.dumps(outcome)
        return outcome
    except Exception:
        ok, value = outcome
        if ok:
            return False, RuntimeError(f"committed, but its result cannot be sent back: {value!r}")
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
