"""The orchestrator's side of the load workers (see ``bench.load``)."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from . import load

__all__ = ["LoadPool", "WorkerError"]


class WorkerError(RuntimeError):
    pass


class LoadPool:
    """Long-lived generator processes, started once (spawn) and given jobs."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for index in range(size):
            parent, child = context.Pipe()
            process = context.Process(
                target=load.worker_main, args=(child,), name=f"bench-load-{index}", daemon=True
            )
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)
        self._active: list[Connection] = []

    @property
    def size(self) -> int:
        return len(self.pipes)

    def dispatch(self, jobs: list[dict[str, Any]], timeout: float = 180.0) -> list[dict[str, Any]]:
        """Send one job per worker; return their ``ready`` reports."""
        if len(jobs) > self.size:
            raise ValueError("more jobs than workers")
        self._active = self.pipes[: len(jobs)]
        for pipe, job in zip(self._active, jobs, strict=True):
            pipe.send(job)
        return [self._expect(pipe, "ready", timeout) for pipe in self._active]

    def broadcast(self, message: tuple[Any, ...]) -> None:
        for pipe in self._active:
            pipe.send(message)

    def gather(self, kind: str, timeout: float = 120.0) -> list[dict[str, Any]]:
        """One ``kind`` message from every worker of the current job."""
        return [self._expect(pipe, kind, timeout) for pipe in self._active]

    def collect(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        results = [self._expect(pipe, "result", timeout) for pipe in self._active]
        self._active = []
        for result in results:
            if "fatal" in result:
                raise WorkerError(result["fatal"])
        return results

    def _expect(self, pipe: Connection, kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"no {kind!r} from a load worker within {timeout:.0f} s")
            if pipe.poll(min(left, 1.0)):
                message_kind, payload = pipe.recv()
                if message_kind == "result" and kind == "ready":
                    # The job failed before it was ready.
                    raise WorkerError(payload.get("fatal", f"job ended early: {payload}"))
                if message_kind != kind:
                    raise WorkerError(f"expected {kind!r} from a load worker, got {message_kind!r}")
                return payload
            if not all(process.is_alive() for process in self.processes):
                raise WorkerError("a load worker died")

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(2)
