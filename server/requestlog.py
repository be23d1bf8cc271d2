"""The request log: one JSON line per request, to a rotating file and ``/logs``.

An entry is ``{"time", "peer", "user", "command", "code", "duration_ms"}``
(section 5) and nothing else: never a key, a token or a message's text; an
unknown command word is logged as ``?`` (a mistyped line may be a pasted key).

The file is written by a background thread (``QueueHandler``), so a slow disk
never stalls the event loop. The last entries are kept in memory for
``/logs``, reloaded from the file at start so they survive restarts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import logging.handlers
import queue
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Entry", "RequestLog", "entry_json"]

KEPT_IN_MEMORY = 10_000
FLUSH_DELAY = 0.05  # seconds a log line may wait to be written with others
_TAIL_CHUNK = 64 * 1024

# (time, peer, user, command, code, duration_ms): the fields of a log entry
# (section 5), in order; the time is time.time(), or the ISO text of an entry
# read back from the file.
Entry = tuple["float | str", str, "int | None", str, int, float]
_FIELDS = ("time", "peer", "user", "command", "code", "duration_ms")


def _iso(moment: float | str) -> str:
    if isinstance(moment, str):
        return moment
    whole = int(moment)
    return f"{_iso_second(whole)}.{int((moment - whole) * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _iso_second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def entry_json(entry: Entry) -> dict[str, Any]:
    return {"time": _iso(entry[0]), **dict(zip(_FIELDS[1:], entry[1:], strict=True))}


def _line(entry: Entry) -> str:
    # The same JSON as json.dumps(entry_json(entry)) without its cost: every
    # value is a number, null, or a string of safe characters except the peer
    # (an address) and the command (a word from the table, or "?").
    moment, peer, user, command, code, duration_ms = entry
    return (
        f'{{"time":"{_iso(moment)}","peer":{json.dumps(peer)},'
        f'"user":{"null" if user is None else int(user)},"command":{json.dumps(command)},'
        f'"code":{int(code)},"duration_ms":{duration_ms}}}'
    )


class RequestLog:
    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.recent: deque[Entry] = deque(_read_tail(path, KEPT_IN_MEMORY), KEPT_IN_MEMORY)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._handler = handler
        self._pending: list[Entry] = []
        # Set by the cluster: each flushed burst, for the log every instance reads.
        self.forward: Callable[[list[Entry]], None] | None = None
        self._flush_scheduled = False
        self._listener.start()

    def record(
        self, *, peer: str, user: int | None, command: str, code: int, duration_ms: float
    ) -> None:
        # Per request only a tuple is kept: formatting waits for the flush of
        # the burst (and for /logs), off the request's path.
        entry: Entry = (time.time(), peer, user, command, code, round(duration_ms, 3))
        self.recent.append(entry)
        self._pending.append(entry)
        if not self._flush_scheduled:
            # One hand-over to the writing thread per burst, not per request.
            try:
                asyncio.get_running_loop().call_later(FLUSH_DELAY, self._flush)
                self._flush_scheduled = True
            except RuntimeError:  # no loop (tools, tests): write at once
                self._flush()

    def flush(self) -> None:
        """Hand what is pending to the file (and the cluster) now."""
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            pending, self._pending = self._pending, []
            text = "\n".join(_line(entry) for entry in pending)
            self._queue.put(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))
            if self.forward is not None:
                self.forward(pending)

    def last(self, count: int) -> list[dict[str, Any]]:
        """The newest ``count`` entries, newest last."""
        entries = list(self.recent) if count >= len(self.recent) else list(self.recent)[-count:]
        return [entry_json(entry) for entry in entries]

    def close(self) -> None:
        self._flush()
        self._listener.stop()
        self._handler.close()


def _read_tail(path: Path, count: int) -> list[Entry]:
    """The last ``count`` valid entries, from the current file and its backups."""
    entries = _read_file_tail(path, count)
    backup = 1
    while len(entries) < count:
        older = path.with_name(f"{path.name}.{backup}")
        if not older.exists():
            break
        entries = _read_file_tail(older, count - len(entries)) + entries
        backup += 1
    return entries


def _read_file_tail(path: Path, count: int) -> list[Entry]:
    try:
        with path.open("rb") as file:
            file.seek(0, 2)
            size = file.tell()
            start = max(0, size - _TAIL_CHUNK * 32)
            file.seek(start)
            data = file.read()
    except FileNotFoundError:
        return []
    lines = data.splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first line may be cut
    entries: list[Entry] = []
    for raw in lines[-count:]:
        try:
            entry = json.loads(raw)
            entries.append(tuple(entry[name] for name in _FIELDS))
        except (ValueError, TypeError, KeyError):
            continue  # not one of our lines
    return entries
