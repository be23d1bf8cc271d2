"""The running server: its lifecycle, and who gets in.

``App`` holds what every connection shares (settings, database, limits,
broker, request log, keys, certificates): it is the ``table.Server`` the
dispatcher and the handlers use. It starts the listener and stops it
(letting requests in flight finish), reloads the settings (``/sync``), and
decides who gets in: each socket is counted from its TCP accept (``accept``;
from a trusted balancer, once its PROXY header has named the client,
``_ProxyHeaderWait``; then the TLS handshake by ``start_tls``), and each TLS
connection is served, refused with one answer (too many connections), or
dropped (``admit``). It
also sweeps the push listeners' sessions (``end_dead_listeners``: a listener
sends no request that would re-check it). ``run_server`` runs it until
SIGTERM or SIGINT and prints the start-up banner.

Where a request goes from there: ``connection`` (bytes in, replies out, in
order), ``dispatch`` (checks, handler, status line), ``commands`` (handlers),
``rules`` (what runs in the database's transaction); ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import ssl
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from protocol.codec import NEED_DATA, encode_reply
from protocol.errors import BadRequest as BadRequestError
from protocol.errors import NotFound, ServiceUnavailable, TchatatorError, TooManyRequests

from . import commands, tls  # noqa: F401  (commands: its handlers register in the table)
from .cluster import Cluster, cluster_id, server_secret
from .config import (
    MAX_SESSION_TTL,
    ConfigError,
    ConfigMissing,
    Settings,
    changed_keys,
    load_settings,
)
from .connection import ClientConnection, finish
from .limits import RateLimiter, SlidingWindow
from .proxyheader import ProxyHeaderError, is_trusted, parse_proxy_header, trusted_networks
from .push import Broker
from .requestlog import RequestLog
from .security import TokenClaims, resolve_admin_digest
from .session import IDENTITY_RECHECK, session_alive
from .sharedlimits import SharedLimits
from .storage import queries
from .storage.db import Database
from .storage.models import utc_now
from .workers import Worker

__all__ = ["App", "run_server"]

log = logging.getLogger("tchatator.server")

SSL_READ_BUFFER = 16 * 1024 + 256  # one TLS record and its overhead
# How long a refused connection may take to send the request we refuse.
REFUSAL_WAIT = 5.0
# Connections beyond the limit by this factor are closed without a word.
HARD_CONNECTION_FACTOR = 1.1
# Refusals in progress from one address beyond which we close at once.
MAX_REFUSALS_PER_ADDRESS = 8
# How long a closed connection waits for the peer's TLS close_notify. Its
# socket is no longer counted then (App.release), so keep it short.
SSL_SHUTDOWN_TIMEOUT = 5.0
# On stop, past the shutdown grace: how long connections get to finish what is
# in flight and refuse (503) the rest before they are cut off.
REFUSAL_GRACE = 2.0
HOUSEKEEPING_INTERVAL = 3600.0
# What the TLS handshake gets at least, whatever its PROXY header took.
MIN_HANDSHAKE_TIMEOUT = 0.5


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


class App:
    """Everything one running server shares between its connections."""

    def __init__(
        self, config_path: Path, settings: Settings, *, worker: Worker | None = None
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        # One of the processes of ``serve --workers N`` (server.workers), or None.
        self.worker = worker
        _private_folder(settings.data_dir)
        self.db = Database(settings.database_url)
        if not self.db.is_sqlite:
            self.db.migrate()  # the server secret is kept in the database
        self.secret = server_secret(settings, self.db)
        self.admin_digest, self.generated_admin_key = resolve_admin_digest(settings, self.secret)
        # The generated CA (certs_dir) unless the operator gave a certificate
        # from elsewhere (tls_cert_file): then nothing is generated.
        self.certificates: tls.CertificatePaths | None = None
        self.external_certificate: tls.ExternalCertificate | None = None
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            self.external_certificate = tls.load_external_certificate(
                settings.tls_cert_file, settings.tls_key_file
            )
            self.ca_pem = self.external_certificate.top_pem
            self.ca_fingerprint = self.external_certificate.top_fingerprint
            self.ssl_context = tls.server_ssl_context(
                self.external_certificate, settings.tls_min_version
            )
        else:
            self.certificates = tls.ensure_certificates(settings.certs_dir, settings.server_names)
            self.ca_pem = tls.ca_pem_text(self.certificates)
            self.ca_fingerprint = self.certificates.ca_fingerprint
            self.ssl_context = tls.server_ssl_context(self.certificates, settings.tls_min_version)
        self.limiter = RateLimiter(settings.max_requests_per_minute, settings.max_requests_per_hour)
        self.failed_logins = SlidingWindow(60.0, settings.max_failed_logins_per_minute)
        self.request_log = RequestLog(
            settings.log_file if worker is None else worker.log_file(settings.log_file),
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )
        self.broker = Broker()
        # With redis_url: the other instances (push, /sync, /logs; docs/scaling.md).
        self.cluster: Cluster | None = None
        self.shared_limits: SharedLimits | None = None  # counted in Redis
        self.connections: set[ClientConnection] = set()
        # Every socket from its TCP accept to its close (in the TLS handshake,
        # served or being refused): what max_connections* limit.
        self.sockets = 0
        self.sockets_per_address: Counter[str] = Counter()
        # proxy_protocol_from: connections from these start with a PROXY header.
        self.proxy_networks = trusted_networks(settings.proxy_protocol_from)
        self._awaiting_header: set[_ProxyHeaderWait] = set()
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
            self.settings.port if self.worker is None else self.worker.port,
            backlog=self.settings.backlog,
            reuse_port=self.worker is not None,  # the workers share the port
        )
        self.port = self.server.sockets[0].getsockname()[1]
        if self.settings.redis_url:
            name = self.settings.instance_name or f"{socket.gethostname()}:{self.port}"
            if self.worker is not None:
                name += f"/{self.worker.index}"
            cluster = await asyncio.to_thread(cluster_id, self.db)
            self.cluster = Cluster(self, self.settings.redis_url, name, cluster)
            self.broker.forward = self.cluster.forward_push
            self.request_log.forward = self.cluster.forward_log
            await self.cluster.start()
            self.shared_limits = SharedLimits(
                self, self.cluster.redis, self.cluster.namespace, self.cluster.outage
            )
            self.shared_limits.start()
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
            (listener, listener.session.identity, listener.session.claims)
            for listener in self.broker.all_listeners()
            if isinstance(listener, ClientConnection)
            and listener.session.identity is not None
            and listener.session.claims is not None
        ]
        if not sessions:
            return 0
        user_ids = {identity.id for _, identity, _ in sessions if identity.role != "admin"}
        nonces = {claims.nonce_hex for _, _, claims in sessions}
        digests, revoked = await self.db.read(queries.sessions_state, user_ids, nonces)
        checked_at = time.monotonic()
        ended = 0
        for listener, identity, claims in sessions:
            if listener.session.claims is not claims:
                continue  # logged in again or out meanwhile: not this session any more
            if session_alive(
                identity,
                claims,
                digests.get(identity.id),
                claims.nonce_hex in revoked,
                session_ttl=self.settings.session_ttl,
                admin_digest=self.admin_digest,
            ):
                listener.session.validated_at = checked_at
            else:
                listener.end_session()
                ended += 1
        return ended

    def end_listeners_of(self, claims: TokenClaims) -> None:
        """``/deconnexion``: this session's listeners on this server end now, not at
        the next sweep (which finds those on other servers)."""
        for listener in self.broker.listeners_of(claims.user_id):
            if isinstance(listener, ClientConnection) and listener.session.claims == claims:
                listener.end_session()

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
        for waiting in list(self._awaiting_header):
            waiting.transport.abort()
        # Every request already read is answered: run within the grace, then
        # refused with a 503 (what is in flight still finishes); only a
        # connection still stuck after REFUSAL_GRACE (a peer that does not
        # read its answers) is cut off.
        serving = {c.task: c for c in list(self.connections) if c.task is not None}
        for connection in serving.values():
            connection.stop()
        if serving:
            _, late = await asyncio.wait(serving, timeout=self.settings.shutdown_grace)
            for task in late:
                serving[task].refuse_rest()
            if late:
                _, late = await asyncio.wait(late, timeout=REFUSAL_GRACE)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=2)
        self.request_log.flush()
        if self.shared_limits is not None:
            await self.shared_limits.stop()
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
        if self._reload_certificate():
            live.append("tls_cert_file")
        if "admin_api_key" in live:
            digest, generated = resolve_admin_digest(new, self.secret)
            if generated:
                print(f"New admin key (shown once): {generated}", flush=True)
            self.admin_digest = digest
        self.settings = new
        self.proxy_networks = trusted_networks(new.proxy_protocol_from)  # checked by load_settings
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

    async def check_rate(self, key: tuple[str, object]) -> float:
        """0 and the request is counted, or the seconds to wait (not counted);
        in Redis with ``redis_url`` (``sharedlimits``), else in memory."""
        if self.shared_limits is None:
            return self.limiter.check(key)
        return await self.shared_limits.check(key)

    async def reserve_login_attempt(self, peer: str) -> tuple[float, Any]:
        """Count a ``/connexion`` attempt from ``peer`` before its key is tried:
        (0, the attempt), or (seconds to wait, None) past
        ``max_failed_logins_per_minute`` (counted across instances with Redis)."""
        if self.shared_limits is not None:
            return await self.shared_limits.reserve_login_attempt(peer)
        wait = self.failed_logins.wait_time(peer)
        if wait > 0:
            return wait, None
        return 0.0, self.failed_logins.record(peer)

    async def take_back_login_attempt(self, peer: str, attempt: Any) -> None:
        """The attempt succeeded: it does not count as a failure."""
        if isinstance(attempt, float):
            self.failed_logins.discard(peer, attempt)
        elif self.shared_limits is not None:
            await self.shared_limits.take_back(attempt)

    def _reload_certificate(self) -> bool:
        """A renewed ``tls_cert_file`` (same paths) goes into the live context.

        True when the certificate changed. New handshakes get it; open
        connections keep theirs. Raises BadRequestError (nothing changes) when
        the renewed files are refused.
        """
        current = self.external_certificate
        if current is None:
            return False
        try:
            renewed = tls.reload_external_certificate(
                self.ssl_context, current.cert_file, current.key_file
            )
        except tls.CertificateError as error:
            raise BadRequestError(f"certificate refused, the current one stays: {error}") from None
        self.external_certificate = renewed
        self.ca_pem, self.ca_fingerprint = renewed.top_pem, renewed.top_fingerprint
        if renewed.fingerprint != current.fingerprint:
            log.warning("TLS certificate reloaded: %s until %s", renewed.subject, renewed.not_after)
            return True
        return False

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

        From a balancer of ``proxy_protocol_from``, the address to count
        under is the client's, which its PROXY header names: until the header
        is read (``_ProxyHeaderWait``) the socket counts in ``sockets`` only.
        """
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        if self.proxy_networks and is_trusted(peer, self.proxy_networks):
            if (
                self._stopping
                or self.sockets >= self.settings.max_connections * HARD_CONNECTION_FACTOR
            ):
                transport.abort()
                return
            self.sockets += 1
            waiting = _ProxyHeaderWait(self, transport, peer)
            self._awaiting_header.add(waiting)
            transport.set_protocol(waiting)  # before the loop reads from the socket
            return
        self._count(transport, peer, time.monotonic(), self.settings.handshake_timeout)

    def proxied(self, waiting: _ProxyHeaderWait, client: str | None, early: bytes) -> None:
        """A trusted balancer's connection has sent its PROXY header: count it
        under the client's address (None: a ``LOCAL`` header, e.g. a health
        check, counts under the balancer's), then the TLS handshake, which
        starts with ``early`` (what came with the header)."""
        self._awaiting_header.discard(waiting)
        self.sockets -= 1  # counted again, with its address, by _count
        # handshake_timeout counts from the accept, the header's wait included.
        left = self.settings.handshake_timeout - (time.monotonic() - waiting.accepted_at)
        self._count(
            waiting.transport,
            client or waiting.balancer,
            waiting.accepted_at,
            max(left, MIN_HANDSHAKE_TIMEOUT),
            early,
        )

    def header_refused(self, waiting: _ProxyHeaderWait, reason: str) -> None:
        """A trusted balancer's connection without a valid PROXY header: closed,
        and said (a balancer that sends none is misconfigured)."""
        log.warning(
            "closing a connection from %s (proxy_protocol_from): %s", waiting.balancer, reason
        )
        waiting.transport.abort()

    def header_wait_over(self, waiting: _ProxyHeaderWait) -> None:
        """A connection that was waiting for its PROXY header is closed."""
        if waiting in self._awaiting_header:
            self._awaiting_header.discard(waiting)
            self.sockets -= 1

    def _count(
        self,
        transport: asyncio.Transport,
        peer: str,
        accepted_at: float,
        handshake_timeout: float,
        early: bytes = b"",
    ) -> None:
        """Count a socket under ``peer`` and start its TLS handshake (see ``accept``)."""
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
        handshake = self._handshake(
            transport, peer, over_address_limit, accepted_at, handshake_timeout
        )
        try:
            suspended_on = handshake.send(None)
        except StopIteration:
            return
        if early:
            # Bytes read with the PROXY header (the start of the ClientHello):
            # the TLS layer's first input. start_tls has scheduled its
            # connection_made and resume_reading; this runs after them, and
            # before the loop reads the socket again, so the order holds.
            asyncio.get_running_loop().call_soon(_feed, transport, early)
        task = asyncio.get_running_loop().create_task(finish(handshake, suspended_on))
        self._handshakes.add(task)  # a task nobody holds may be collected
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(
        self,
        transport: asyncio.Transport,
        peer: str,
        over_address_limit: bool,
        accepted_at: float,
        handshake_timeout: float,
    ) -> None:
        early = _EarlyEvents()
        try:
            tls_transport = await asyncio.get_running_loop().start_tls(
                transport,
                early,
                self.ssl_context,
                server_side=True,
                ssl_handshake_timeout=handshake_timeout,
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
        # The address counted (from a PROXY header: the client's, where the
        # transport's peername is the balancer's) is the one every limit and
        # log entry uses. Set before any request is read (hand_over, or the
        # connection's task, which has not run yet).
        connection.peer = connection.session.peer = peer
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


class AcceptedSocket(asyncio.Protocol):
    """A TCP connection as accepted, before TLS: handed to ``App.accept``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.app.accept(cast(asyncio.Transport, transport))  # a stream server's transport


class _ProxyHeaderWait(asyncio.Protocol):
    """A trusted balancer's connection, from its accept to the end of its PROXY
    header (``proxyheader``): the socket's protocol meanwhile, then the TLS
    layer's (``App.proxied``). It holds at most one header's bytes, for at most
    ``handshake_timeout`` from the accept; anything but a valid header closes
    the connection (``App.header_refused``)."""

    def __init__(self, app: App, transport: asyncio.Transport, balancer: str) -> None:
        self.app = app
        self.transport = transport
        self.balancer = balancer
        self.accepted_at = time.monotonic()
        self.buffer = b""
        self.done = False
        self.timer = asyncio.get_running_loop().call_later(
            app.settings.handshake_timeout, self._refuse, "no PROXY header in time"
        )

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.buffer += data
        try:
            header = parse_proxy_header(self.buffer)
        except ProxyHeaderError as error:
            self._refuse(f"invalid PROXY header: {error}")
            return
        if header is None:
            return  # the parser bounds what it waits for
        self.done = True
        self.timer.cancel()
        client = header.source[0] if header.source is not None else None
        self.app.proxied(self, client, self.buffer[header.length :])

    def eof_received(self) -> bool:
        self._refuse("closed before its PROXY header")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        if not self.done:
            self.done = True
            self.app.header_wait_over(self)

    def _refuse(self, reason: str) -> None:
        if not self.done:
            self.done = True
            self.timer.cancel()
            self.app.header_wait_over(self)
            self.app.header_refused(self, reason)


def _feed(transport: asyncio.BaseTransport, data: bytes) -> None:
    """Give ``data`` to the transport's protocol as if it had just been read
    (the TLS layer of ``start_tls`` is a buffered protocol, in asyncio and uvloop)."""
    if transport.is_closing():
        return
    protocol = transport.get_protocol()
    if not hasattr(protocol, "get_buffer"):
        cast(asyncio.Protocol, protocol).data_received(data)
        return
    buffered = cast(asyncio.BufferedProtocol, protocol)
    view = memoryview(data)
    while view:
        buffer = memoryview(buffered.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        buffered.buffer_updated(size)
        view = view[size:]


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


async def run_server(
    config_path: Path, settings: Settings, *, ready: Any = None, worker: Worker | None = None
) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    app = App(config_path, settings, worker=worker)
    await app.start()
    _announce(app)
    if ready is not None:
        ready(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        # systemctl reload (ExecReload) and kill -HUP: what the admin's /sync does.
        loop.add_signal_handler(signal.SIGHUP, _reload_on_hangup, app)
    await stop.wait()
    print("Stopping: finishing requests in flight...", flush=True)
    await app.stop()
    print("Stopped.", flush=True)
    return 0


def _reload_on_hangup(app: App) -> None:
    try:
        live, restart = app.reload_settings()
    except TchatatorError as error:
        print(f"SIGHUP: reload refused: {error}", flush=True)
        return
    print(
        f"SIGHUP: reloaded {', '.join(live) or 'nothing changed'}"
        + (f"; restart needed for {', '.join(restart)}" if restart else ""),
        flush=True,
    )


def _announce(app: App) -> None:
    settings = app.settings
    lines = [
        f"Tchatator listening on {settings.host}:{app.port} (TLS {settings.tls_min_version}+)",
    ]
    external = app.external_certificate
    if external is not None:
        lines += [
            f"Certificate: {external.cert_file} ({external.subject}, "
            f"valid until {external.not_after:%Y-%m-%d})",
            f"Database: {_redact(settings.database_url)}",
        ]
    else:
        assert app.certificates is not None
        lines += [
            f"CA certificate: {app.certificates.ca_cert}",
            f"CA fingerprint (SHA-256): {app.ca_fingerprint}",
            f"CA fingerprint (hex): {app.ca_fingerprint.replace(':', '').lower()}",
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
    # One write, end of line included (print writes its "end" separately when
    # unbuffered): whoever reads the output sees the banner whole.
    print("\n".join(lines) + "\n", end="", flush=True)


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
