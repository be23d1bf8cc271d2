"""``python -m bench.scale``: N instances on PostgreSQL and Redis (issue 14).

Two measurements, on a scratch PostgreSQL database and Redis logical
database 15 (both emptied at the end):

1. **Cross-instance push latency.** ``--listeners`` pros listen (``/push on``)
   on instance B; clients on instance A send them ``/message`` at ``--rate``
   per second. For every message: *delivery* = push arrival - the sender's
   200 (what Redis and the second instance add), *end to end* = push arrival
   - send. The same load with listeners and senders on one instance is the
   reference.
2. **Throughput of 1 vs 2 workers** (``serve --workers N``, one port,
   SO_REUSEPORT): ``/message`` and ``/conversation`` from ``--connections``
   pipelining connections; requests per second, and the server's CPU time
   (every worker process, from ``/proc``) per request.

Honest labelling: the load generator runs on the same machine as the server
(a machine of two cores, shared with whatever else runs): with 2 workers the
server and the generator compete for the same two cores, so the figure says
what one two-core box gives, not what a second core would give alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key-not-a-secret-0123456789"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/15"
_LISTENING = re.compile(r"listening on (\S+):(\d+)")
_TAG = re.compile(rb"dlv(\d+)")


# --- set-up -----------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database() -> Any:
    import psycopg

    name = f"tchatator_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def write_config(folder: Path, **settings: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    values = {
        "port": 0,
        "admin_api_key": ADMIN_KEY,
        "max_requests_per_minute": 10_000_000,
        "max_requests_per_hour": 100_000_000,
        "max_failed_logins_per_minute": 1_000_000,
        "max_connections_per_address": 100_000,
        "max_connections": 100_000,
        "backlog": 4096,
        **settings,
    }
    path = folder / ".tchatator"
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    return path


def create_users(config: Path, role: str, count: int) -> list[tuple[int, str]]:
    """(id, key) of ``count`` new users, in one transaction."""
    from server import security
    from server.cluster import server_secret
    from server.config import load_settings
    from server.storage import queries
    from server.storage.db import Database

    settings, _ = load_settings(config)
    database = Database(settings.database_url, readers=1)
    database.migrate()
    secret = server_secret(settings, database)

    def create(connection: Any) -> list[tuple[int, str]]:
        made = []
        for number in range(count):
            key = security.new_api_key()
            user_id = queries.create_user(
                connection,
                role=role,
                name=f"{role} {number}",
                key_digest=security.digest_key(secret, key),
            )
            made.append((user_id, key))
        return made

    try:
        return database.run_sync(create)
    finally:
        database.close()


class Server:
    def __init__(self, config: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "--config", str(config), "serve", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = 0
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(2))
                break
        if not self.port:
            raise RuntimeError("the server did not start")
        self.ca = config.parent / "certs" / "ca.pem"

    def pids(self) -> list[int]:
        """The server and every process under it (workers, writer processes)."""
        found = [self.process.pid]
        for pid in found:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                found.extend(int(child) for child in children)
        return found

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- connections ------------------------------------------------------------------------------


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: Server, key: str) -> Conn:
        context = ssl.create_default_context(cafile=str(server.ca))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=context, server_hostname="localhost", limit=1 << 20
        )
        conn = cls(reader, writer)
        code = await conn.ask(f"/connexion {key}")
        assert code == "200", code
        return conn

    async def reply(self) -> str:
        """The status code of the next reply (push lines are skipped)."""
        while True:
            status = await self.reader.readline()
            if not status:
                raise ConnectionError("closed")
            if status.startswith(b"*"):
                continue
            while (await self.reader.readline()).strip():
                pass
            return status.split(b"/", 1)[0].decode()

    async def ask(self, line: str) -> str:
        self.writer.write(line.encode() + b"\n")
        return await self.reply()

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- 1. push latency --------------------------------------------------------------------------


async def push_latency(
    listen_on: Server,
    send_from: Server,
    pros: list[tuple[int, str]],
    clients: list[tuple[int, str]],
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    arrivals: dict[int, float] = {}

    async def listen(conn: Conn) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                line = await conn.reader.readline()
                if not line:
                    return
                match = _TAG.search(line)
                if line.startswith(b"*") and match:
                    arrivals.setdefault(int(match.group(1)), time.monotonic())

    listeners = []
    for index in range(0, len(pros), 50):
        listeners += await asyncio.gather(*(Conn.open(listen_on, k) for _, k in pros[index:][:50]))
    for conn in listeners:
        assert await conn.ask("/push on") == "200"
    tasks = [asyncio.create_task(listen(conn)) for conn in listeners]
    senders = await asyncio.gather(*(Conn.open(send_from, key) for _, key in clients))
    records: dict[int, tuple[float, float]] = {}
    counter = iter(range(1, 1 << 40))
    interval = len(senders) / rate
    end = time.monotonic() + seconds

    async def send(offset: int, conn: Conn) -> None:
        next_time = time.monotonic() + offset * interval / len(senders)
        while next_time < end:
            await asyncio.sleep(max(0.0, next_time - time.monotonic()))
            seq = next(counter)
            pro_id = pros[seq % len(pros)][0]
            sent = time.monotonic()
            code = await conn.ask(f"/message {pro_id} dlv{seq}")
            if code == "200":
                records[seq] = (sent, time.monotonic())
            next_time = max(next_time + interval, time.monotonic())

    await asyncio.gather(*(send(i, conn) for i, conn in enumerate(senders)))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(seq not in arrivals for seq in records):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    for conn in listeners + senders:
        conn.close()
    delivery = [arrivals[s] - answered for s, (_, answered) in records.items() if s in arrivals]
    end_to_end = [arrivals[s] - sent for s, (sent, _) in records.items() if s in arrivals]
    ms = 1000
    return {
        "messages": len(records),
        "missing": sum(1 for seq in records if seq not in arrivals),
        "listeners": len(listeners),
        "delivery_ms": {
            "p50": round(percentile(delivery, 0.50) * ms, 2),
            "p99": round(percentile(delivery, 0.99) * ms, 2),
        },
        "end_to_end_ms": {
            "p50": round(percentile(end_to_end, 0.50) * ms, 2),
            "p99": round(percentile(end_to_end, 0.99) * ms, 2),
            "max": round(max(end_to_end) * ms, 2),
        },
    }


# --- 2. throughput ----------------------------------------------------------------------------


async def throughput(
    server: Server,
    clients: list[tuple[int, str]],
    pros: list[tuple[int, str]],
    command: str,
    connections: int,
    depth: int,
    seconds: float,
) -> dict[str, Any]:
    """Connection i is client i (modulo) writing to, or reading, pro i (modulo):
    the writes of different connections touch different users, as in life."""
    conns = await asyncio.gather(
        *(Conn.open(server, clients[i % len(clients)][1]) for i in range(connections))
    )
    targets = [pros[i % len(pros)][0] for i in range(connections)]
    if command == "/conversation":  # something to read: 20 messages per conversation
        for conn, pro_id in zip(conns, targets, strict=True):
            conn.writer.write(f"/message {pro_id} bonjour\n".encode() * 20)
            for _ in range(20):
                await conn.reply()
    done = 0
    errors = 0
    warm_end = time.monotonic() + 1.0
    end = warm_end + seconds

    async def load(conn: Conn, pro_id: int) -> None:
        nonlocal done, errors
        line = (
            f"/message {pro_id} Bonjour, avez-vous encore des croissants ?\n"
            if command == "/message"
            else f"/conversation {pro_id} 0\n"
        ).encode()
        while time.monotonic() < end:
            conn.writer.write(line * depth)
            for _ in range(depth):
                code = await conn.reply()
                now = time.monotonic()
                if warm_end <= now < end:
                    if code in ("200", "204"):
                        done += 1
                    else:
                        errors += 1

    load_tasks = [
        asyncio.create_task(load(conn, pro_id)) for conn, pro_id in zip(conns, targets, strict=True)
    ]
    await asyncio.sleep(max(0.0, warm_end - time.monotonic()))
    cpu_before = server.cpu_seconds()
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    cpu_after = server.cpu_seconds()
    await asyncio.gather(*load_tasks)
    for conn in conns:
        conn.close()
    return {
        "requests_per_second": round(done / seconds),
        "server_cpu_us_per_request": round((cpu_after - cpu_before) / max(done, 1) * 1e6, 1),
        "errors": errors,
    }


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--senders", type=int, default=50, help="clients (senders, writers)")
    parser.add_argument("--push-senders", type=int, default=10, help="as in make bench")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--depth", type=int, default=8, help="requests pipelined per connection")
    parser.add_argument("--skip", choices=("push", "throughput"), action="append", default=[])
    parser.add_argument("--output", type=Path, help="write the results as JSON here too")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "machine": socket.gethostname()}
    flush_redis()
    with tempfile.TemporaryDirectory() as temporary, scratch_database() as database_url:
        root = Path(temporary)
        common = {"database_url": database_url, "redis_url": REDIS_URL}
        first = write_config(root / "a", instance_name="a", **common)
        second = write_config(root / "b", instance_name="b", **common)
        pros = create_users(first, "pro", max(args.listeners, 1))
        clients = create_users(first, "client", args.senders)
        if "push" not in args.skip:
            a, b = Server(first), Server(second)
            try:
                for label, listen_on in (("one_instance", a), ("across_instances", b)):
                    senders = clients[: args.push_senders]
                    results[f"push_{label}"] = asyncio.run(
                        push_latency(listen_on, a, pros, senders, args.rate, args.seconds)
                    )
                    print(label, results[f"push_{label}"], flush=True)
            finally:
                a.stop()
                b.stop()
        if "throughput" not in args.skip:
            # The reference: one process on PostgreSQL without Redis (limits in memory).
            alone = write_config(root / "alone", database_url=database_url)
            for label, config, workers in (
                ("no_redis", alone, 1),
                ("workers_1", first, 1),
                ("workers_2", first, 2),
            ):
                server = Server(config, "--workers", str(workers))
                try:
                    for command in ("/message", "/conversation"):
                        figures = asyncio.run(
                            throughput(
                                server,
                                clients,
                                pros,
                                command,
                                args.connections,
                                args.depth,
                                args.seconds,
                            )
                        )
                        results[f"{command[1:]}_{label}"] = figures
                        print(command, label, figures, flush=True)
                finally:
                    server.stop()
    flush_redis()
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
