"""ChatService: the one object that talks to the server.

Strategy (as qasync's ``examples/qml_httpx/service.py``): a ``QObject`` owns the
``TchatatorClient``; widgets call its async slots and listen to its signals,
and never see the client. Each slot runs as a task the service keeps a
reference to, catches every failure and turns it into an ``error`` signal
carrying a translated ``ServiceError``, so the UI never blocks and never
crashes on the network.

Live updates use our ``/push on`` extension: the server sends
``* message|modifie|supprime|lu <json>`` lines, turned here into signals. With
push on, an app left open all day makes requests only when its user acts, plus
one small heartbeat every ``HEARTBEAT_INTERVAL`` to notice a dead connection.

When the connection drops, the service says so (``state_changed``), then
reconnects with exponential backoff and jitter, resuming the session with its
token (Pactocole section 4; the key, still in memory, is the fallback when the
token has expired). Nothing is queued while offline: a request made then fails
at once with an "offline" error, and the widget keeps what the user typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from protocol.client import TchatatorClient, fetch_ca
from protocol.codec import Push
from protocol.errors import ConnectionLost, StatusError
from protocol.models import Message, User, parse_time

from .errors import Action, ServiceError, from_exception, offline_message
from .trust import CertificateOffer, ServerAddress, TrustError, check_offer, ssl_context_for

__all__ = [
    "CertificateChanged",
    "ChatService",
    "ConnectionState",
    "async_slot",
    "backoff_delay",
]

log = logging.getLogger("tchatator.desktop")

T = TypeVar("T")

REQUEST_TIMEOUT = 20.0
RECONNECT_BASE_DELAY = 1.0
RECONNECT_MAX_DELAY = 60.0
# One cheap request this often finds a connection that died silently (sleep,
# NAT timeout): 12 an hour, about 1 % of the default hourly budget.
HEARTBEAT_INTERVAL = 300.0
DEFAULT_LOG_COUNT = 200


class ConnectionState(enum.Enum):
    OFFLINE = "offline"
    CONNECTING = "connecting"
    ONLINE = "online"


class CertificateChanged(TrustError):
    """The server presented a certificate the trusted CA did not issue."""


def backoff_delay(
    attempt: int,
    base: float = RECONNECT_BASE_DELAY,
    cap: float = RECONNECT_MAX_DELAY,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    Many clients cut off by the same server restart must not all come back in
    the same second.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def async_slot(*types: type) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], Any]:
    """Like ``qasync.asyncSlot``, but the service keeps a reference to each task."""

    def decorate(function: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
        @Slot(*types)
        @functools.wraps(function)
        def wrapper(self: ChatService, *args: Any) -> asyncio.Task[Any]:
            return self._spawn(function(self, *args))

        return wrapper

    return decorate


_FAILED: Any = object()


def _is_certificate_failure(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__
    return False


class ChatService(QObject):
    """Owns the connection; async slots in, signals out."""

    state_changed = Signal(object)  # ConnectionState
    reconnect_scheduled = Signal(float)  # seconds before the next attempt
    reconnected = Signal()
    logged_in = Signal(object)  # User
    error = Signal(object)  # ServiceError
    rate_limited = Signal(int)  # seconds before retrying
    session_expired = Signal()

    conversations_loaded = Signal(object, int, int)  # [ConversationSummary], page, pages
    history_loaded = Signal(int, int, object)  # partner, requested page, Page
    message_sent = Signal(object)  # Message (mine, this connection)
    message_received = Signal(object)  # Message (push: to me, or mine from elsewhere)
    message_changed = Signal(object)  # Message
    message_deleted = Signal(int, object)  # message id, deleted_at
    messages_read = Signal(object, object)  # [ids], read_at
    read_elsewhere = Signal(int, int)  # partner, how many of their messages this user read
    read_marked = Signal(int, object)  # partner, ReadMark (what stays unread)
    unread_total_loaded = Signal(int)
    background_failed = Signal(object)  # ServiceError of a request nobody asked for
    info_loaded = Signal(object)  # Message
    restriction_changed = Signal(int, str, object)  # client id, action, until or None
    restrictions_loaded = Signal(object)  # [Restriction]
    directory_loaded = Signal(object, int, int)  # [User], page, pages
    logs_loaded = Signal(object)  # [LogEntry]
    config_reloaded = Signal(object)  # {"reloaded": [...], "restart_required": [...]}

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT,
        reconnect_base: float = RECONNECT_BASE_DELAY,
        reconnect_max: float = RECONNECT_MAX_DELAY,
        heartbeat: float = HEARTBEAT_INTERVAL,
    ) -> None:
        super().__init__(parent)
        self.timeout = timeout
        self.reconnect_base = reconnect_base
        self.reconnect_max = reconnect_max
        self.heartbeat = heartbeat
        self._client: TchatatorClient | None = None
        self._address: ServerAddress | None = None
        self._ca_pem = ""
        self._key = ""
        self._token = ""
        self._user: User | None = None
        self._limits: dict[str, Any] = {}
        self._state = ConnectionState.OFFLINE
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self.last_error: ServiceError | None = None

    # --- what the widgets may read ------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def online(self) -> bool:
        return self._state is ConnectionState.ONLINE

    @property
    def user(self) -> User | None:
        return self._user

    @property
    def address(self) -> ServerAddress | None:
        return self._address

    @property
    def limits(self) -> dict[str, Any]:
        return dict(self._limits)

    @property
    def max_message_size(self) -> int:
        return int(self._limits.get("max_message_size", 1000))

    @property
    def max_messages(self) -> int:
        return int(self._limits.get("max_messages", 20))

    # --- tasks ----------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("desktop task failed", exc_info=task.exception())

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state)

    def _report(self, report: ServiceError) -> None:
        self.last_error = report
        self.error.emit(report)
        if report.code == 429 and report.retry_after:
            self.rate_limited.emit(report.retry_after)

    # --- trust and login ------------------------------------------------------------

    async def fetch_certificate(self, address: ServerAddress) -> CertificateOffer:
        """Trust on first use, step one: what the server says its CA is.

        No key is sent on this unverified connection. Raises ``ConnectionLost``
        or ``TrustError``.
        """
        pem, announced, leaf = await fetch_ca(address.host, address.port, timeout=self.timeout)
        return check_offer(address, pem, announced, leaf)

    async def open_session(self, address: ServerAddress, ca_pem: str, key: str) -> User:
        """Connect (verifying the certificate against ``ca_pem``) and log in.

        Raises ``TrustError`` (unusable CA), ``CertificateChanged`` (the server's
        certificate is not from that CA), ``ConnectionLost``, ``StatusError``.
        """
        await self._drop_client()
        self._closing = False
        context = ssl_context_for(ca_pem)
        await self._open_client(address, context, key)
        self._address, self._ca_pem, self._key = address, ca_pem, key
        self._set_state(ConnectionState.ONLINE)
        assert self._user is not None
        self.logged_in.emit(self._user)
        self._start_heartbeat()
        return self._user

    async def _open_client(
        self,
        address: ServerAddress,
        context: ssl.SSLContext,
        credential: str,
        fallback_key: str = "",
    ) -> None:
        client = TchatatorClient(
            address.host, address.port, ssl=context, timeout=self.timeout, on_push=self._on_push
        )
        client.on_disconnect = functools.partial(self._on_disconnect, client)
        try:
            try:
                await client.connect()
            except ConnectionLost as error:
                if _is_certificate_failure(error):
                    raise CertificateChanged(str(error)) from error
                raise
            try:
                session = await client.login(credential)
            except StatusError as error:
                if error.code != 401 or not fallback_key:
                    raise
                session = await client.login(fallback_key)  # the token expired
            limits, _ = await asyncio.gather(client.limits(), client.set_push(True))
        except BaseException:
            await client.close()
            raise
        old, self._client = self._client, client
        if old is not None:
            await old.close()
        self._token = session.token
        self._user = session.user
        self._limits = limits

    async def _drop_client(self) -> None:
        for task in (self._reconnect_task, self._heartbeat_task):
            if task is not None:
                task.cancel()
        self._reconnect_task = self._heartbeat_task = None
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def close(self) -> None:
        """Close the connection and stop reconnecting (window closed)."""
        self._closing = True
        await self._drop_client()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        self._set_state(ConnectionState.OFFLINE)

    async def logout(self) -> None:
        """End the session for good (its token stops working), then close."""
        client = self._client
        if client is not None and self.online:
            with contextlib.suppress(StatusError, ConnectionLost, TimeoutError):
                await asyncio.wait_for(client.logout(), 5)
        await self.close()
        self._user = None
        self._token = self._key = ""

    # --- losing and finding the connection ----------------------------------------------

    def _on_disconnect(self, client: TchatatorClient, error: BaseException | None) -> None:
        if client is not self._client or self._closing:
            return
        log.info("connection lost: %s", error)
        self._client = None
        self._set_state(ConnectionState.OFFLINE)
        self._start_reconnect()

    def _start_reconnect(self) -> None:
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = self._spawn(self._reconnect_loop())

    @Slot()
    def retry_now(self) -> None:
        """Skip the wait before the next reconnection attempt."""
        if self._wake is not None:
            self._wake.set()
        elif self._state is ConnectionState.OFFLINE and self._address is not None:
            self._start_reconnect()

    async def _reconnect_loop(self) -> None:
        assert self._address is not None
        attempt = 0
        floor = 0.0
        reported_certificate = False
        self._wake = asyncio.Event()
        try:
            while not self._closing:
                delay = max(floor, backoff_delay(attempt, self.reconnect_base, self.reconnect_max))
                floor = 0.0
                self.reconnect_scheduled.emit(delay)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                if self._closing:
                    return
                self._set_state(ConnectionState.CONNECTING)
                try:
                    await self._open_client(
                        self._address,
                        ssl_context_for(self._ca_pem),
                        self._token or self._key,
                        fallback_key=self._key,
                    )
                except StatusError as error:
                    if error.code == 401:
                        self._set_state(ConnectionState.OFFLINE)
                        self._report(from_exception(error, Action.LOGIN))
                        self.session_expired.emit()
                        return
                    if error.code == 429 and error.retry_after:
                        floor = float(error.retry_after)
                        self.rate_limited.emit(error.retry_after)
                except CertificateChanged as error:
                    if not reported_certificate:
                        reported_certificate = True
                        self._report(
                            ServiceError(Action.TRUST, _certificate_changed_text(), str(error))
                        )
                except (ConnectionLost, OSError, TrustError) as error:
                    log.info("reconnection attempt %d failed: %s", attempt + 1, error)
                else:
                    self._set_state(ConnectionState.ONLINE)
                    self.reconnected.emit()
                    self._start_heartbeat()
                    return
                self._set_state(ConnectionState.OFFLINE)
                attempt += 1
        finally:
            self._wake = None

    def _start_heartbeat(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        if self.heartbeat > 0:
            self._heartbeat_task = self._spawn(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.heartbeat)
            client = self._client
            if client is None:
                return
            # A dead connection times out here and reports itself lost.
            with contextlib.suppress(StatusError, ConnectionLost):
                await client.limits()

    # --- push ---------------------------------------------------------------------------

    def _on_push(self, push: Push) -> None:
        try:
            if push.event == "message":
                self.message_received.emit(Message.from_json(push.data))
            elif push.event == "modifie":
                self.message_changed.emit(Message.from_json(push.data))
            elif push.event == "supprime":
                message = Message.from_json(push.data)
                self.message_deleted.emit(message.id, message.deleted_at or _now())
            elif push.event == "lu":
                ids = [int(item) for item in push.data["ids"]]
                self.messages_read.emit(ids, parse_time(push.data.get("read_at")) or _now())
                me = self._user
                sender = push.data.get("sender")
                if me is not None and push.data.get("reader") == me.id and sender is not None:
                    # Read in another of this user's sessions (another computer).
                    self.read_elsewhere.emit(int(sender), len(ids))
            elif push.event == "deconnexion":
                # The server ended this session (key rotated, user removed, token
                # revoked, session_ttl passed) and closes the connection: the
                # reconnection logs in with the key, or asks for it if refused.
                log.info("session ended by the server: %s", push.data.get("error"))
                self._token = ""
            else:
                log.debug("ignoring push event %r", push.event)
        except (KeyError, TypeError, ValueError) as error:
            log.warning("malformed push %r: %s", push.event, error)

    # --- requests -----------------------------------------------------------------------

    def _failed(self, report: ServiceError, quiet: bool) -> None:
        if quiet:
            log.info("background %s failed: %s", report.action.value, report.message)
            self.background_failed.emit(report)
        else:
            self._report(report)

    async def _call(
        self,
        action: Action,
        operation: Callable[[TchatatorClient], Awaitable[T]],
        target: int | None = None,
        quiet: bool = False,
    ) -> T:
        """Run ``operation``; on failure report it (``quiet``: only to the
        ``background_failed`` signal: nothing a person asked for failed)."""
        client = self._client
        if client is None or not self.online:
            report = ServiceError(action, offline_message(action), "", None, None, target)
            self._failed(report, quiet)
            return _FAILED
        try:
            return await operation(client)
        except (StatusError, ConnectionLost) as error:
            report = from_exception(error, action, target)
            self._failed(report, quiet)
            return _FAILED

    @async_slot(int)
    async def load_conversations(self, page: int = 0) -> None:
        result = await self._call(Action.CONVERSATIONS, lambda c: c.conversations(page))
        if result is not _FAILED:
            items, pages = result
            self.conversations_loaded.emit(items, page, pages)

    @async_slot(int, int)
    async def load_history(self, partner: int, page: int = 0) -> None:
        """A page of the conversation with ``partner``, marking nothing read (``/apercu``)."""
        result = await self._call(Action.HISTORY, lambda c: c.peek(partner, page), partner)
        if result is not _FAILED:
            self.history_loaded.emit(partner, page, result)

    @async_slot(int, int)
    async def mark_read(self, partner: int, up_to: int) -> None:
        """What ``partner`` sent me up to message ``up_to`` was shown (``/lu``)."""
        result = await self._call(
            Action.READ, lambda c: c.mark_read(partner, up_to), partner, quiet=True
        )
        if result is not _FAILED:
            if result.ids:
                self.messages_read.emit(list(result.ids), result.read_at or _now())
            self.read_marked.emit(partner, result)

    @async_slot()
    async def load_unread_total(self) -> None:
        """The user's unread total, all conversations (``/liste``'s ``total``)."""
        result = await self._call(Action.CONVERSATIONS, lambda c: c.unread(0))
        if result is not _FAILED:
            self.unread_total_loaded.emit(result.total)

    @async_slot(int, str)
    async def send_message(self, partner: int, text: str) -> None:
        message_id = await self._call(Action.SEND, lambda c: c.send_message(partner, text), partner)
        if message_id is not _FAILED and self._user is not None:
            # The reply holds only the id: the rest is known here, and a /info
            # per message would spend the user's request budget.
            self.message_sent.emit(
                Message(message_id, self._user.id, partner, text, _now(), None, None, None)
            )

    @async_slot(int, str)
    async def edit_message(self, message_id: int, text: str) -> None:
        result = await self._call(Action.EDIT, lambda c: c.edit(message_id, text), message_id)
        if result is not _FAILED:
            self.message_changed.emit(result)

    @async_slot(int)
    async def delete_message(self, message_id: int) -> None:
        result = await self._call(Action.DELETE, lambda c: c.delete(message_id), message_id)
        if result is not _FAILED:
            self.message_deleted.emit(message_id, _now())

    @async_slot(int)
    async def load_info(self, message_id: int) -> None:
        result = await self._call(Action.INFO, lambda c: c.info(message_id), message_id)
        if result is not _FAILED:
            self.info_loaded.emit(result)

    @async_slot(int)
    async def block(self, client_id: int) -> None:
        until = await self._call(Action.BLOCK, lambda c: c.block(client_id), client_id)
        if until is not _FAILED:
            self.restriction_changed.emit(client_id, "block", parse_time(until))
            await self.load_restrictions()

    @async_slot(int)
    async def unblock(self, client_id: int) -> None:
        result = await self._call(Action.UNBLOCK, lambda c: c.unblock(client_id), client_id)
        if result is not _FAILED:
            self.restriction_changed.emit(client_id, "unblock", None)
            await self.load_restrictions()

    @async_slot(int)
    async def ban(self, client_id: int) -> None:
        result = await self._call(Action.BAN, lambda c: c.ban(client_id), client_id)
        if result is not _FAILED:
            self.restriction_changed.emit(client_id, "ban", None)
            await self.load_restrictions()

    @async_slot(int)
    async def unban(self, client_id: int) -> None:
        result = await self._call(Action.UNBAN, lambda c: c.unban(client_id), client_id)
        if result is not _FAILED:
            self.restriction_changed.emit(client_id, "unban", None)
            await self.load_restrictions()

    @async_slot()
    async def load_restrictions(self) -> None:
        result = await self._call(Action.SANCTIONS, lambda c: c.restrictions())
        if result is not _FAILED:
            self.restrictions_loaded.emit(result)

    @async_slot(int)
    async def load_directory(self, page: int = 0) -> None:
        result = await self._call(Action.DIRECTORY, lambda c: c.directory(page))
        if result is not _FAILED:
            users, pages = result
            self.directory_loaded.emit(users, page, pages)

    @async_slot(int)
    async def load_logs(self, count: int = DEFAULT_LOG_COUNT) -> None:
        result = await self._call(Action.LOGS, lambda c: c.logs(count))
        if result is not _FAILED:
            self.logs_loaded.emit(result)

    @async_slot()
    async def reload_config(self) -> None:
        result = await self._call(Action.SYNC, lambda c: c.sync())
        if result is not _FAILED:
            self.config_reloaded.emit(result)


def _now() -> datetime:
    return datetime.now(UTC)


def _certificate_changed_text() -> str:
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.translate(
        "Errors",
        "The server presented a certificate that the trusted authority did not issue: "
        "nothing was sent. If the server's certificates were regenerated, log in again "
        "and confirm its new fingerprint.",
    )
