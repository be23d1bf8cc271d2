"""Messages written while offline, waiting to be sent (issue 12, item 11).

Typed text is never lost and never refused for want of a connection: it waits
here, in order, shown as pending in its conversation, and goes out when the
connection is back, oldest first, one at a time (so the server numbers them
in the order they were written). A message the server then refuses (a ban
in force, say) leaves the queue and goes back to its conversation's draft;
so do the messages still waiting when the app closes (the draft is kept on
disk: they are there, to send, at the next start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Signal

__all__ = ["Outbox", "PendingMessage"]


@dataclass(frozen=True, slots=True)
class PendingMessage:
    partner: int
    text: str
    written_at: datetime


class Outbox(QObject):
    """The queue of pending messages; ``changed`` after every change."""

    changed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._queue: list[PendingMessage] = []
        self._in_flight: PendingMessage | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, partner: int, text: str) -> PendingMessage:
        pending = PendingMessage(partner, text, datetime.now(UTC))
        self._queue.append(pending)
        self.changed.emit()
        return pending

    def pending_for(self, partner: int) -> list[PendingMessage]:
        return [pending for pending in self._queue if pending.partner == partner]

    def partners(self) -> set[int]:
        return {pending.partner for pending in self._queue}

    @property
    def in_flight(self) -> PendingMessage | None:
        return self._in_flight

    def take_next(self) -> PendingMessage | None:
        """The oldest message, marked in flight; None while one is already in flight."""
        if self._in_flight is not None or not self._queue:
            return None
        self._in_flight = self._queue[0]
        return self._in_flight

    def is_in_flight(self, partner: int, text: str) -> bool:
        flying = self._in_flight
        return flying is not None and flying.partner == partner and flying.text == text

    def sent(self) -> PendingMessage | None:
        """The message in flight went through: it leaves the queue."""
        flying, self._in_flight = self._in_flight, None
        if flying is not None and flying in self._queue:
            self._queue.remove(flying)
            self.changed.emit()
        return flying

    def refused(self) -> PendingMessage | None:
        """The server refused the message in flight: it leaves the queue too."""
        return self.sent()

    def take_all(self) -> list[PendingMessage]:
        """Every waiting message, oldest first, out of the queue (the app is closing)."""
        taken, self._queue, self._in_flight = self._queue, [], None
        if taken:
            self.changed.emit()
        return taken

    def retry_later(self) -> None:
        """The connection went while a message was in flight: it stays first."""
        self._in_flight = None
