"""py-spy profiles of the running server, summarised as top functions.

``py-spy record --format raw --threads`` samples every thread of the server
from outside, without touching its code; ``--nonblocking`` keeps it from
pausing the process (the load goes on at full speed). The summary divides
sample counts by ``rate * seconds``, so a figure reads as "share of one core
spent there": 0.95 for the event-loop thread means the loop was busy 95 % of
the time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["Profiler", "Recorder", "summarize_raw"]

RATE = 200
TOP = 15
_THREAD = re.compile(r"^thread \(\d+\): ")
_LINE = re.compile(r":\d+\)$")
# Frames that sit under everything and say nothing about where time goes.
_PLUMBING = (
    "Thread._bootstrap",
    "Thread._bootstrap_inner",
    "Thread.run",
    "<module>",
    "_run_module_as_main",
    "_run_code",
    "main (cli.py)",
    "_serve (cli.py)",
    "run (runners.py)",
    "Runner.run (runners.py)",
    "run_until_complete",
    "run_forever",
    "_run_once (base_events.py)",
    "_run (events.py)",
    "_worker (thread.py)",
)


def _py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else None


class Recorder:
    def __init__(
        self, pid: int, output: Path, seconds: int, rate: int = RATE, gil: bool = False
    ) -> None:
        self.pid = pid
        self.gil = gil
        self.output = output
        self.seconds = max(1, int(seconds))
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        self._timer: threading.Timer | None = None

    def start(self, delay: float = 0.0) -> None:
        if delay > 0:
            self._timer = threading.Timer(delay, self._spawn)
            self._timer.start()
        else:
            self._spawn()

    def _spawn(self) -> None:
        executable = _py_spy()
        if executable is None:
            self.error = "py-spy is not installed"
            return
        self.process = subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(self.pid),
                "--duration",
                str(self.seconds),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--output",
                str(self.output),
                "--nonblocking",
                "--threads",
                *(["--gil"] if self.gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait(self) -> None:
        if self._timer is not None:
            self._timer.join()
        if self.process is None:
            return
        try:
            _, stderr = self.process.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        if self.process.returncode != 0:
            self.error = stderr.decode("utf-8", "replace")[-500:]

    def summary(self) -> dict[str, Any]:
        if self.error and not self.output.exists():
            return {"error": self.error}
        try:
            text = self.output.read_text("utf-8", "replace")
        except FileNotFoundError:
            return {"error": self.error or "py-spy wrote nothing"}
        result = summarize_raw(text, self.rate, self.seconds)
        result["tool"] = f"py-spy record --rate {self.rate} --nonblocking --threads" + (
            " --gil" if self.gil else ""
        )
        return result


class Profiler:
    """Two py-spy recorders at once on the same process.

    ``active``: every thread that is not idle (running Python, running C code
    such as SQLite or OpenSSL with the GIL released, or waiting for the GIL);
    ``gil``: only the thread holding the GIL, i.e. where the Python CPU goes.
    """

    def __init__(self, pid: int, prefix: Path, seconds: int) -> None:
        self.recorders = {
            "active": Recorder(pid, prefix.with_suffix(".active.txt"), seconds),
            "gil": Recorder(pid, prefix.with_suffix(".gil.txt"), seconds, gil=True),
        }

    def start(self, delay: float = 0.0) -> None:
        for recorder in self.recorders.values():
            recorder.start(delay)

    def wait(self) -> None:
        for recorder in self.recorders.values():
            recorder.wait()

    def summary(self) -> dict[str, Any]:
        return {name: recorder.summary() for name, recorder in self.recorders.items()}


def _frame(raw: str) -> str:
    """``func (path/file.py:123)`` -> ``func (file.py)``."""
    raw = _LINE.sub(")", raw.strip())
    if " (" in raw:
        name, _, where = raw.partition(" (")
        where = where.rstrip(")")
        where = where.rsplit("/", 1)[-1]
        return f"{name} ({where})"
    return raw


def _is_plumbing(frame: str) -> bool:
    return any(frame.startswith(p) or frame == p for p in _PLUMBING)


def summarize_raw(text: str, rate: int, seconds: float) -> dict[str, Any]:
    """Top functions (self and inclusive) and per-thread busy shares."""
    budget = rate * seconds
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = _THREAD.sub("", stack)
        frames = stack.split(";")
        thread = frames[0]
        # Thread pools name threads "db-read_0", "db-read_1"...: group them.
        threads[re.sub(r"_\d+$", "_*", thread)] += count
        calls = [_frame(frame) for frame in frames[1:]]
        total += count
        if calls:
            own[calls[-1]] += count
        for frame in set(calls):
            if not _is_plumbing(frame):
                inclusive[frame] += count

    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {
                "function": name,
                "samples": n,
                "core_share": round(n / budget, 3),
                "share": round(n / total, 3) if total else 0.0,
            }
            for name, n in counter.most_common(TOP)
        ]

    return {
        "seconds": seconds,
        "rate": rate,
        "samples": total,
        "threads": {name: round(n / budget, 3) for name, n in threads.most_common()},
        "top_self": top(own),
        "top_inclusive": top(inclusive),
    }
