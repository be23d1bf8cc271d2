"""Live delivery: who listens, and handing them ``* <event> <json>`` lines.

The broker knows the listeners of this instance. With several instances
(``redis_url``), ``forward`` hands each event's line to the cluster, which
publishes it for the other instances; they hand it to their own listeners
with ``deliver`` (``server.cluster``). A listener that does not read its
socket is cut off rather than allowed to grow the server's memory
(``MAX_PENDING_PUSH_BYTES`` in ``connection``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from protocol.codec import encode_push

__all__ = ["Broker", "Listener"]


class Listener(Protocol):
    def push(self, line: bytes) -> None: ...


class Broker:
    def __init__(self) -> None:
        self._listeners: dict[int, set[Listener]] = {}
        # Set by the cluster: (user ids, encoded line) for the other instances.
        self.forward: Callable[[set[int], bytes], None] | None = None

    def subscribe(self, user_id: int, listener: Listener) -> None:
        self._listeners.setdefault(user_id, set()).add(listener)

    def unsubscribe(self, user_id: int, listener: Listener) -> None:
        listeners = self._listeners.get(user_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[user_id]

    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    def publish(
        self,
        user_ids: Iterable[int],
        event: str,
        data: dict[str, Any],
        *,
        exclude: Listener | None = None,
    ) -> None:
        line: bytes | None = None
        targets = set(user_ids)
        for user_id in targets:
            for listener in tuple(self._listeners.get(user_id, ())):
                if listener is exclude:
                    continue
                if line is None:
                    line = encode_push(event, data)
                listener.push(line)
        if self.forward is not None:
            self.forward(targets, encode_push(event, data) if line is None else line)

    def deliver(self, user_ids: Iterable[int], line: bytes) -> None:
        """An event published by another instance, to this one's listeners."""
        for user_id in user_ids:
            for listener in tuple(self._listeners.get(user_id, ())):
                listener.push(line)

    def listeners_of(self, user_id: int) -> tuple[Listener, ...]:
        return tuple(self._listeners.get(user_id, ()))

    def all_listeners(self) -> list[Listener]:
        return [listener for listeners in self._listeners.values() for listener in listeners]
