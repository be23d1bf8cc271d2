"""The baseline: a bare asyncio TLS 1.3 line server with the Pactocole framing.

One request line in, ``200/OK`` + one JSON line + an empty line out, and no
logic: no parsing of arguments, no database, no log. It uses the server's own
certificates and ``SSLContext`` settings (``server.tls.server_ssl_context``),
so both pay for exactly the same TLS, and it runs on the stdlib event loop or
on uvloop (``--uvloop``), like ``tchatator-server serve [--uvloop]``.

It is written on the ``asyncio.Protocol`` API, the leanest path the platform
offers (no stream objects, no task per connection): this is "what the
platform itself can do", the yardstick every server figure is divided by.

The one exception to "no logic" is what the live-delivery scenario needs to
have anything to compare with: ``/connexion X`` remembers ``X`` as the
connection's name, ``/push on`` registers the connection under that name, and
``/message X text`` writes ``* message {"text": "text"}`` to the connections
registered as ``X`` before answering. That is one dictionary lookup, the
least routing a relay can do.

Two options turn it into a calibration, not a yardstick (``bench.run`` uses
them for the "what a target allows" table, never for the ratios):

- ``--work-us W`` spends W µs of CPU in Python on every request line before
  answering, the way application code would: how a ratio to the bare baseline
  falls as the work per request grows;
- ``--processes N`` runs N copies of it on one port (``SO_REUSEPORT``: the
  kernel spreads the connections over them), as a server with one event loop
  per core would.

    python -m bench.baseline --certs-dir DIR [--port 0] [--uvloop] [--work-us W] [--processes N]

prints ``Baseline listening on HOST:PORT`` when ready and stops on SIGTERM
(with ``--processes``, the first process stops the others and waits for them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

from server import tls

REPLY = b'200/OK\n{"ok": true}\n\n'


def spend(seconds: float) -> None:
    """Busy the CPU for ``seconds`` of this thread's CPU time (synthetic work)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class BaselineProtocol(asyncio.Protocol):
    __slots__ = ("buffer", "listeners", "name", "transport", "work")

    def __init__(self, listeners: dict[bytes, set[BaselineProtocol]], work: float = 0.0) -> None:
        self.listeners = listeners
        self.work = work  # seconds of CPU per request line (--work-us)
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.name = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
        if b"\n" not in data:
            self.buffer = data
            return
        *lines, self.buffer = data.split(b"\n")
        replies = 0
        for line in lines:
            if not line.strip():
                continue  # an empty line is not a request
            if line.startswith(b"/message ") and self.listeners:
                self._relay(line)
            elif line.startswith(b"/connexion "):
                self.name = line[11:].strip()
            elif line.startswith(b"/push on"):
                self.listeners.setdefault(self.name, set()).add(self)
            if self.work:
                spend(self.work)
            replies += 1
        if replies:
            assert self.transport is not None
            self.transport.write(REPLY * replies)

    def _relay(self, line: bytes) -> None:
        _, target, text = [*line.rstrip(b"\r").split(b" ", 2), b"", b""][:3]
        for listener in self.listeners.get(target, ()):
            if listener.transport is not None and not listener.transport.is_closing():
                listener.transport.write(b'* message {"text": "' + text + b'"}\n')

    def connection_lost(self, exc: Exception | None) -> None:
        listeners = self.listeners.get(self.name)
        if listeners is not None:
            listeners.discard(self)
            if not listeners:
                del self.listeners[self.name]
        self.transport = None


async def serve(
    listening: socket.socket, certs_dir: Path, work: float, announce: bool, others: list[int]
) -> None:
    paths = tls.ensure_certificates(certs_dir)
    context = tls.server_ssl_context(paths, "1.3")
    loop = asyncio.get_running_loop()
    listeners: dict[bytes, set[BaselineProtocol]] = {}
    server = await loop.create_server(
        lambda: BaselineProtocol(listeners, work),
        sock=listening,
        ssl=context,
        ssl_handshake_timeout=60,
    )
    if announce:
        bound = server.sockets[0].getsockname()
        print(f"Baseline listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    for pid in others:  # the first process stops the copies it forked
        os.kill(pid, signal.SIGTERM)
    for pid in others:
        await asyncio.to_thread(os.waitpid, pid, 0)


def listening_sockets(host: str, port: int, backlog: int, count: int) -> list[socket.socket]:
    """``count`` sockets listening on one port (``SO_REUSEPORT`` when several)."""
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if count > 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
        port = sock.getsockname()[1]  # port 0: the copies take the one it got
        sockets.append(sock)
    return sockets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--certs-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=4096)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    parser.add_argument(
        "--ssl-max-size",
        type=int,
        default=0,
        help=(
            "stdlib loop only: shrink asyncio.sslproto.SSLProtocol.max_size (256 KiB per "
            "connection by default) to test the memory work-around"
        ),
    )
    parser.add_argument(
        "--work-us",
        type=float,
        default=0.0,
        help="calibration: µs of CPU spent in Python on every request line",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="calibration: copies on one port (SO_REUSEPORT)"
    )
    args = parser.parse_args(argv)
    if args.ssl_max_size:
        from asyncio import sslproto

        sslproto.SSLProtocol.max_size = args.ssl_max_size
    sockets = listening_sockets(args.host, args.port, args.backlog, max(1, args.processes))
    others: list[int] = []
    mine = sockets[0]
    for sock in sockets[1:]:
        pid = os.fork()  # before any event loop exists
        if pid == 0:
            mine, others = sock, []
            break
        others.append(pid)
    for sock in sockets:
        if sock is not mine:
            sock.close()
    first = mine is sockets[0]
    coroutine = serve(mine, args.certs_dir, args.work_us / 1e6, first, others)
    if args.uvloop:
        import uvloop

        uvloop.run(coroutine)
    else:
        asyncio.run(coroutine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
