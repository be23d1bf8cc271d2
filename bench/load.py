"""The load generator: worker processes, each an event loop with many TLS connections.

Workers are started once per benchmark (``multiprocessing``, spawn) and take
jobs over a pipe. A job runs on uvloop (the leanest client the platform has,
so the generator takes as little of the two cores as it can) and follows the
same handshake with the orchestrator every time:

1. the worker opens and logs in its connections, then sends ``("ready", info)``;
2. the orchestrator answers ``("go",)`` (or ``("close",)`` for the idle-memory
   job, which holds its connections until then);
3. the worker starts the load and, once every connection has had its first
   reply (the load is flowing), sends ``("warm", {"seconds": ...})``;
4. the orchestrator answers ``("window", t_start, t_end)`` (``time.monotonic``
   instants, one clock for every process on Linux);
5. the worker loads the target until ``t_end``, counts only what completes
   inside ``[t_start, t_end]``, lets the requests in flight finish, closes and
   sends ``("result", {...})``.

Replies are cut on the empty line that ends every Pactocole response (the JSON
body is one line, so ``\\n\\n`` only ever ends a reply); push lines start with
``*`` and end with one ``\\n``.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
import time
import traceback
from array import array
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["worker_main"]

monotonic = time.monotonic
CONNECT_CONCURRENCY = 64
DRAIN_TIMEOUT = 5.0
WARM_TIMEOUT = 60.0
_TAG = re.compile(rb"dlv(\d+)")


def worker_main(pipe: Connection) -> None:
    """Entry point of a worker process: run jobs until ``None``."""
    import uvloop

    while True:
        try:
            job = pipe.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            result = uvloop.run(_run(job, pipe))
        except BaseException as error:  # report, never die silently
            result = {"fatal": f"{error!r}\n{traceback.format_exc()}"}
        pipe.send(("result", result))


async def _run(job: dict[str, Any], pipe: Connection) -> dict[str, Any]:
    kind = job["kind"]
    if kind == "throughput":
        return await _throughput(job, pipe)
    if kind == "handshake":
        return await _handshake(job, pipe)
    if kind == "idle":
        return await _idle(job, pipe)
    if kind == "delivery":
        return await _delivery(job, pipe)
    raise ValueError(f"unknown job kind {kind}")


def _context(job: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=job["ca_file"])
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


async def _wait_message(pipe: Connection) -> tuple[Any, ...]:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, pipe.recv)


class Window:
    """What completed inside ``[t_start, t_end]`` (both unknown until warm)."""

    def __init__(self, expected: int = 0) -> None:
        self.t_start = math.inf
        self.t_end = math.inf
        self.began = monotonic()
        self.cold = expected  # connections still waiting for their first reply
        self.warm = asyncio.get_running_loop().create_future()
        if expected <= 0:
            self.warm.set_result(None)
        self.count = 0
        self.latencies = array("d")
        self.codes: dict[bytes, int] = {}  # inside the window
        self.all_codes: dict[bytes, int] = {}  # warm-up and drain included
        self.errors: list[str] = []
        self.cpu_start = 0.0
        self.cpu_end = 0.0

    def first_reply(self) -> None:
        self.cold -= 1
        if self.cold <= 0 and not self.warm.done():
            self.warm.set_result(None)

    async def open(self, pipe: Connection) -> None:
        """Report warm, then take the measured window from the orchestrator."""
        try:
            await asyncio.wait_for(asyncio.shield(self.warm), WARM_TIMEOUT)
        except TimeoutError:
            self.errors.append(f"{self.cold} connections had no reply after {WARM_TIMEOUT} s")
        pipe.send(("warm", {"seconds": monotonic() - self.began}))
        _, t_start, t_end = await _wait_message(pipe)
        self.t_start, self.t_end = t_start, t_end
        loop = asyncio.get_running_loop()
        now = monotonic()
        loop.call_later(max(0.0, t_start - now), self.sample_cpu)
        loop.call_later(max(0.0, t_end - now), self.sample_cpu)

    def sample_cpu(self) -> None:
        now = monotonic()
        if now < self.t_end and not self.cpu_start:
            self.cpu_start = time.process_time()
        else:
            self.cpu_end = time.process_time()

    def result(self, **extra: Any) -> dict[str, Any]:
        return {
            "count": self.count,
            "latencies": self.latencies.tobytes(),
            "codes": {code.decode(): n for code, n in self.codes.items()},
            "all_codes": {code.decode(): n for code, n in self.all_codes.items()},
            "errors": self.errors[:20],
            "error_count": len(self.errors),
            "cpu_seconds": max(0.0, self.cpu_end - self.cpu_start),
            **extra,
        }


class LoadConnection(asyncio.Protocol):
    """One TLS connection of the generator: set-up requests, then a load loop."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.setup: deque[asyncio.Future[bytes]] = deque()
        self.window: Window | None = None
        self.sent: deque[float] = deque()
        self.lines: list[bytes] = []
        self.index = 0
        self.done: asyncio.Future[None] | None = None
        self.lost = False
        self.push_mode = False
        self.on_push: Any = None
        self.replied = False

    # --- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        error = ConnectionError(f"connection lost: {exc!r}")
        while self.setup:
            future = self.setup.popleft()
            if not future.done():
                future.set_exception(error)
        if self.window is not None and self.sent:
            self.window.errors.append(f"connection lost with {len(self.sent)} in flight: {exc!r}")
            self.sent.clear()
        self._finish()

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
        if self.push_mode:
            self.buffer = self._parse_with_pushes(data)
            return
        start = 0
        window = self.window
        if window is None:
            while True:
                end = data.find(b"\n\n", start)
                if end < 0:
                    break
                code = data[start : start + 3]
                start = end + 2
                if self.setup:
                    future = self.setup.popleft()
                    if not future.done():
                        future.set_result(code)
            self.buffer = data[start:]
            return
        now = monotonic()
        if not self.replied:
            self.replied = True
            window.first_reply()
        inside = window.t_start <= now <= window.t_end
        sending = now < window.t_end
        sent = self.sent
        again = 0
        codes = window.all_codes
        while True:
            end = data.find(b"\n\n", start)
            if end < 0:
                break
            code = data[start : start + 3]
            start = end + 2
            codes[code] = codes.get(code, 0) + 1
            sent_at = sent.popleft() if sent else now
            if inside:
                window.count += 1
                window.latencies.append(now - sent_at)
                window.codes[code] = window.codes.get(code, 0) + 1
            if sending:
                again += 1
        self.buffer = data[start:]
        if again:
            self.send(again, now)
        elif not sent:
            self._finish()

    # --- requests -----------------------------------------------------------------------

    async def ask(self, line: bytes) -> bytes:
        """A set-up request (login, /push on): its status code."""
        assert self.transport is not None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.setup.append(future)
        self.transport.write(line)
        return await future

    def start(self, window: Window, lines: list[bytes], depth: int) -> None:
        self.window = window
        self.lines = lines
        self.done = asyncio.get_running_loop().create_future()
        self.send(depth, monotonic())

    def send(self, count: int, now: float) -> None:
        if self.transport is None or self.lost:
            return
        lines = self.lines
        size = len(lines)
        index = self.index
        if count == 1:
            data = lines[index % size]
        else:
            data = b"".join(lines[(index + k) % size] for k in range(count))
        self.index = index + count
        self.sent.extend([now] * count)
        self.transport.write(data)

    def _finish(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    # --- push lines (live delivery) --------------------------------------------------------

    def _parse_with_pushes(self, data: bytes) -> bytes:
        start = 0
        size = len(data)
        while start < size:
            if data[start : start + 1] == b"*":
                end = data.find(b"\n", start)
                if end < 0:
                    break
                if self.on_push is not None:
                    self.on_push(data[start:end], monotonic())
                start = end + 1
                continue
            end = data.find(b"\n\n", start)
            if end < 0:
                break
            code = data[start : start + 3]
            start = end + 2
            if self.setup:
                future = self.setup.popleft()
                if not future.done():
                    future.set_result(code)
        return data[start:]


async def _connect(
    job: dict[str, Any], context: ssl.SSLContext, key: str | None, push: bool = False
) -> LoadConnection:
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_connection(
        LoadConnection, job["host"], job["port"], ssl=context, server_hostname="localhost"
    )
    if push:
        connection.push_mode = True
    if key is not None:
        code = await connection.ask(f"/connexion {key}\n".encode())
        if code != b"200":
            connection.transport.close()  # type: ignore[union-attr]
            raise ConnectionError(f"login refused: {code.decode()}")
    if push:
        code = await connection.ask(b"/push on\n")
        if code != b"200":
            connection.transport.close()  # type: ignore[union-attr]
            raise ConnectionError(f"/push on refused: {code.decode()}")
    return connection


async def _open_many(
    job: dict[str, Any], context: ssl.SSLContext, keys: list[str], push: bool = False
) -> tuple[list[LoadConnection], list[str]]:
    semaphore = asyncio.Semaphore(job.get("connect_concurrency", CONNECT_CONCURRENCY))
    errors: list[str] = []

    async def one(key: str) -> LoadConnection | None:
        async with semaphore:
            for attempt in range(3):
                try:
                    return await asyncio.wait_for(_connect(job, context, key, push), 60)
                except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as error:
                    if attempt == 2:
                        errors.append(repr(error))
                    await asyncio.sleep(0.2)
            return None

    opened = await asyncio.gather(*(one(key) for key in keys))
    return [connection for connection in opened if connection is not None], errors


def _close_all(connections: list[LoadConnection]) -> None:
    for connection in connections:
        if connection.transport is not None and not connection.transport.is_closing():
            connection.transport.close()


# --- jobs ------------------------------------------------------------------------------------


async def _throughput(job: dict[str, Any], pipe: Connection) -> dict[str, Any]:
    """Closed loop (depth 1) or pipelined (depth N) requests on every connection."""
    context = _context(job)
    connections, errors = await _open_many(job, context, job["keys"])
    pipe.send(("ready", {"connected": len(connections), "connect_errors": errors}))
    await _wait_message(pipe)  # ("go",)
    window = Window(len(connections))
    window.errors.extend(errors)
    all_lines = job["lines"]
    for index, connection in enumerate(connections):
        connection.start(window, all_lines[index % len(all_lines)], job["depth"])
    await window.open(pipe)
    await asyncio.sleep(max(0.0, window.t_end - monotonic()))
    pending = [c.done for c in connections if c.done is not None and not c.done.done()]
    if pending:
        await asyncio.wait(pending, timeout=DRAIN_TIMEOUT)
    unanswered = sum(len(c.sent) for c in connections)
    _close_all(connections)
    await asyncio.sleep(0.05)
    return window.result(connections=len(connections), unanswered=unanswered)


async def _handshake(job: dict[str, Any], pipe: Connection) -> dict[str, Any]:
    """Connect, TLS handshake, ``/connexion``, close; again and again."""
    context = _context(job)
    keys = job["keys"]
    pipe.send(("ready", {"connected": 0}))
    await _wait_message(pipe)  # ("go",)
    window = Window()
    loop = asyncio.get_running_loop()

    async def churn(worker: int) -> None:
        count = 0
        while True:
            began = monotonic()
            if began >= window.t_end:
                return
            key = keys[(worker + count * 7) % len(keys)]
            count += 1
            try:
                transport, connection = await asyncio.wait_for(
                    loop.create_connection(
                        LoadConnection,
                        job["host"],
                        job["port"],
                        ssl=context,
                        server_hostname="localhost",
                    ),
                    30,
                )
                code = await asyncio.wait_for(connection.ask(f"/connexion {key}\n".encode()), 30)
                transport.close()
            except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as error:
                window.errors.append(repr(error))
                await asyncio.sleep(0.01)
                continue
            now = monotonic()
            window.all_codes[code] = window.all_codes.get(code, 0) + 1
            if window.t_start <= now <= window.t_end:
                window.count += 1
                window.latencies.append(now - began)
                window.codes[code] = window.codes.get(code, 0) + 1

    tasks = [asyncio.ensure_future(churn(worker)) for worker in range(job["concurrency"])]
    await window.open(pipe)
    await asyncio.gather(*tasks)
    await asyncio.sleep(0.1)
    return window.result()


async def _idle(job: dict[str, Any], pipe: Connection) -> dict[str, Any]:
    """Open and log in many connections, hold them until told to close."""
    context = _context(job)
    connections, errors = await _open_many(job, context, job["keys"])
    pipe.send(("ready", {"connected": len(connections), "connect_errors": errors}))
    await _wait_message(pipe)  # ("close",)
    still_open = sum(1 for c in connections if not c.lost)
    _close_all(connections)
    await asyncio.sleep(0.2)
    return {
        "count": len(connections),
        "still_open": still_open,
        "errors": errors[:20],
        "error_count": len(errors),
    }


async def _delivery(job: dict[str, Any], pipe: Connection) -> dict[str, Any]:
    """Listeners with ``/push on``; senders at a fixed rate; time each push."""
    context = _context(job)
    pushed: dict[int, float] = {}

    def on_push(line: bytes, now: float) -> None:
        match = _TAG.search(line)
        if match:
            pushed.setdefault(int(match.group(1)), now)

    listeners, listen_errors = await _open_many(job, context, job["listener_keys"], push=True)
    for listener in listeners:
        listener.on_push = on_push
    senders, send_errors = await _open_many(job, context, job["sender_keys"])
    errors = listen_errors + send_errors
    pipe.send(
        (
            "ready",
            {
                "connected": len(listeners) + len(senders),
                "listeners": len(listeners),
                "connect_errors": errors,
            },
        )
    )
    await _wait_message(pipe)  # ("go",)
    window = Window()
    window.errors.extend(errors)
    targets = job["listener_ids"]
    rate = job["rate"]
    records: dict[int, list[float]] = {}  # seq -> [sent, answered]
    counter = iter(range(1, 1 << 62))
    interval = len(senders) / rate

    async def send_loop(offset: int, sender: LoadConnection) -> None:
        next_time = monotonic() + offset * interval / len(senders)
        while True:
            now = monotonic()
            if now >= window.t_end:
                return
            if next_time > now:
                await asyncio.sleep(next_time - now)
            seq = next(counter)
            target = targets[seq % len(targets)]
            sent = monotonic()
            try:
                code = await sender.ask(f"/message {target} dlv{seq}\n".encode())
            except ConnectionError as error:
                window.errors.append(repr(error))
                return
            answered = monotonic()
            window.all_codes[code] = window.all_codes.get(code, 0) + 1
            if code == b"200" and window.t_start <= sent <= window.t_end:
                records[seq] = [sent, answered]
                window.codes[code] = window.codes.get(code, 0) + 1
            next_time += interval
            if next_time < answered:
                next_time = answered  # behind schedule: no catch-up burst

    tasks = [asyncio.ensure_future(send_loop(i, s)) for i, s in enumerate(senders)]
    await window.open(pipe)
    await asyncio.gather(*tasks)
    deadline = monotonic() + 3.0
    while monotonic() < deadline and any(seq not in pushed for seq in records):  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # pushes are polled: they arrive on other connections
    delivery = array("d")
    end_to_end = array("d")
    round_trip = array("d")
    missing = 0
    for seq, (sent, answered) in records.items():
        arrived = pushed.get(seq)
        if arrived is None:
            missing += 1
            continue
        delivery.append(arrived - answered)
        end_to_end.append(arrived - sent)
        round_trip.append(answered - sent)
    window.count = len(records)
    _close_all(listeners + senders)
    await asyncio.sleep(0.1)
    return window.result(
        delivery=delivery.tobytes(),
        end_to_end=end_to_end.tobytes(),
        round_trip=round_trip.tobytes(),
        missing=missing,
        listeners=len(listeners),
        senders=len(senders),
    )
