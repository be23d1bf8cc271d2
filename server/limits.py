"""Sliding-window rate limits (Pactocole section 4).

An exact sliding log: per identity, the times of its last ``limit`` counted
requests. A request is allowed when fewer than ``limit`` fall inside the
window; the wait before the next allowed one is exact, which gives an honest
``retry_after``. Memory is bounded by the limit per identity, and identities
idle for a whole window are swept away.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter", "SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key."""

    def __init__(self, window: float, limit: int, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.limit = limit
        self._clock = clock
        self._events: dict[object, deque[float]] = {}
        self._last_sweep = clock()

    def wait_time(self, key: object, now: float | None = None) -> float:
        """Seconds before ``key`` may act again; 0 when it may act now."""
        now = self._clock() if now is None else now
        events = self._events.get(key)
        if not events:
            return 0.0
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) < self.limit:
            return 0.0
        # The oldest of the last ``limit`` events must leave the window.
        return events[len(events) - self.limit] + self.window - now

    def record(self, key: object, now: float | None = None) -> float:
        """Count one event of ``key``; returns its time (for ``discard``)."""
        now = self._clock() if now is None else now
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        events.append(now)
        while len(events) > self.limit:
            events.popleft()
        if now - self._last_sweep > self.window:
            self._sweep(now)
        return now

    def discard(self, key: object, when: float) -> None:
        """Take back the event recorded at ``when`` (a reservation that did not count)."""
        events = self._events.get(key)
        if events and when in events:
            events.remove(when)

    def set_limit(self, limit: int) -> None:
        self.limit = limit

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        stale = [
            key
            for key, events in self._events.items()
            if not events or events[-1] <= now - self.window
        ]
        for key in stale:
            del self._events[key]


class RateLimiter:
    """The per-minute and per-hour request budgets of every identity."""

    def __init__(self, per_minute: int, per_hour: int, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.minute = SlidingWindow(60.0, per_minute, clock)
        self.hour = SlidingWindow(3600.0, per_hour, clock)

    def configure(self, per_minute: int, per_hour: int) -> None:
        self.minute.set_limit(per_minute)
        self.hour.set_limit(per_hour)

    def check(self, key: object) -> float:
        """0 and the request is counted, or the seconds to wait (not counted)."""
        now = self._clock()
        wait = max(self.minute.wait_time(key, now), self.hour.wait_time(key, now))
        if wait > 0:
            return wait
        self.minute.record(key, now)
        self.hour.record(key, now)
        return 0.0
