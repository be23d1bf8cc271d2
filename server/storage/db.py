"""The database: engines, migrations, and the read and write paths.

Reads run on the event loop's own connection on SQLite (WAL lets readers run
beside the writer) and in a small thread pool on PostgreSQL. Writes go to one
writer thread that practises group commit: it takes every job queued while
the previous commit was flushing and has them run in one transaction,
committed once, then answers each job. On PostgreSQL the thread runs them
itself; on SQLite a writer process does (``server.storage.writer``), so the
statements do not wait for the event loop's thread to let go of the GIL. A
job's future resolves only after its commit, so a ``200`` always means
"durably stored" (``synchronous=FULL`` on SQLite), while concurrent writers
share one fsync. How a batch is run and committed: ``commit``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from protocol.errors import ServiceUnavailable

from .commit import READER_THREADS, Committer, WriteItem, make_engine, take_writers_turn
from .writer import ProcessCommitter

__all__ = ["MIGRATIONS", "WRITE_GATE", "Database", "WriteGate", "migrate"]

log = logging.getLogger("tchatator.storage")

T = TypeVar("T")

MAX_BATCH = 512
MIGRATIONS = Path(__file__).with_name("migrations")


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest alembic revision (never loses data)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class WriteGate:
    """Keeps the writes of one connection's pipelined requests in request order.

    Each request in flight gets a gate chained to the previous request's; its
    first write waits until that request has queued its own write (or ended).
    """

    __slots__ = ("_previous", "passed")

    def __init__(self, previous: WriteGate | None) -> None:
        self._previous = previous if previous is not None and not previous.passed.done() else None
        self.passed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait_turn(self) -> None:
        previous, self._previous = self._previous, None  # drop the chain as it goes
        if previous is not None and not previous.passed.done():
            await previous.passed

    def open(self) -> None:
        self._previous = None
        if not self.passed.done():
            self.passed.set_result(None)


# Set by the connection loop in the task of each pipelined request.
WRITE_GATE: ContextVar[WriteGate | None] = ContextVar("tchatator_write_gate", default=None)


@dataclass(eq=False)
class _Job:
    function: Callable[..., Any]
    arguments: tuple[Any, ...]
    keywords: dict[str, Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    erase: bool = False
    outcome: tuple[bool, Any] | None = field(default=None)


_STOP = object()


class Database:
    """Owns the engines, the reader pool and the group-committing writer."""

    def __init__(self, url: str, *, readers: int = READER_THREADS) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = make_engine(url, pool_size=readers, reader=True)
        self.write_engine = make_engine(url, pool_size=1, writer=True)
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="db-read")
        self._loop_connection: Connection | None = None
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="db-write", daemon=True)
        self._committer: Committer | ProcessCommitter
        if self.is_sqlite:
            self._committer = ProcessCommitter(url)
        else:
            self._committer = Committer(self.write_engine, is_sqlite=False)
        self._started = False
        # PostgreSQL only: erase jobs wait here for the VACUUM that removes
        # the old row versions; a thread of its own, so writes go on meanwhile.
        self._erasures: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._eraser = threading.Thread(target=self._erase_loop, name="db-erase", daemon=True)

    @property
    def commits(self) -> int:
        """Commits so far (the benchmark reads messages per commit)."""
        return self._committer.commits

    @property
    def committed_jobs(self) -> int:
        return self._committer.committed_jobs

    def migrate(self) -> None:
        migrate(self.write_engine)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._writer.start()
            if not self.is_sqlite:
                self._eraser.start()

    def close(self) -> None:
        """Finish every queued write, then release connections."""
        if self._started:
            self._jobs.put(_STOP)
            self._writer.join()
            if not self.is_sqlite:
                self._erasures.put(_STOP)
                self._eraser.join()
            self._started = False
        self._readers.shutdown(wait=True)
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    # --- reads ------------------------------------------------------------------

    async def read(self, function: Callable[..., T], /, *arguments: Any, **keywords: Any) -> T:
        """Run ``function(connection, *arguments, **keywords)``, a read; its result.

        On SQLite the short, indexed reads of the protocol run right here on
        the event loop's thread, on a connection of its own: a thread hop (and
        the GIL ping-pong with four reader threads) cost more than the query.
        WAL readers never wait for the writer, so this does not block.
        """
        if self.is_sqlite:
            if self._loop_connection is None:
                self._loop_connection = self.engine.connect()
            connection = self._loop_connection
            try:
                return function(connection, *arguments, **keywords)
            finally:
                if connection.in_transaction():
                    connection.rollback()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, functools.partial(self.read_sync, function, *arguments, **keywords)
        )

    def read_sync(self, function: Callable[..., T], /, *arguments: Any, **keywords: Any) -> T:
        """One read on a connection of the pool, from synchronous code (a reader
        thread; the benchmark)."""
        with self.engine.connect() as connection:
            result = function(connection, *arguments, **keywords)
            connection.rollback()
            return result

    def run_sync(self, function: Callable[..., T], /, *arguments: Any, **keywords: Any) -> T:
        """One write transaction from synchronous code (the CLI), taking the
        locks ``function`` declared (``commit.write_locks``)."""
        with self.write_engine.begin() as connection:
            take_writers_turn(connection, [(function, arguments, keywords, False)])
            return function(connection, *arguments, **keywords)

    # --- writes -------------------------------------------------------------------

    async def write(
        self, function: Callable[..., T], /, *arguments: Any, erase: bool = False, **keywords: Any
    ) -> T:
        """Run ``function(connection, *arguments, **keywords)`` in the next group commit.

        ``function`` is a module-level function and its arguments plain values:
        on SQLite they are pickled to the writer process (``writer``).

        Returns once the transaction holding it is committed. With ``erase``
        (the job destroys data, e.g. a message's text), it returns once no
        older copy of that data stays in the database files either: on SQLite
        the WAL is checkpointed and truncated (``secure_delete`` zeroes freed
        space); on PostgreSQL, where an UPDATE leaves the old row version in
        the table until VACUUM, the eraser thread vacuums the table first.
        """
        if not self._writer.is_alive():
            raise ServiceUnavailable("the database writer is not running")
        gate = WRITE_GATE.get()
        if gate is not None:
            await gate.wait_turn()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(function, arguments, keywords, future, loop, erase))
        if gate is not None:
            gate.open()
        return await future

    def _write_loop(self) -> None:
        self._committer.prepare()  # the writer process starts before the first write
        while True:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            items: list[WriteItem] = [
                (job.function, job.arguments, job.keywords, job.erase) for job in batch
            ]
            try:
                outcomes = self._committer.run(items)
            except Exception as error:  # a bug here must not leave a batch unanswered
                log.exception("database writer: a batch failed")
                outcomes = [(False, error)] * len(batch)
            for job, outcome in zip(batch, outcomes, strict=True):
                job.outcome = outcome
            erasing = [job for job in batch if job.erase and job.outcome and job.outcome[0]]
            if erasing and not self.is_sqlite:
                for job in erasing:
                    self._erasures.put(job)  # answered once vacuumed
                _resolve([job for job in batch if job not in erasing])
            else:
                _resolve(batch)
            if stop:
                break
        self._committer.close()

    def _erase_loop(self) -> None:
        while True:
            waiting = [self._erasures.get()]
            while True:  # one VACUUM serves every erasure queued meanwhile
                try:
                    waiting.append(self._erasures.get_nowait())
                except queue.Empty:
                    break
            jobs = [job for job in waiting if job is not _STOP]
            if jobs:
                try:
                    with self.engine.connect() as connection:
                        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                        autocommit.exec_driver_sql("VACUUM messages")
                except Exception:
                    log.exception("VACUUM after an erase failed; autovacuum will do it later")
                _resolve(jobs)
            if len(jobs) < len(waiting):
                return


def _resolve(jobs: list[_Job]) -> None:
    """Answer finished jobs: one wake-up of each event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, loop_jobs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, loop_jobs)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        ok, value = job.outcome or (False, RuntimeError("write job was not run"))
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
