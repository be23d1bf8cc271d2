"""Several instances behaving as one server (docs/scaling.md).

N identical instances share one PostgreSQL database (the data, the server
secret) and, with ``redis_url`` set, one Redis (what they tell each other):
live pushes, ``/sync``, the request log of ``/logs``, and the rate limits
(``server.sharedlimits``). This module holds the first two parts:

- ``server_secret``: the secret that keys every key digest and session token.
  On SQLite it stays the 0600 file of ``data_dir`` (one instance). On
  PostgreSQL it lives in the database (``shared_secrets``), set once by
  whichever instance or CLI command comes first, so an instance started with
  a fresh ``data_dir`` accepts the keys and tokens issued by the others. An
  existing ``secret.key`` (a single PostgreSQL instance upgraded) is what gets
  stored, so its users' keys keep working.
- ``Cluster``: the Redis side, used only when ``redis_url`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import orjson

from protocol.errors import TchatatorError

from . import security
from .config import Settings
from .requestlog import Entry, entry_json
from .storage import queries
from .storage.db import Database

__all__ = ["SERVER_SECRET_NAME", "Cluster", "cluster_id", "redis_namespace", "server_secret"]

log = logging.getLogger("tchatator.cluster")

SERVER_SECRET_NAME = "server"
CLUSTER_ID_NAME = "cluster"


def server_secret(settings: Settings, database: Database) -> bytes:
    """The server secret: the ``data_dir`` file on SQLite, the database's on
    PostgreSQL (migrated first: the table must exist)."""
    path = settings.data_dir / "secret.key"
    if database.is_sqlite:
        return security.load_or_create_secret(path)
    try:
        candidate = security.read_private_file(path).decode().strip()
    except FileNotFoundError:
        candidate = secrets.token_bytes(security.SECRET_BYTES).hex()
    stored = database.run_sync(queries.shared_secret, SERVER_SECRET_NAME, candidate)
    if path.exists() and stored != candidate:
        log.warning("%s is not the secret of this PostgreSQL database: using the database's", path)
    secret = bytes.fromhex(stored)
    if len(secret) < security.SECRET_BYTES:
        raise security.InsecureFileError(
            f"the database holds a server secret shorter than {security.SECRET_BYTES} bytes"
        )
    return secret


# --- the Redis side ------------------------------------------------------------------------------

# Seconds between two attempts to reach Redis again, doubling up to the second.
RECONNECT_PAUSE = (0.1, 2.0)
# How long /sync waits for the other instances' answers.
SYNC_WAIT = 5.0
# Request log entries kept in Redis for /logs (the same as each instance keeps).
LOG_KEPT = 10_000
# Outbox items (events, log bursts) sent per round trip.
MAX_PUBLISH_BATCH = 512
# Events per PUBLISH stop growing past this size (a subscriber's output buffer
# at Redis holds whole messages).
MAX_PUBLISH_BYTES = 256 * 1024
# Redis operations of the request path give up after this long (seconds).
REDIS_TIMEOUT = 2.0
# A "Redis is unreachable" line at most this often (seconds).
OUTAGE_LOG_INTERVAL = 30.0


def cluster_id(database: Database) -> str:
    """This cluster's name in Redis: random, set once in the shared database
    by whichever instance comes first (like the server secret)."""
    return database.run_sync(queries.shared_secret, CLUSTER_ID_NAME, secrets.token_hex(6))


def redis_namespace(redis_url: str, cluster: str) -> str:
    """The prefix of every key and channel: the logical database (pub/sub
    channels are shared by all the databases of one Redis) and the cluster,
    so two clusters (two PostgreSQL databases, whose user ids overlap) that
    share one Redis database by mistake never hear each other's pushes."""
    from redis.asyncio.connection import parse_url

    return f"tchatator:{parse_url(redis_url).get('db', 0)}:{cluster}:"


class Cluster:
    """What this instance tells the others, and hears from them, through Redis.

    - Push: every event this instance publishes goes out on ``<ns>push``; the
      events of the others come in and go to this instance's listeners.
      Each instance skips its own (it already delivered them), so nothing is
      pushed twice. While Redis is unreachable, events between instances are
      lost; once this instance is subscribed again, it closes its push
      listeners' connections so the apps reconnect and resync (they do on
      every reconnect), rather than leaving them silently behind.
    - ``/sync``: a request on ``<ns>control``; each instance reloads its own
      file and answers on a list of its own; the asking one waits for as
      many answers as Redis counted subscribers (``SYNC_WAIT`` at most).
    - ``/logs``: each flushed burst of the request log is appended to
      ``<ns>logs`` (capped at ``LOG_KEPT``), whose latest entries any
      instance reads; without Redis, an instance answers with its own.
    """

    def __init__(self, app: Any, redis_url: str, name: str, cluster: str) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.app = app
        self.name = name
        self.origin = secrets.token_hex(8)  # this process, even if two share a name
        self._origin_line = self.origin.encode() + b"\n"
        self.namespace = redis_namespace(redis_url, cluster)
        self.push_channel = (self.namespace + "push").encode()
        self.control_channel = (self.namespace + "control").encode()
        self.logs_key = self.namespace + "logs"
        options: dict[str, Any] = {
            "socket_connect_timeout": REDIS_TIMEOUT,
            "socket_timeout": REDIS_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),  # fail fast: the caller falls back
        }
        self.redis = redis.Redis.from_url(redis_url, **options)
        # The subscriber: no time limit on reads (it waits for events) and no
        # hidden reconnection (this class must see every gap).
        self._subscriber = redis.Redis.from_url(
            redis_url, **{**options, "socket_timeout": None, "health_check_interval": 5}
        )
        self._outbox: list[tuple[bytes, bytes]] = []
        self._wake_publisher = asyncio.Event()
        self._queued = self._sent = 0  # outbox items so far, and those handled
        self._progress = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        self._last_outage_log = -OUTAGE_LOG_INTERVAL
        self._stopping = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe (waiting up to ``REDIS_TIMEOUT``; else go on and retry
        in the background: the instance serves its own clients meanwhile)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="cluster-listen"),
            loop.create_task(self._publish(), name="cluster-publish"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), REDIS_TIMEOUT)

    async def stop(self) -> None:
        self._stopping = True
        self._flush_outbox_soon()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain_outbox(), REDIS_TIMEOUT)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in (self.redis, self._subscriber):
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _drain_outbox(self) -> None:
        """Until everything queued so far was sent (or given up on)."""
        target = self._queued
        while self._sent < target:
            self._progress.clear()
            await self._progress.wait()

    def outage(self, what: str, error: BaseException) -> None:
        """One log line per outage, not one per request."""
        now = time.monotonic()
        if now - self._last_outage_log >= OUTAGE_LOG_INTERVAL:
            self._last_outage_log = now
            log.warning("Redis unreachable (%s): %s", what, error or type(error).__name__)

    # --- publishing ------------------------------------------------------------------------------

    def forward_push(self, user_ids: set[int], line: bytes) -> None:
        """``Broker.forward``: an event this instance delivered, for the others."""
        ids = ",".join(map(str, user_ids)).encode()
        self._outbox.append((self.push_channel, ids + b"\n" + line))
        self._queued += 1
        self._flush_outbox_soon()

    def forward_log(self, entries: list[Entry]) -> None:
        """``RequestLog.forward``: a flushed burst of this instance's log."""
        name = self.name
        lines = [orjson.dumps({**entry_json(entry), "instance": name}) for entry in entries]
        self._outbox.append((b"", b"\n".join(lines)))
        self._queued += 1
        self._flush_outbox_soon()

    def _flush_outbox_soon(self) -> None:
        self._wake_publisher.set()

    async def _publish(self) -> None:
        """One task sends everything, in order, one round trip per burst."""
        while True:
            await self._wake_publisher.wait()
            self._wake_publisher.clear()
            while self._outbox:
                batch = self._outbox[:MAX_PUBLISH_BATCH]
                del self._outbox[:MAX_PUBLISH_BATCH]
                pipe = self.redis.pipeline(transaction=False)
                # All the burst's events in as few PUBLISH as their size allows
                # (each command costs both ends tens of µs of Python), all its
                # log lines in one RPUSH.
                events: list[bytes] = []
                size = 0
                logs: list[bytes] = []
                for channel, payload in batch:
                    if not channel:
                        logs.append(payload)
                        continue
                    if events and size + len(payload) > MAX_PUBLISH_BYTES:
                        pipe.publish(self.push_channel, self._origin_line + b"".join(events))
                        events, size = [], 0
                    events.append(payload)
                    size += len(payload)
                if events:
                    pipe.publish(self.push_channel, self._origin_line + b"".join(events))
                if logs:
                    pipe.rpush(self.logs_key, *b"\n".join(logs).split(b"\n"))
                    pipe.ltrim(self.logs_key, -LOG_KEPT, -1)
                try:
                    await pipe.execute()
                except Exception as error:  # lost: see the class docstring
                    self.outage("publishing", error)
                self._sent += len(batch)
                self._progress.set()

    # --- listening -------------------------------------------------------------------------------

    async def _listen(self) -> None:
        pause = RECONNECT_PAUSE[0]
        had_gap = False
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.push_channel, self.control_channel)
                if had_gap:
                    self._resync_listeners()
                self.subscribed.set()
                pause = RECONNECT_PAUSE[0]
                log.info("instance %s subscribed to Redis", self.name)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    try:
                        self._received(message["channel"], message["data"])
                    except Exception:  # one bad message must not cost a resubscription
                        log.exception("ignoring a message from Redis that is not ours")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.subscribed.clear()
                had_gap = True
                self.outage("subscribing", error)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_PAUSE[1])

    def _resync_listeners(self) -> None:
        """Events of the other instances were lost meanwhile: the apps catch
        up by reconnecting (they resync on every reconnect)."""
        listeners = self.app.broker.all_listeners()
        if listeners:
            log.warning("Redis is back: closing %d push listeners so they resync", len(listeners))
        for listener in listeners:
            listener.closing = True
            listener.transport.close()

    def _received(self, channel: bytes, data: bytes) -> None:
        if channel == self.push_channel:
            # "<origin>\n" then, per event, "<user ids>\n<push line>\n" (a push
            # line is one line: its JSON escapes newlines).
            origin, _, events = data.partition(b"\n")
            if origin == self._origin_line[:-1]:
                return  # ours: delivered here already
            lines = events.split(b"\n")
            deliver = self.app.broker.deliver
            for ids, line in zip(lines[0:-1:2], lines[1::2], strict=True):
                deliver([int(user) for user in ids.split(b",")], line + b"\n")
        elif channel == self.control_channel:
            request = orjson.loads(data)
            if request.get("origin") != self.origin and request.get("type") == "sync":
                task = asyncio.get_running_loop().create_task(self._answer_sync(request["reply"]))
                self._tasks.append(task)
                task.add_done_callback(self._tasks.remove)

    # --- /sync -----------------------------------------------------------------------------------

    async def _answer_sync(self, reply_key: str) -> None:
        try:
            live, restart = self.app.reload_settings()
            answer = {"instance": self.name, "reloaded": live, "restart_required": restart}
        except TchatatorError as error:
            answer = {"instance": self.name, "error": str(error.body().get("error"))}
        try:
            await self.redis.rpush(reply_key, orjson.dumps(answer))
            await self.redis.expire(reply_key, int(SYNC_WAIT * 4))
        except Exception as error:
            self.outage("answering /sync", error)

    async def sync(self, own: dict[str, Any]) -> list[dict[str, Any]]:
        """Ask the other instances to reload; their answers (``own`` first).

        An instance that does not answer in time is counted in a last entry
        ``{"missing": n}``; without Redis, ``{"error": ...}`` says so.
        """
        answers: list[dict[str, Any]] = [{"instance": self.name, **own}]
        reply_key = f"{self.namespace}sync:{secrets.token_hex(8)}"
        request = {"type": "sync", "origin": self.origin, "reply": reply_key}
        try:
            # Every subscribed instance counts, this one included.
            expected = await self.redis.publish(self.control_channel, orjson.dumps(request)) - 1
            deadline = time.monotonic() + SYNC_WAIT
            while len(answers) - 1 < expected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                popped = await self.redis.blpop([reply_key], timeout=min(remaining, 1.0))
                if popped is not None:
                    answers.append(orjson.loads(popped[1]))
            missing = expected - (len(answers) - 1)
            if missing > 0:
                answers.append({"missing": missing, "error": "no answer in time"})
            await self.redis.delete(reply_key)
        except Exception as error:
            self.outage("/sync", error)
            answers.append({"error": "Redis unreachable: the other instances were not asked"})
        return answers

    # --- /logs -----------------------------------------------------------------------------------

    async def latest_logs(self, count: int) -> list[dict[str, Any]] | None:
        """The newest ``count`` entries of every instance, oldest first; None
        when Redis cannot be read (the caller answers with its own)."""
        self._flush_outbox_soon()  # this instance's latest burst first
        try:
            await asyncio.wait_for(self._drain_outbox(), REDIS_TIMEOUT)
            # Bursts of different instances interleave a little out of time
            # order: read a margin more, sort, and keep the newest.
            raw = await self.redis.lrange(self.logs_key, -min(LOG_KEPT, count + 1000), -1)
        except Exception as error:
            self.outage("/logs", error)
            return None
        entries = [orjson.loads(line) for line in raw]
        entries.sort(key=lambda entry: entry["time"])
        return entries[-count:]
