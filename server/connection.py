"""One client connection: bytes in, requests answered in order, replies out.

``ClientConnection`` is the transport's ``asyncio.Protocol`` itself, as in the
baseline: bytes go straight from ``data_received`` into the codec, replies
straight to ``transport.write``, and one timer per connection enforces the
idle timeouts (no stream objects, no timeout object per read). Each request
goes through ``dispatch.process``; its reply is written in request order by
one of three routes:

1. **inline**: in ``data_received`` itself, when the connection's task is
   idle, a request is run as far as it goes without suspending. Most reads
   finish there (SQLite reads run on the loop) and cost no task wake-up.
2. **handed off**: a request that suspends there (a write job, a PostgreSQL
   read) is handed, with its started coroutine, to the connection's task
   (``run``), which finishes it (``finish``) and writes the reply.
3. **pipelined**: writes whose only effect is one write job (``PIPELINABLE``)
   with more requests buffered behind them run as tasks of their own, up to
   ``PIPELINE_DEPTH``, so they share a group commit; a ``WriteGate`` chain
   keeps their writes in request order, and ``_answer`` their replies. Any
   other request first waits for everything in flight.

Routes 1 and 2 exist for speed (a task switch per request cost more than a
read); route 3 for throughput (pipelined writes would otherwise each wait
for their own commit). All three answer in request order. The connection's
login is its ``session`` (``session.Session``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from protocol.codec import NEED_DATA, LineError, Request, RequestReader
from protocol.errors import ServiceUnavailable

from .dispatch import process, refuse
from .session import SESSION_ENDED, Session
from .storage.db import WRITE_GATE, WriteGate
from .table import Server

__all__ = ["PIPELINABLE", "ClientConnection", "Host", "finish"]

log = logging.getLogger("tchatator.server")

T = TypeVar("T")

READ_CHUNK = 64 * 1024
WRITE_HIGH_WATER = 64 * 1024
# Pipelined requests of one connection processed together (see run()).
PIPELINE_DEPTH = 16
# Requests one connection may have answered in a row before the others get
# the loop (a pipelined flood of cheap reads never suspends on its own).
FAIR_SHARE = 32
# Commands whose only effect is one write job: safe to overlap in order.
PIPELINABLE = frozenset(
    {"/message", "/modifie", "/supprime", "/bloque", "/ban", "/deban", "/debloque"}
)
# The answer to each request read but not run when the shutdown grace has run out.
STOPPING = ServiceUnavailable("the server is stopping: request not run, send it again later")
# A listener that lets this much of its push stream pile up is cut off.
MAX_PENDING_PUSH_BYTES = 1024 * 1024


class Host(Server, Protocol):
    """What a connection needs of the server besides what handlers use:
    admission, and the socket counts (``app.App``)."""

    def admit(self, connection: ClientConnection) -> None: ...

    def release(self, peer: str) -> None: ...


async def finish(coroutine: Coroutine[Any, Any, T], suspended_on: Any) -> T:
    """Go on, inside the current task, with a coroutine that suspended outside any.

    What a task does with the futures its coroutine yields: wait for each,
    then send the coroutine on, or throw in what it raised (or the task's
    own cancellation).
    """
    while True:
        error: BaseException | None = None
        try:
            if suspended_on is None:
                await asyncio.sleep(0)  # a bare yield: "let the others run"
            else:
                # Taken, as a task takes a future it is handed (else awaiting
                # it again raises "await wasn't used with future").
                suspended_on._asyncio_future_blocking = False
                await suspended_on
        except BaseException as caught:  # handed to the coroutine, as a task does
            error = caught
        try:
            suspended_on = coroutine.send(None) if error is None else coroutine.throw(error)
        except StopIteration as done:
            return done.value


def _release(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class ClientConnection(asyncio.Protocol):
    """One client: its session, its request loop (see the module docstring).

    Once the TLS connection is up it asks its host to admit it (``App.admit``:
    serve, or refuse with one answer); the host counted its socket from the
    TCP accept (``counted_as``), and the connection leaves the count when it
    closes (``uncount``).
    """

    def __init__(self, server: Host) -> None:
        self.server = server
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set on connection
        self.peer = "?"
        self.session = Session(self, server.broker)
        # Stopping (App.stop): answer what was read, then close (stop()).
        self.closing = False
        # Past the shutdown grace: refuse what was read and not started (refuse_rest()).
        self.refusing = False
        self.task: asyncio.Task[Any] | None = None
        # The address App.accept counted this socket under (None once released).
        self.counted_as: str | None = None
        self.over_address_limit = False
        self.codec = RequestReader(server.settings.max_line)
        self.accepted_at = time.monotonic()
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._eof = False
        self._reading_paused = False
        self._writing_paused = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._timer_deadline = 0.0  # time.monotonic() at which _idle_timer fires
        self._timed_out = False
        # A request the transport callback started and handed to the task.
        self._handoff: Request | LineError | tuple[Coroutine[Any, Any, bytes], Any] | None = None

    # --- the transport side (asyncio.Protocol) -----------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peername = transport.get_extra_info("peername")
        self.peer = self.session.peer = str(peername[0]) if peername else "?"
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.server.admit(self)

    def data_received(self, data: bytes) -> None:
        codec = self.codec
        codec.feed(data)
        # The codec keeps at most one partial line, but whole lines pile up
        # while a request runs: stop reading until they are handled.
        if codec.buffered > codec.max_line + READ_CHUNK and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        # (A refused connection has no task: its one line is for App._refuse.)
        if self._waiter is not None and self.task is not None and not self.closing:
            self._answer_inline()
        else:
            self._wake()

    def _answer_inline(self) -> None:
        """Answer here, in the transport's callback, what needs no waiting.

        The task is idle (waiting for data, nothing in flight), so answers
        stay in request order. A request is run as far as it goes without
        suspending: most reads finish (SQLite reads run on the loop), and
        cost no task wake-up, as in the baseline. One that suspends (a write
        job, a PostgreSQL read) is handed to the task with its coroutine,
        and so is a pipelinable write, which the task may overlap with
        those behind it.
        """
        server, session = self.server, self.session
        for _ in range(FAIR_SHARE):
            if self._writing_paused:
                break
            event = self._next_event()
            if event is NEED_DATA:
                return  # the task goes on waiting
            if isinstance(event, Request) and event.command in PIPELINABLE:
                self._handoff = event
                break
            processing = process(server, session, event)
            try:
                suspended_on = processing.send(None)
            except StopIteration as done:
                if self.transport.is_closing():
                    break
                self.transport.write(done.value)
                self._idle_since = time.monotonic()  # the idle timer reads it when it fires
                continue
            self._handoff = (processing, suspended_on)
            break
        self._wake()  # the task takes over what is left (after the others' turn)

    def _next_event(self) -> Any:  # RequestReader.next_event with the live max_line
        self.codec.max_line = self.server.settings.max_line  # /sync may change it
        return self.codec.next_event()

    # --- stopping (App.stop) ----------------------------------------------------------

    def stop(self) -> None:
        """The server stops: answer every request already read, then close.

        A task waiting for data is woken to find nothing to answer and close;
        one at work goes on until its buffer is empty (``run``).
        """
        self.closing = True
        self._wake()

    def refuse_rest(self) -> None:
        """The shutdown grace has run out: what is in flight is still answered,
        every request read but not started gets ``STOPPING`` (503), nothing more
        is read, and the connection closes."""
        self.closing = self.refusing = True
        if not self._reading_paused and not self.transport.is_closing():
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close: TLS has no half-close

    def uncount(self) -> None:
        """Leave the socket counts: the connection is closed or being closed by us
        (the TLS shutdown may linger until ``app.SSL_SHUTDOWN_TIMEOUT``)."""
        if self.counted_as is not None:
            self.server.release(self.counted_as)
            self.counted_as = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.uncount()
        self._eof = True
        self._writing_paused = False
        self._wake()
        self._wake_drain()
        self._cancel_idle_timer()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        _release(waiter)

    def _wake_drain(self) -> None:
        drained, self._drained = self._drained, None
        _release(drained)

    async def wait_for_data(self) -> bool:
        """Wait for more bytes; False at the end of the stream or on idle timeout."""
        if self._eof or self._timed_out:
            return False
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter
        if self._timed_out:
            return False
        # At the end of the stream, what was received is still answered.
        return not self._eof or self.codec.buffered > 0 or self._handoff is not None

    async def drain(self) -> None:
        """Wait until the peer has taken enough of what we wrote."""
        if self._writing_paused and not self.transport.is_closing():
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    # --- idle timeouts: one timer per connection, moved lazily ---------------------------

    def _idle_deadline(self) -> float | None:
        """When this connection, idle since ``_idle_since``, times out (``time.monotonic``)."""
        settings = self.server.settings
        session = self.session
        if session.identity is None:
            # A deadline from the accept, not per read: trickling bytes does
            # not keep an anonymous connection open.
            return self.accepted_at + settings.idle_timeout
        if session.push_enabled:
            return None  # a listener is idle by design; TCP keepalive finds dead peers
        return self._idle_since + settings.idle_timeout_authenticated

    def _arm_idle_timer(self) -> bool:
        """Before waiting for a request: False if the deadline has already passed."""
        self._idle_since = now = time.monotonic()
        deadline = self._idle_deadline()
        if deadline is None:
            return True  # a pending timer finds no deadline and stops
        if deadline <= now:
            return False
        # A later deadline leaves the timer alone (it re-arms when it fires);
        # an earlier one (a shorter timeout after /sync) moves it.
        timer = self._idle_timer
        if timer is None or self._timer_deadline > deadline:
            if timer is not None:
                timer.cancel()
            self._start_idle_timer(deadline)
        return True

    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        if self._waiter is None:
            return  # busy with a request: the next wait re-arms the timer
        deadline = self._idle_deadline()
        if deadline is None:
            return
        if deadline > time.monotonic():
            self._start_idle_timer(deadline)
            return
        self._timed_out = True
        self._wake()

    def _start_idle_timer(self, deadline: float) -> None:
        self._timer_deadline = deadline
        self._idle_timer = asyncio.get_running_loop().call_later(
            deadline - time.monotonic(), self._on_idle_timer
        )

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    # --- the push stream (the session's listener) -----------------------------------

    def end_session(self) -> None:
        """A listener's session has ended: say so, stop pushing, and close.

        As IMAP's ``* BYE``: the push line tells why, then the connection
        closes. The apps reconnect, and ask for the key when the server
        refuses theirs; a listener is never left logged out but open, since
        it sends nothing that would get the 401.
        """
        identity = self.session.identity
        log.info(
            "session of user %s ended: closing its push connection",
            identity.id if identity else "?",
        )
        self.push(SESSION_ENDED)
        self.session.logout()
        self.transport.close()  # after what is buffered, the push line included

    def push(self, line: bytes) -> None:
        transport = self.transport
        if self.closing or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_PENDING_PUSH_BYTES:
            log.warning("cutting off %s: it does not read its push stream", self.peer)
            self.closing = True
            transport.abort()
            return
        transport.write(line)

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Read requests, answer each in order, until the peer or the server stops.

        Pipelined writes (``PIPELINABLE``) are started without waiting for the
        ones before them, up to ``PIPELINE_DEPTH``, so they can share a group
        commit; a ``WriteGate`` chain keeps their writes in request order, and
        their answers are written in request order. Any other request first
        waits for everything in flight: a pipelined ``/liste`` sees the
        ``/message`` sent before it, as if each had been sent alone.
        """
        codec = self.codec
        in_flight: deque[asyncio.Task[bytes]] = deque()
        last_gate: WriteGate | None = None
        in_a_row = 0
        try:
            while True:
                in_a_row += 1
                if in_a_row >= FAIR_SHARE:
                    in_a_row = 0
                    await asyncio.sleep(0)  # the other connections' turn
                handoff, self._handoff = self._handoff, None
                if isinstance(handoff, tuple):
                    # Started already (it may be writing): finished, even when refusing.
                    response = await finish(*handoff)
                    if not await self._send(response):
                        break
                    continue
                event = handoff if handoff is not None else self._next_event()
                if event is NEED_DATA:
                    if self._writing_paused:  # answered inline, not yet taken by the peer
                        await self._drain_or_give_up()
                        continue
                    if in_flight:
                        await self._answer(in_flight)
                        continue
                    if self.closing:
                        break  # stopping: every request already received was answered
                    if not self._arm_idle_timer() or not await self.wait_for_data():
                        break
                    continue
                if self.refusing:
                    if in_flight:
                        await self._answer(in_flight)
                    if not await self._send(refuse(self.server, self.session, event, STOPPING)):
                        break
                    continue
                if (
                    self.session.identity is not None
                    and isinstance(event, Request)
                    and event.command in PIPELINABLE
                    and len(in_flight) < PIPELINE_DEPTH
                    # Only when more is pipelined behind it (or already in
                    # flight): a lone request is cheaper without a task.
                    and (in_flight or codec.buffered)
                ):
                    last_gate = WriteGate(last_gate)
                    in_flight.append(asyncio.create_task(self._gated(event, last_gate)))
                    continue
                if in_flight:
                    await self._answer(in_flight)
                last_gate = None
                if not await self._send(await process(self.server, self.session, event)):
                    break
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            if not self.closing:
                raise
        finally:
            handoff, self._handoff = self._handoff, None
            if isinstance(handoff, tuple):
                handoff[0].close()
            for task in in_flight:
                task.cancel()  # only on a broken connection: their writes still commit
            self.session.set_push(False)
            # close() flushes what is buffered, then sends the TLS close_notify;
            # nothing is gained by waiting for the peer's answer to it.
            self.transport.close()
            self._cancel_idle_timer()

    async def _gated(self, event: Request, gate: WriteGate) -> bytes:
        WRITE_GATE.set(gate)
        try:
            return await process(self.server, self.session, event)
        finally:
            gate.open()

    async def _answer(self, in_flight: deque[asyncio.Task[bytes]]) -> None:
        """Write the answers of the requests in flight, in request order."""
        while in_flight:
            response = await in_flight[0]
            in_flight.popleft()
            if not await self._send(response):
                raise ConnectionResetError("peer gone")

    async def _send(self, response: bytes) -> bool:
        transport = self.transport
        if transport.is_closing():
            return False
        transport.write(response)
        if self._writing_paused:  # only when the peer is not reading
            await self._drain_or_give_up()
        return True

    async def _drain_or_give_up(self) -> None:
        """Wait for a peer that does not read; TimeoutError at its login deadline
        (not logged in: ``idle_timeout`` from the accept, as when it waits for a
        request) or after ``idle_timeout_authenticated`` (logged in)."""
        settings = self.server.settings
        logged_in = self.session.identity is not None
        if logged_in:
            limit = float(settings.idle_timeout_authenticated)
        else:
            limit = self.accepted_at + settings.idle_timeout - time.monotonic()
        try:
            async with asyncio.timeout(max(limit, 0.0)):
                await self.drain()
        except TimeoutError:
            log.warning(
                "cutting off %s: it does not read its answers (%s)",
                self.peer,
                f"{limit:.0f} s" if logged_in else "past its login deadline",
            )
            raise
