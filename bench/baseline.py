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

    python -m bench.baseline --certs-dir DIR [--port 0] [--uvloop]

prints ``Baseline listening on HOST:PORT`` when ready and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from server import tls

REPLY = b'200/OK\n{"ok": true}\n\n'


class BaselineProtocol(asyncio.Protocol):
    __slots__ = ("buffer", "listeners", "name", "transport")

    def __init__(self, listeners: dict[bytes, set[BaselineProtocol]]) -> None:
        self.listeners = listeners
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


async def serve(host: str, port: int, certs_dir: Path, backlog: int) -> None:
    paths = tls.ensure_certificates(certs_dir)
    context = tls.server_ssl_context(paths, "1.3")
    loop = asyncio.get_running_loop()
    listeners: dict[bytes, set[BaselineProtocol]] = {}
    server = await loop.create_server(
        lambda: BaselineProtocol(listeners),
        host,
        port,
        ssl=context,
        backlog=backlog,
        ssl_handshake_timeout=60,
    )
    bound = server.sockets[0].getsockname()
    print(f"Baseline listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


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
    args = parser.parse_args(argv)
    if args.ssl_max_size:
        from asyncio import sslproto

        sslproto.SSLProtocol.max_size = args.ssl_max_size
    coroutine = serve(args.host, args.port, args.certs_dir, args.backlog)
    if args.uvloop:
        import uvloop

        uvloop.run(coroutine)
    else:
        asyncio.run(coroutine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
