"""The async Pactocole client: one TLS connection, requests matched in order.

Used by the tests, the ``tchatator`` CLI, the benchmark and the desktop apps,
so there is a single client implementation of the protocol. The codec does
the framing; this module only moves bytes. Replies come back in request
order (section 3), so pending requests wait in a FIFO of futures; push lines
(our ``/push`` extension) go to ``on_push`` or the ``pushes`` queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

from .codec import NEED_DATA, Push, Reply, ReplyReader, encode_request, encode_text
from .errors import ConnectionLost, StatusError
from .models import (
    ConversationSummary,
    LogEntry,
    Message,
    Page,
    ReadMark,
    Restriction,
    Session,
    User,
)

__all__ = ["ClientState", "TchatatorClient", "fetch_ca"]

READ_CHUNK = 64 * 1024
# A push queue nobody drains must not grow without end.
MAX_QUEUED_PUSHES = 10_000


class ClientState(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class TchatatorClient:
    """``async with TchatatorClient(host, port, ssl=ctx) as client: ...``

    Non-2xx replies raise ``StatusError``; a broken connection raises
    ``ConnectionLost`` on every pending and later request.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float = 30.0,
        on_push: Callable[[Push], None] | None = None,
        on_disconnect: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._ssl = ssl
        self._server_hostname = server_hostname
        self.timeout = timeout
        self.on_push = on_push
        self.on_disconnect = on_disconnect
        self.pushes: asyncio.Queue[Push] = asyncio.Queue(MAX_QUEUED_PUSHES)
        self.state = ClientState.UNOPENED
        self.session: Session | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future[Reply]] = deque()
        self._read_task: asyncio.Task[None] | None = None
        self._lost: BaseException | None = None

    # --- lifecycle ---------------------------------------------------------

    async def connect(self) -> None:
        if self.state is not ClientState.UNOPENED:
            raise RuntimeError(f"cannot connect a client that is {self.state.value}")
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                ),
                self.timeout,
            )
        except (TimeoutError, OSError, ssl.SSLError) as error:
            self.state = ClientState.CLOSED
            raise ConnectionLost(f"cannot connect to {self.host}:{self.port}: {error}") from error
        self.state = ClientState.OPEN
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    async def close(self) -> None:
        if self.state is ClientState.CLOSED:
            return
        self.state = ClientState.CLOSED
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(BaseException):
                await self._read_task
        self._fail_pending(ConnectionLost("client closed"))

    async def __aenter__(self) -> TchatatorClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def peer_certificate(self) -> bytes | None:
        """The server certificate (DER) of the open connection."""
        if self._writer is None:
            return None
        ssl_object = self._writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object else None

    # --- raw requests --------------------------------------------------------

    def send_nowait(self, line: bytes) -> asyncio.Future[Reply]:
        """Queue one raw request line; the future gets its reply (pipelining)."""
        if self.state is not ClientState.OPEN or self._writer is None:
            raise ConnectionLost(str(self._lost or "not connected"))
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self._writer.write(line)
        return future

    async def raw(self, line: bytes) -> Reply:
        """Send one line and return its reply, whatever the status."""
        future = self.send_nowait(line)
        assert self._writer is not None
        try:
            await self._writer.drain()
        except (OSError, ConnectionError) as error:
            raise ConnectionLost(str(error)) from error
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError as error:
            # A reply that never comes leaves the FIFO out of step: give up.
            await self._abort(ConnectionLost("no reply from the server"))
            raise ConnectionLost("no reply from the server") from error

    async def request(self, command: str, *arguments: object) -> Reply:
        """Send a command; return its 2xx reply or raise ``StatusError``."""
        reply = await self.raw(encode_request(command, *arguments))
        if not reply.ok:
            raise StatusError(reply.code, reply.label, reply.body)
        return reply

    # --- the commands (section 5 and our extensions) ---------------------------

    async def login(self, key_or_token: str) -> Session:
        body = (await self.request("/connexion", key_or_token)).body or {}
        self.session = Session(body["token"], User.from_json(body["user"]))
        return self.session

    async def logout(self) -> None:
        await self.request("/deconnexion")
        self.session = None

    async def send_message(self, recipient: int, text: str) -> int:
        body = (await self.request("/message", recipient, encode_text(text))).body or {}
        return int(body["id"])

    async def unread(self, page: int = 0) -> Page:
        return _page(await self.request("/liste", page))

    async def conversation(self, partner: int, page: int = 0) -> Page:
        return _page(await self.request("/conversation", partner, page))

    async def peek(self, partner: int, page: int = 0) -> Page:
        """``/apercu``: a ``/conversation`` page that marks nothing read."""
        return _page(await self.request("/apercu", partner, page))

    async def mark_read(self, partner: int, up_to: int) -> ReadMark:
        """``/lu``: what ``partner`` sent me, up to message ``up_to``, is read."""
        return ReadMark.from_json((await self.request("/lu", partner, up_to)).body or {})

    async def info(self, message_id: int) -> Message:
        return Message.from_json((await self.request("/info", message_id)).body or {})

    async def edit(self, message_id: int, text: str) -> Message:
        reply = await self.request("/modifie", message_id, encode_text(text))
        return Message.from_json(reply.body or {})

    async def delete(self, message_id: int) -> None:
        await self.request("/supprime", message_id)

    async def block(self, client_id: int) -> str:
        return str((await self.request("/bloque", client_id)).body["until"])  # type: ignore[index]

    async def unblock(self, client_id: int) -> None:
        await self.request("/debloque", client_id)

    async def ban(self, client_id: int) -> None:
        await self.request("/ban", client_id)

    async def unban(self, client_id: int) -> None:
        await self.request("/deban", client_id)

    async def sync(self) -> dict[str, Any]:
        return (await self.request("/sync")).body or {}

    async def logs(self, count: int = 50) -> list[LogEntry]:
        reply = await self.request("/logs", count)
        if reply.code == 204 or reply.body is None:
            return []
        return [LogEntry.from_json(item) for item in reply.body["logs"]]

    async def directory(self, page: int = 0) -> tuple[list[User], int]:
        """Pros one may write to (all users for the admin), and the page count."""
        reply = await self.request("/annuaire", page)
        if reply.code == 204 or reply.body is None:
            return [], 0
        return [User.from_json(item) for item in reply.body["users"]], int(reply.body["pages"])

    async def conversations(self, page: int = 0) -> tuple[list[ConversationSummary], int]:
        """My conversations, most recent activity first, and the page count."""
        reply = await self.request("/discussions", page)
        if reply.code == 204 or reply.body is None:
            return [], 0
        items = [ConversationSummary.from_json(item) for item in reply.body["conversations"]]
        return items, int(reply.body["pages"])

    async def restrictions(self) -> list[Restriction]:
        reply = await self.request("/sanctions")
        if reply.code == 204 or reply.body is None:
            return []
        return [Restriction.from_json(item) for item in reply.body["sanctions"]]

    async def set_push(self, enabled: bool) -> None:
        await self.request("/push", "on" if enabled else "off")

    async def limits(self) -> dict[str, Any]:
        return (await self.request("/limites")).body or {}

    async def certificate_authority(self) -> dict[str, str]:
        """The CA that issued the server certificate: ``{"pem", "fingerprint"}``."""
        return (await self.request("/ca")).body or {}

    # --- internals ---------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        codec = ReplyReader()
        error: BaseException | None = None
        try:
            while True:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    error = ConnectionLost("the server closed the connection")
                    break
                codec.feed(data)
                while (event := codec.next_event()) is not NEED_DATA:
                    if isinstance(event, Push):
                        self._deliver_push(event)
                    elif self._pending:
                        future = self._pending.popleft()
                        if not future.done():
                            future.set_result(event)  # type: ignore[arg-type]
                    else:
                        raise ValueError("a reply arrived for no request")
        except asyncio.CancelledError:
            raise
        except (OSError, ConnectionError, ssl.SSLError) as exc:
            error = ConnectionLost(str(exc) or type(exc).__name__)
        except ValueError as exc:
            error = ConnectionLost(f"protocol error: {exc}")
        await self._abort(error)

    def _deliver_push(self, push: Push) -> None:
        if self.on_push is not None:
            self.on_push(push)
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.pushes.put_nowait(push)

    async def _abort(self, error: BaseException | None) -> None:
        was_open = self.state is ClientState.OPEN
        self.state = ClientState.CLOSED
        self._lost = error
        self._fail_pending(error or ConnectionLost("connection closed"))
        if self._writer is not None:
            self._writer.close()
        if was_open and self.on_disconnect is not None:
            self.on_disconnect(error)

    def _fail_pending(self, error: BaseException) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)
                # Nobody may await it any more (cancelled caller): no warning.
                future.exception()


def _page(reply: Reply) -> Page:
    if reply.code == 204 or reply.body is None:
        return Page.empty()
    return Page.from_json(reply.body)


async def fetch_ca(host: str, port: int, *, timeout: float = 10.0) -> tuple[str, str, bytes]:
    """Trust on first use: fetch the CA without verifying anything.

    Returns ``(ca_pem, ca_fingerprint, server_cert_der)``. The caller must show
    the fingerprint to the user and only then trust the PEM; no key is sent on
    this unverified connection.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with TchatatorClient(host, port, ssl=context, timeout=timeout) as client:
        body = await client.certificate_authority()
        leaf = client.peer_certificate or b""
    return body["pem"], body["fingerprint"], leaf
