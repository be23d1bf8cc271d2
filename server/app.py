"""The asyncio server: TLS listener, connection loops, and the request pipeline.

A thin layer over the codec (framing) and the command table (behaviour). The
order of checks for one request is the precedence list of Pactocole section 2;
``App.process`` is the single place where errors become status lines. Each
connection is an ``asyncio.Protocol`` (``ClientConnection``): what needs no
waiting is answered in its ``data_received``, the rest by its task
(``ClientConnection.run``), one request at a time and in order either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import signal
import socket
import ssl
import time
from collections import Counter, deque
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from protocol.codec import (
    NEED_DATA,
    LineError,
    Request,
    RequestReader,
    encode_push,
    encode_reply,
)
from protocol.errors import BadRequest as BadRequestError
from protocol.errors import (
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TchatatorError,
    TooManyRequests,
    Unauthorized,
)

from . import security, tls
from .cluster import Cluster, server_secret
from .commands import COMMANDS, Identity
from .config import (
    MAX_SESSION_TTL,
    ConfigError,
    ConfigMissing,
    Settings,
    changed_keys,
    load_settings,
)
from .limits import RateLimiter, SlidingWindow
from .push import Broker
from .requestlog import RequestLog
from .security import TokenClaims
from .storage import queries
from .storage.db import WRITE_GATE, Database, WriteGate
from .storage.models import utc_now
from .table import HELP_FLAGS

__all__ = ["App", "ClientConnection", "admin_digest_path", "resolve_admin_digest", "run_server"]

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
SSL_READ_BUFFER = 16 * 1024 + 256  # one TLS record and its overhead
# A listener that lets this much of its push stream pile up is cut off.
MAX_PENDING_PUSH_BYTES = 1024 * 1024
# How long a refused connection may take to send the request we refuse.
REFUSAL_WAIT = 5.0
# Connections beyond the limit by this factor are closed without a word.
HARD_CONNECTION_FACTOR = 1.1
# Refusals in progress from one address beyond which we close at once.
MAX_REFUSALS_PER_ADDRESS = 8
# How long a closed connection waits for the peer's TLS close_notify. Its
# socket is no longer counted then (App.release), so keep it short.
SSL_SHUTDOWN_TIMEOUT = 5.0
# Seconds between two checks that an open session is still valid: at a
# request once this old, and for push listeners (which send none) by a sweep
# of them all at this interval, so a revocation reaches a listener within it.
IDENTITY_RECHECK = 5.0
# What a listener whose session has ended is told before it is closed.
SESSION_ENDED = encode_push("deconnexion", {"error": "your session has ended: log in again"})
HOUSEKEEPING_INTERVAL = 3600.0


def _shrink_ssl_read_buffers() -> None:
    """Give each TLS connection a ~16 KiB read buffer instead of 256 KiB.

    The stdlib's ``SSLProtocol`` allocates (and zero-fills, so makes resident)
    a ``max_size`` buffer per connection; a TLS record is at most 16 KiB, so
    one record's worth loses nothing and saves ~240 KiB per idle connection.
    uvloop has its own SSL layer and ignores this.
    """
    from asyncio import sslproto

    if getattr(sslproto.SSLProtocol, "max_size", 0) > SSL_READ_BUFFER:
        sslproto.SSLProtocol.max_size = SSL_READ_BUFFER


def admin_digest_path(settings: Settings) -> Path:
    return settings.data_dir / "admin_key.digest"


def resolve_admin_digest(settings: Settings, secret: bytes) -> tuple[str, str | None]:
    """The admin key's digest, and the key itself when it was just generated.

    ``admin_api_key`` from the file wins; when it is empty, a key generated at
    the first start is used: only its digest is kept (0600), the key is shown
    once. The digest is kept only while that key is the one in force: set
    ``admin_api_key`` and it is deleted, so emptying the key again later
    generates a fresh one instead of reviving the old.
    """
    path = admin_digest_path(settings)
    if settings.admin_api_key:
        path.unlink(missing_ok=True)
        return security.digest_key(secret, settings.admin_api_key), None
    try:
        return security.read_private_file(path).decode().strip(), None
    except FileNotFoundError:
        key = security.new_api_key()
        digest = security.digest_key(secret, key)
        security.write_private_file(path, digest.encode())
        return digest, key


class App:
    """Everything one running server shares between its connections."""

    def __init__(self, config_path: Path, settings: Settings) -> None:
        self.config_path = config_path
        self.settings = settings
        _private_folder(settings.data_dir)
        self.db = Database(settings.database_url)
        if not self.db.is_sqlite:
            self.db.migrate()  # the server secret is kept in the database
        self.secret = server_secret(settings, self.db)
        self.admin_digest, self.generated_admin_key = resolve_admin_digest(settings, self.secret)
        self.certificates = tls.ensure_certificates(settings.certs_dir, settings.server_names)
        self.ca_pem = tls.ca_pem_text(self.certificates)
        self.ssl_context = tls.server_ssl_context(self.certificates, settings.tls_min_version)
        self.limiter = RateLimiter(settings.max_requests_per_minute, settings.max_requests_per_hour)
        self.failed_logins = SlidingWindow(60.0, settings.max_failed_logins_per_minute)
        self.request_log = RequestLog(
            settings.log_file, max_bytes=settings.log_max_bytes, backups=settings.log_backups
        )
        self.broker = Broker()
        # With redis_url: the other instances (push, /sync, /logs; docs/scaling.md).
        self.cluster: Cluster | None = None
        self.connections: set[ClientConnection] = set()
        # Every socket from its TCP accept to its close (in the TLS handshake,
        # served or being refused): what max_connections* limit.
        self.sockets = 0
        self.sockets_per_address: Counter[str] = Counter()
        self._handshakes: set[asyncio.Task[None]] = set()
        self._refusing: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._listener_sweep: asyncio.Task[None] | None = None
        self.server: asyncio.Server | None = None
        self.port: int | None = None
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        _shrink_ssl_read_buffers()
        await asyncio.to_thread(self.db.migrate)
        self.db.start()
        loop = asyncio.get_running_loop()
        # Plain TCP first, TLS by start_tls: a connection is counted (and
        # refused) at its accept, before its handshake can hold anything.
        self.server = await loop.create_server(
            lambda: AcceptedSocket(self),
            self.settings.host,
            self.settings.port,
            backlog=self.settings.backlog,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        if self.settings.redis_url:
            name = self.settings.instance_name or f"{socket.gethostname()}:{self.port}"
            self.cluster = Cluster(self, self.settings.redis_url, name)
            self.broker.forward = self.cluster.forward_push
            self.request_log.forward = self.cluster.forward_log
            await self.cluster.start()
        self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())
        self._listener_sweep = asyncio.get_running_loop().create_task(self._sweep_listeners())

    async def _housekeep(self) -> None:
        """Forget revoked tokens once no setting can make them valid again.

        A revocation records when its token expired under the ``session_ttl``
        of the day; a later, longer ``session_ttl`` would revive the token if
        the revocation were forgotten then. No ttl exceeds ``MAX_SESSION_TTL``,
        so a revocation is kept that much longer (a row per /deconnexion).
        """
        while True:
            try:
                forget_before = utc_now() - timedelta(seconds=MAX_SESSION_TTL)
                await self.db.write(queries.purge_revoked, forget_before)
            except Exception:
                log.exception("purging expired revoked tokens")
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)

    async def _sweep_listeners(self) -> None:
        while True:
            await asyncio.sleep(IDENTITY_RECHECK)
            try:
                await self.end_dead_listeners()
            except Exception:
                log.exception("re-checking the sessions of push listeners")

    async def end_dead_listeners(self) -> int:
        """Re-check every push listener's session in one read; end the dead ones.

        A listener sends no requests, so the per-request re-check never runs
        for it: without this, a rotated key, a removed user, a token revoked
        elsewhere or ``session_ttl`` passing would leave it hearing every new
        message. Returns how many listeners were ended.
        """
        sessions = [
            (listener, listener.identity, listener.claims)
            for listener in self.broker.all_listeners()
            if isinstance(listener, ClientConnection)
            and listener.identity is not None
            and listener.claims is not None
        ]
        if not sessions:
            return 0
        user_ids = {identity.id for _, identity, _ in sessions if identity.role != "admin"}
        nonces = {claims.nonce_hex for _, _, claims in sessions}
        digests, revoked = await self.db.read(queries.sessions_state, user_ids, nonces)
        checked_at = time.monotonic()
        ended = 0
        for listener, identity, claims in sessions:
            if listener.claims is not claims:
                continue  # logged in again or out meanwhile: not this session any more
            if self.session_alive(
                identity, claims, digests.get(identity.id), claims.nonce_hex in revoked
            ):
                listener.validated_at = checked_at
            else:
                listener.end_session()
                ended += 1
        return ended

    def end_listeners_of(self, claims: TokenClaims) -> None:
        """``/deconnexion``: this session's listeners on this server end now, not at
        the next sweep (which finds those on other servers)."""
        for listener in self.broker.listeners_of(claims.user_id):
            if isinstance(listener, ClientConnection) and listener.claims == claims:
                listener.end_session()

    def session_alive(
        self, identity: Identity, claims: TokenClaims, current_digest: str | None, revoked: bool
    ) -> bool:
        """Whether a session may go on, given what the database says of it.

        ``current_digest`` is the user's key digest now (None: removed), and
        ``revoked`` whether ``/deconnexion`` ended its token.
        """
        if revoked or claims.issued_at + self.settings.session_ttl <= time.time():
            return False
        if identity.role == "admin":
            return hmac.compare_digest(identity.key_digest, self.admin_digest)
        return current_digest is not None and hmac.compare_digest(
            current_digest, identity.key_digest
        )

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish, then close the database."""
        if self._stopping:
            return
        self._stopping = True
        if self.server is not None:
            self.server.close()
        for background in (self._housekeeping, self._listener_sweep, *self._handshakes):
            if background is not None:
                background.cancel()
        tasks = []
        for connection in list(self.connections):
            connection.closing = True
            if connection.task is not None:
                tasks.append(connection.task)
                if not connection.busy:
                    connection.task.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=2)
        self.request_log.flush()
        if self.cluster is not None:
            await self.cluster.stop()
        await asyncio.to_thread(self.db.close)
        self.request_log.close()

    # --- configuration ---------------------------------------------------------

    def reload_settings(self) -> tuple[list[str], list[str]]:
        """``/sync``: apply the file's live keys; an invalid file changes nothing.

        Raises:
            NotFound: the file is missing.
            BadRequest: the file is invalid (the message says why).
        """
        try:
            new, warnings = load_settings(self.config_path)
        except ConfigMissing as error:
            raise NotFound(str(error)) from None
        except ConfigError as error:
            raise BadRequestError(f"configuration refused: {error}") from None
        for warning in warnings:
            log.warning("%s: %s", self.config_path, warning)
        live, restart = changed_keys(self.settings, new)
        # Keys that need a restart keep their running value until then.
        new = dataclasses.replace(new, **{key: getattr(self.settings, key) for key in restart})
        if "admin_api_key" in live:
            digest, generated = resolve_admin_digest(new, self.secret)
            if generated:
                print(f"New admin key (shown once): {generated}", flush=True)
            self.admin_digest = digest
        self.settings = new
        self.limiter.configure(new.max_requests_per_minute, new.max_requests_per_hour)
        self.failed_logins.set_limit(new.max_failed_logins_per_minute)
        return live, restart

    async def sync_everywhere(self) -> dict[str, Any]:
        """``/sync``: this instance reloads its file, then asks the others to
        reload theirs; the reply says which did (``instances``).

        Raises:
            NotFound, BadRequest: this instance's file (nothing is asked then).
        """
        live, restart = self.reload_settings()
        reply: dict[str, Any] = {"reloaded": live, "restart_required": restart}
        if self.cluster is not None:
            reply["instances"] = await self.cluster.sync(dict(reply))
        return reply

    async def latest_logs(self, count: int) -> list[dict[str, Any]]:
        """``/logs``: every instance's newest entries (with Redis), else this one's."""
        if self.cluster is not None:
            self.request_log.flush()
            entries = await self.cluster.latest_logs(count)
            if entries is not None:
                return entries
        return self.request_log.last(count)

    # --- connections ---------------------------------------------------------------

    def accept(self, transport: asyncio.Transport) -> None:
        """A TCP connection was accepted: count it, then shake hands, or drop it now.

        Counting starts here, not after the handshake: a peer that opens
        sockets and never finishes TLS still holds descriptors and memory
        until ``handshake_timeout``, so it must meet the limits at once.
        Over ``max_connections_per_address`` a few more (``MAX_REFUSALS_PER_ADDRESS``)
        are let through the handshake to be told why (429); beyond that, and
        beyond ``max_connections`` by ``HARD_CONNECTION_FACTOR``, a socket is
        closed without a word.
        """
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        settings = self.settings
        held = self.sockets_per_address[peer]
        if (
            self._stopping
            or self.sockets >= settings.max_connections * HARD_CONNECTION_FACTOR
            or held >= settings.max_connections_per_address + MAX_REFUSALS_PER_ADDRESS
        ):
            transport.abort()
            return
        self.sockets += 1
        self.sockets_per_address[peer] = held + 1
        over_address_limit = held >= settings.max_connections_per_address
        # start_tls runs its first part here, in connection_made: the TLS layer
        # must be the socket's protocol before the loop reads from it (uvloop
        # starts reading right after connection_made, paused or not).
        handshake = self._handshake(transport, peer, over_address_limit, time.monotonic())
        try:
            suspended_on = handshake.send(None)
        except StopIteration:
            return
        task = asyncio.get_running_loop().create_task(_finish(handshake, suspended_on))
        self._handshakes.add(task)  # a task nobody holds may be collected
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(
        self,
        transport: asyncio.Transport,
        peer: str,
        over_address_limit: bool,
        accepted_at: float,
    ) -> None:
        early = _EarlyEvents()
        try:
            tls_transport = await asyncio.get_running_loop().start_tls(
                transport,
                early,
                self.ssl_context,
                server_side=True,
                ssl_handshake_timeout=self.settings.handshake_timeout,
                ssl_shutdown_timeout=SSL_SHUTDOWN_TIMEOUT,
            )
        except BaseException as error:  # failed, timed out, or the server stops
            transport.abort()
            self.release(peer)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        if tls_transport is None:  # only for a loop that has no TLS to offer
            transport.abort()
            self.release(peer)
            return
        connection = ClientConnection(self)
        connection.accepted_at = accepted_at  # the login deadline counts the handshake too
        connection.counted_as = peer
        connection.over_address_limit = over_address_limit
        tls_transport.set_protocol(connection)
        connection.connection_made(tls_transport)
        early.hand_over(connection)

    def release(self, peer: str) -> None:
        """A socket counted by ``accept`` is done with: closed, or being closed
        by us (``ClientConnection.uncount``)."""
        self.sockets -= 1
        left = self.sockets_per_address[peer] - 1
        if left > 0:
            self.sockets_per_address[peer] = left
        else:
            del self.sockets_per_address[peer]

    def admit(self, connection: ClientConnection) -> None:
        """A TLS connection is up: serve it, or refuse it with one answer."""
        if self._stopping:
            connection.transport.close()
            connection.uncount()
            return
        refusal: TchatatorError | None = None
        if len(self.connections) >= self.settings.max_connections:
            refusal = ServiceUnavailable("too many connections")
        elif connection.over_address_limit:
            refusal = TooManyRequests("too many connections from your address", retry_after=1)
        loop = asyncio.get_running_loop()
        if refusal is not None:
            refusing = loop.create_task(self._refuse(connection, refusal))
            self._refusing.add(refusing)  # a task nobody holds may be collected
            refusing.add_done_callback(self._refusing.discard)
            return
        self.connections.add(connection)
        connection.task = loop.create_task(self._serve(connection))

    async def _serve(self, connection: ClientConnection) -> None:
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
            connection.uncount()

    async def _refuse(self, connection: ClientConnection, error: TchatatorError) -> None:
        """Answer the first request of a connection we cannot take, then close it."""
        try:
            async with asyncio.timeout(REFUSAL_WAIT):
                while connection.codec.next_event() is NEED_DATA:
                    if not await connection.wait_for_data():
                        return
            connection.transport.write(
                encode_reply(error.status, error.body(), self.settings.label(error.status))
            )
            await asyncio.wait_for(connection.drain(), REFUSAL_WAIT)
        except (TimeoutError, OSError, ssl.SSLError):
            pass
        finally:
            connection.transport.close()
            connection.uncount()

    async def process(self, connection: ClientConnection, event: Any) -> bytes:
        """One request in, one encoded response out (section 2's precedence)."""
        started = time.perf_counter()
        word = "?"
        body: dict[str, Any] | None
        identity = connection.identity
        try:
            if identity is None or identity.role != "admin":
                key = ("user", identity.id) if identity else ("peer", connection.peer)
                wait = self.limiter.check(key)
                if wait > 0:
                    raise TooManyRequests("too many requests", retry_after=wait)
            if isinstance(event, LineError):
                code, body = event.code, {"error": event.error, **event.extra}
            else:
                entry = COMMANDS.get(event.command)
                if entry is None:
                    raise NotFound(f"unknown command; the commands are: {_COMMAND_LIST}")
                word = entry.name
                # One argument that is a help flag (flags hold no space).
                if event.arguments.strip(" ") in HELP_FLAGS:
                    code, body = 200, entry.help_body()
                else:
                    if entry.roles is not None:
                        if identity is None:
                            raise Unauthorized("log in first: /connexion {api_key}")
                        if (
                            connection.session_check_due()
                            and not await connection.session_still_valid()
                        ):
                            raise Unauthorized("your session has ended: log in again")
                        if identity.role not in entry.roles:
                            raise Forbidden(f"{entry.name} is not for the {identity.role} role")
                    values = entry.parse(event.arguments)
                    result = await entry.handler(self, connection, **values)
                    code, body = (204, None) if result is None else (200, result)
        except TchatatorError as error:
            code, body = error.status, error.body()
        except Exception:
            log.exception("unexpected error in %s", word)
            code, body = 500, {"error": "internal server error; the request may not have run"}
        identity = connection.identity or identity
        self.request_log.record(
            peer=connection.peer,
            user=identity.id if identity else None,
            command=word,
            code=code,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        return encode_reply(code, body, self.settings.label(code))


_COMMAND_LIST = " ".join(sorted(COMMANDS))


async def _finish(coroutine: Coroutine[Any, Any, T], suspended_on: Any) -> T:
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


class AcceptedSocket(asyncio.Protocol):
    """A TCP connection as accepted, before TLS: handed to ``App.accept``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.app.accept(cast(asyncio.Transport, transport))  # a stream server's transport


class _EarlyEvents(asyncio.Protocol):
    """The TLS transport's protocol between the end of the handshake and the
    moment ``App._handshake`` resumes: a client may send its first request
    with its last handshake message, so what comes is kept and handed over."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False
        self.lost = False
        self.error: Exception | None = None

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.eof = True
        return True  # the connection decides, once it has taken over

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost, self.error = True, exc

    def hand_over(self, connection: ClientConnection) -> None:
        if self.data:
            connection.data_received(bytes(self.data))
        if self.eof and not connection.eof_received():
            connection.transport.close()
        if self.lost:
            connection.connection_lost(self.error)


class ClientConnection(asyncio.Protocol):
    """One client: its identity, its push subscription, its request loop.

    It is the transport's protocol itself, as in the baseline: bytes go
    straight from ``data_received`` into the codec, replies straight to
    ``transport.write``, and one timer per connection enforces the idle
    timeouts (no stream objects, no timeout object per read).
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set on connection
        self.peer = "?"
        self.identity: Identity | None = None
        self.claims: TokenClaims | None = None
        self.push_enabled = False
        self.busy = False
        self.closing = False
        self.task: asyncio.Task[Any] | None = None
        # The address App.accept counted this socket under (None once released).
        self.counted_as: str | None = None
        self.over_address_limit = False
        self.codec = RequestReader(app.settings.max_line)
        self.accepted_at = time.monotonic()
        self.validated_at = 0.0
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
        self.peer = str(peername[0]) if peername else "?"
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.app.admit(self)

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
        codec = self.codec
        app = self.app
        for _ in range(FAIR_SHARE):
            if self._writing_paused:
                break
            event = self._next_event()
            if event is NEED_DATA:
                return  # the task goes on waiting
            if isinstance(event, Request) and event.command in PIPELINABLE:
                self._handoff = event
                break
            processing = app.process(self, event)
            try:
                suspended_on = processing.send(None)
            except StopIteration as done:
                if self.transport.is_closing():
                    break
                self.transport.write(done.value)
                self._idle_since = time.monotonic()  # the idle timer reads it when it fires
                continue
            self.busy = True  # App.stop lets it finish
            self._handoff = (processing, suspended_on)
            break
        if codec.buffered:
            self.busy = True  # requests are buffered: App.stop lets them finish
        self._wake()  # the task takes over what is left (after the others' turn)

    def _next_event(self) -> Any:  # RequestReader.next_event with the live max_line
        self.codec.max_line = self.app.settings.max_line  # /sync may change it
        return self.codec.next_event()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close: TLS has no half-close

    def uncount(self) -> None:
        """Leave the socket counts: the connection is closed or being closed by us
        (the TLS shutdown may linger until ``SSL_SHUTDOWN_TIMEOUT``)."""
        if self.counted_as is not None:
            self.app.release(self.counted_as)
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
        settings = self.app.settings
        if self.identity is None:
            # A deadline from the accept, not per read: trickling bytes does
            # not keep an anonymous connection open.
            return self.accepted_at + settings.idle_timeout
        if self.push_enabled:
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

    # --- session state (used by the handlers) ---------------------------------------

    def require_identity(self) -> Identity:
        if self.identity is None:  # the table checks roles first; this is a guard
            raise Unauthorized("log in first")
        return self.identity

    def session_check_due(self) -> bool:
        """Whether the session was last checked more than ``IDENTITY_RECHECK`` ago."""
        return time.monotonic() - self.validated_at >= IDENTITY_RECHECK

    async def session_still_valid(self) -> bool:
        """Re-check, every few seconds, that the session may go on.

        A key rotated or a user removed (by the CLI, in another process), a
        token revoked by ``/deconnexion`` elsewhere, or ``session_ttl`` passed
        all end the sessions already open, not only future logins.
        """
        now = time.monotonic()
        identity, claims = self.identity, self.claims
        if identity is None or claims is None:
            return False
        app = self.app
        user_id = None if identity.role == "admin" else identity.id
        current, revoked = await app.db.read(queries.session_state, user_id, claims.nonce_hex)
        alive = app.session_alive(identity, claims, current, revoked)
        if alive:
            self.validated_at = now
        else:
            self.logout()
        return alive

    def login(self, identity: Identity, claims: TokenClaims) -> None:
        push = self.push_enabled
        self.set_push(False)
        self.identity = identity
        self.claims = claims
        self.validated_at = time.monotonic()
        self.set_push(push)

    def logout(self) -> None:
        self.set_push(False)
        self.identity = None
        self.claims = None

    def end_session(self) -> None:
        """A listener's session has ended: say so, stop pushing, and close.

        As IMAP's ``* BYE``: the push line tells why, then the connection
        closes. The apps reconnect, and ask for the key when the server
        refuses theirs; a listener is never left logged out but open, since
        it sends nothing that would get the 401.
        """
        log.info(
            "session of user %s ended: closing its push connection",
            self.identity.id if self.identity else "?",
        )
        self.push(SESSION_ENDED)
        self.logout()
        self.transport.close()  # after what is buffered, the push line included

    def set_push(self, enabled: bool) -> None:
        if self.identity is None:
            self.push_enabled = False
            return
        if enabled and not self.push_enabled:
            self.app.broker.subscribe(self.identity.id, self)
        elif not enabled and self.push_enabled:
            self.app.broker.unsubscribe(self.identity.id, self)
        self.push_enabled = enabled

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
                    self.busy = True  # requests are buffered: App.stop lets them finish
                    await asyncio.sleep(0)  # the other connections' turn
                    self.busy = False
                handoff, self._handoff = self._handoff, None
                if isinstance(handoff, tuple):
                    try:
                        response = await _finish(*handoff)
                    finally:
                        self.busy = False
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
                    self.busy = False
                    if not self._arm_idle_timer() or not await self.wait_for_data():
                        break
                    continue
                self.busy = True
                if (
                    self.identity is not None
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
                try:
                    if not await self._send(await self.app.process(self, event)):
                        break
                finally:
                    self.busy = False
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
            self.set_push(False)
            # close() flushes what is buffered, then sends the TLS close_notify;
            # nothing is gained by waiting for the peer's answer to it.
            self.transport.close()
            self._cancel_idle_timer()

    async def _gated(self, event: Request, gate: WriteGate) -> bytes:
        WRITE_GATE.set(gate)
        try:
            return await self.app.process(self, event)
        finally:
            gate.open()

    async def _answer(self, in_flight: deque[asyncio.Task[bytes]]) -> None:
        """Write the answers of the requests in flight, in request order."""
        try:
            while in_flight:
                response = await in_flight[0]
                in_flight.popleft()
                if not await self._send(response):
                    raise ConnectionResetError("peer gone")
        finally:
            self.busy = False

    async def _send(self, response: bytes) -> bool:
        transport = self.transport
        if transport.is_closing():
            return False
        transport.write(response)
        if self._writing_paused:  # only when the peer is not reading
            await self._drain_or_give_up()
        return True

    async def _drain_or_give_up(self) -> None:
        """Wait for a peer that does not read; TimeoutError after the idle timeout."""
        async with asyncio.timeout(self.app.settings.idle_timeout_authenticated):
            await self.drain()


async def run_server(config_path: Path, settings: Settings, *, ready: Any = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    app = App(config_path, settings)
    await app.start()
    _announce(app)
    if ready is not None:
        ready(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("Stopping: finishing requests in flight...", flush=True)
    await app.stop()
    print("Stopped.", flush=True)
    return 0


def _announce(app: App) -> None:
    settings = app.settings
    lines = [
        f"Tchatator listening on {settings.host}:{app.port} (TLS {settings.tls_min_version}+)",
        f"CA certificate: {app.certificates.ca_cert}",
        f"CA fingerprint (SHA-256): {app.certificates.ca_fingerprint}",
        f"CA fingerprint (hex): {app.certificates.ca_fingerprint.replace(':', '').lower()}",
        f"Database: {_redact(settings.database_url)}",
        f"Try it: openssl s_client -quiet -connect {_display_host(settings.host)}:{app.port}"
        f" -CAfile {app.certificates.ca_cert}",
    ]
    if app.certificates.ca_key.exists():
        lines.append(
            f"CA private key: {app.certificates.ca_key} (not needed to serve:"
            " keep it offline, see docs/security.md)"
        )
    if app.generated_admin_key:
        lines.append(f"Admin key generated (shown once, keep it): {app.generated_admin_key}")
    print("\n".join(lines), flush=True)


def _private_folder(path: Path) -> None:
    """The data folder holds the database and secrets: owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, location = rest.rsplit("@", 1)
        if ":" in credentials:
            user = credentials.split(":", 1)[0]
            return f"{scheme}://{user}:***@{location}"
    return url
