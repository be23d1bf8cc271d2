"""``tchatator-server serve --workers N``: N server processes on one port.

One Python process runs one event loop on one core. To use a machine's
cores without a load balancer, the supervisor (this module's ``supervise``)
starts N workers, each a whole server (``App``) listening on the same port
with ``SO_REUSEPORT``: the kernel spreads new connections across them. They
are N instances in every other respect (docs/scaling.md), so they need what
instances need to behave as one server: PostgreSQL and ``redis_url``.

- The port: the supervisor binds it first with ``SO_REUSEPORT`` without
  listening (so it gets no connections), which turns ``port = 0`` into one
  port every worker then binds too.
- The first start: worker 0 starts alone (migrations, certificates, the
  generated admin key), the others once it listens.
- Each worker writes its own request log (``requests.log`` -> ``requests.1.log``
  ...): one file is never written by two processes.
- Output: every line of a worker is relayed with ``[worker i]`` in front.
- A worker that dies is started again after a pause; SIGTERM or SIGINT to
  the supervisor stops every worker gracefully (each finishes its requests),
  and a worker dies with its supervisor (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .config import Settings

__all__ = ["MAX_WORKERS", "Worker", "check_workers", "supervise"]

MAX_WORKERS = 64
START_TIMEOUT = 60.0
RESTART_PAUSE = 1.0
STOP_TIMEOUT = 30.0


class WorkersError(Exception):
    pass


@dataclass(frozen=True)
class Worker:
    """What makes one worker different from the others."""

    index: int
    port: int

    def log_file(self, path: Path) -> Path:
        return path.with_name(f"{path.stem}.{self.index}{path.suffix}")


def check_workers(settings: Settings, count: int) -> None:
    """Raises WorkersError when ``count`` workers cannot behave as one server."""
    if not 1 <= count <= MAX_WORKERS:
        raise WorkersError(f"--workers must be between 1 and {MAX_WORKERS}")
    if count > 1 and (settings.database_url.startswith("sqlite") or not settings.redis_url):
        raise WorkersError(
            "--workers above 1 needs database_url on PostgreSQL and redis_url"
            " (the workers are instances: docs/scaling.md)"
        )


def _reserve_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind((host, port))
    return reserved


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class _Running:
    def __init__(self, index: int, command: list[str]) -> None:
        self.index = index
        self.listening = threading.Event()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        )
        self._relay = threading.Thread(target=self._relay_output, daemon=True)
        self._relay.start()

    def _relay_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "listening on" in line:
                self.listening.set()
            sys.stdout.write(f"[worker {self.index}] {line}")
            sys.stdout.flush()
        self.listening.set()  # ended: nobody waits forever


def supervise(config_path: Path, settings: Settings, count: int, *, uvloop: bool) -> int:
    """Run ``count`` workers until SIGTERM/SIGINT; returns the exit status."""
    check_workers(settings, count)
    reserved = _reserve_port(settings.host, settings.port)
    port = reserved.getsockname()[1]

    def command(index: int) -> list[str]:
        arguments = [sys.executable, "-m", "server", "--config", str(config_path), "serve"]
        arguments += ["--worker", f"{index}:{port}"]
        return [*arguments, "--uvloop"] if uvloop else arguments

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    workers: dict[int, _Running] = {}

    def reload_all(*_: object) -> None:
        # `systemctl reload` signals the main process, this one: SIGHUP's default
        # action would end it (and the workers with it). Each worker reloads its file.
        print(f"SIGHUP: asking {len(workers)} workers to reload", flush=True)
        for running in list(workers.values()):
            with contextlib.suppress(ProcessLookupError):
                running.process.send_signal(signal.SIGHUP)

    signal.signal(signal.SIGHUP, reload_all)
    try:
        for index in range(count):
            workers[index] = _Running(index, command(index))
            # Worker 0 alone first: migrations, certificates, the admin key.
            if index == 0 and not workers[0].listening.wait(START_TIMEOUT):
                raise WorkersError("the first worker did not start")
            if workers[0].process.poll() is not None:
                raise WorkersError("the first worker stopped while starting")
        for running in workers.values():
            running.listening.wait(START_TIMEOUT)
        print(f"Supervising {count} workers on {settings.host}:{port}", flush=True)
        while not stopping.wait(0.2):
            for index, running in list(workers.items()):
                code = running.process.poll()
                if code is not None and not stopping.is_set():
                    print(f"worker {index} exited ({code}); starting it again", flush=True)
                    time.sleep(RESTART_PAUSE)
                    workers[index] = _Running(index, command(index))
    finally:
        for running in workers.values():
            with contextlib.suppress(ProcessLookupError):
                running.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for running in workers.values():
            try:
                running.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
        reserved.close()
    return 0


def parse_worker(value: str) -> Worker:
    """``--worker INDEX:PORT`` (set by the supervisor only)."""
    index, port = value.split(":")
    return Worker(int(index), int(port))
