"""Processes under test: start, watch and stop them; read their costs from /proc.

The server and the baseline run as child processes whose standard output goes
to a log file; a process is ready when its banner (``... listening on
HOST:PORT``) appears there. Costs are read from ``/proc/PID``: CPU time
(``stat`` fields utime + stime, every thread included), resident memory
(``status`` VmRSS) and open descriptors (``fd``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on (\S+):(\d+)")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """A child process that prints ``listening on HOST:PORT`` when ready."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    started_at: float = 0.0
    exit_code: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 60.0) -> Child:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        environment.pop("TCHATATOR_CONFIG", None)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,  # a Ctrl-C of the bench does not hit it first
            )
        finally:
            log.close()
        self.started_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._log_since(offset)
            match = _LISTENING.search(text)
            if match:
                self.port = int(match.group(2))
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def _log_since(self, offset: int) -> str:
        # The banner of this start comes after anything a previous start wrote.
        try:
            with self.log_path.open("rb") as file:
                file.seek(offset)
                return file.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return self.exit_code
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.exit_code = self.process.returncode
        self.process = None
        return self.exit_code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Its own session (start_new_session): the group holds any copies it forked.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.process is not None:
            self.exit_code = self.process.returncode
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# --- /proc ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid`` and of its live child
    processes (a baseline with ``--processes``), in seconds."""
    total = 0.0
    for member in [pid, *children(pid)]:
        try:
            with open(f"/proc/{member}/stat", "rb") as file:
                data = file.read()
        except FileNotFoundError:
            continue  # gone in between
        # The command name (field 2) may hold spaces: split after its closing paren.
        fields = data[data.rindex(b")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (every thread's ``children`` list)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as file:
                found.extend(int(child) for child in file.read().split())
        except FileNotFoundError:
            continue
    return found


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def thread_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return -1


# --- the machine and the commit ---------------------------------------------------------


def machine_description() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    except OSError:
        pass
    import sqlite3

    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:  # pragma: no cover - the fast extra is installed for the bench
        uvloop_version = None
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "openssl": ssl.OPENSSL_VERSION,
        "sqlite": sqlite3.sqlite_version,
        "uvloop": uvloop_version,
        "executable": sys.executable,
    }


def source_digest(root: Path = ROOT) -> str:
    """SHA-256 (first 16 hex digits) of the server's and protocol's sources as measured.

    Other work may sit uncommitted in the tree: this pins the code that ran.
    """
    import hashlib

    digest = hashlib.sha256()
    for folder in ("server", "protocol"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def commit_hash(root: Path = ROOT) -> str:
    """The checked-out commit, read from ``.git`` without running git."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except OSError:
        pass
    return "unknown"
