"""Sliding-window rate limits (Pactocole section 4).

A bucketed sliding window: each window is cut into ``BUCKETS`` (60) buckets
of ``window / 60`` seconds (1 s for the minute, 60 s for the hour), and each
identity keeps one count per bucket in a ring of ``BUCKETS + 1`` counters:
the 60 buckets a window spans, plus the one its start falls into. Memory per
identity is those two fixed rings, whatever the limits: measured with
tracemalloc, 10,000 identities each at its per-hour limit (60/min, 1,000/h)
hold 9.7 MiB (1,018 bytes each); the exact sliding log this replaces kept one
timestamp per counted request, 330 MiB (34,642 bytes each).

Counting is exact to the bucket, and errs on the safe side: at time ``t`` a
request is allowed when fewer than ``limit`` were counted in the buckets from
the one holding ``t - window`` to the one holding ``t``. That span covers the
whole sliding window ``(t - window, t]``, so **no window of length
``window`` ever holds more than ``limit`` counted requests**; in exchange a
request may be refused up to one bucket earlier than an exact log would, and
the wait is longer by at most one bucket (1 s on the minute, 60 s on the
hour).

The wait (``retry_after``) is honest: it is the time until the oldest
buckets that must leave the window have left it, so a client that waits that
long (refused requests do not count) is accepted; never early, late by at
most one bucket compared with an exact log of the same requests. Identities
idle for a whole window are swept away.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable

__all__ = ["BUCKETS", "RateLimiter", "SlidingWindow"]

BUCKETS = 60
"""Buckets per window: the resolution of counting and the bound on over-waiting."""

_SPAN = BUCKETS + 1  # the buckets a window can overlap: 60, plus the one its start is in
_TYPECODE = "I" if array("I").itemsize >= 4 else "L"  # counts up to 4e9 (limits stop at 1e8)


class _Counts:
    """One identity's counts in one window: a ring of ``_SPAN`` buckets."""

    __slots__ = ("newest", "slots", "total")

    def __init__(self, newest: int) -> None:
        self.newest = newest  # index of the newest bucket the ring holds
        self.total = 0  # sum of the ring
        self.slots = array(_TYPECODE, bytes(array(_TYPECODE).itemsize * _SPAN))

    def advance(self, bucket: int) -> None:
        """Move the ring to ``bucket``: buckets older than ``bucket - BUCKETS`` leave it."""
        gap = bucket - self.newest
        if gap <= 0:  # same bucket (or a clock that went back: keep what we have)
            return
        slots = self.slots
        if gap >= _SPAN:
            for slot in range(_SPAN):
                slots[slot] = 0
            self.total = 0
        else:
            for index in range(self.newest + 1, bucket + 1):
                slot = index % _SPAN  # it held bucket index - _SPAN, now out of the window
                self.total -= slots[slot]
                slots[slot] = 0
        self.newest = bucket


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key (see the module doc)."""

    def __init__(self, window: float, limit: int, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.limit = limit
        self.bucket_width = window / BUCKETS
        self._clock = clock
        self._counts: dict[object, _Counts] = {}
        self._last_sweep = clock()

    def _bucket(self, when: float) -> int:
        return int(when // self.bucket_width)

    def wait_time(self, key: object, now: float | None = None) -> float:
        """Seconds before ``key`` may act again; 0 when it may act now.

        Never early: at ``now + wait_time(...)`` (or later) the next event is
        allowed, provided nothing is recorded meanwhile.
        """
        now = self._clock() if now is None else now
        counts = self._counts.get(key)
        if counts is None:
            return 0.0
        bucket = int(now // self.bucket_width)
        if bucket > counts.newest:  # inline test: this runs on every request
            counts.advance(bucket)
        if counts.total < self.limit:
            return 0.0
        # Drop the oldest buckets until fewer than ``limit`` remain: the last one
        # dropped must have left the window, i.e. the window's start must have
        # moved past it, into bucket ``index + 1``, so ``now`` into ``index + _SPAN``.
        remaining = counts.total
        slots = counts.slots
        for index in range(counts.newest - BUCKETS, counts.newest + 1):
            remaining -= slots[index % _SPAN]
            if remaining < self.limit:
                return self._wait_until(index + _SPAN, now)
        return self.window  # only with a limit below 1, which the settings refuse

    def _wait_until(self, bucket: int, now: float) -> float:
        """The wait from ``now`` into ``bucket``, rounded up past float rounding."""
        start = bucket * self.bucket_width
        while self._bucket(start) < bucket:
            start = math.nextafter(start, math.inf)
        wait = start - now
        while now + wait < start:
            wait = math.nextafter(wait, math.inf)
        return wait

    def record(self, key: object, now: float | None = None) -> float:
        """Count one event of ``key``; returns its time (for ``discard``)."""
        now = self._clock() if now is None else now
        bucket = int(now // self.bucket_width)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = _Counts(bucket)
        elif bucket > counts.newest:
            counts.advance(bucket)
        counts.slots[counts.newest % _SPAN] += 1
        counts.total += 1
        if now - self._last_sweep > self.window:
            self._sweep(now)
        return now

    def discard(self, key: object, when: float) -> None:
        """Take back the event recorded at ``when`` (a reservation that did not count)."""
        counts = self._counts.get(key)
        if counts is None:
            return
        bucket = min(self._bucket(when), counts.newest)
        if bucket < counts.newest - BUCKETS:
            return  # already out of the window
        slot = bucket % _SPAN
        if counts.slots[slot]:
            counts.slots[slot] -= 1
            counts.total -= 1

    def set_limit(self, limit: int) -> None:
        self.limit = limit

    def __len__(self) -> int:
        """Identities currently held."""
        return len(self._counts)

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        bucket = self._bucket(now)
        stale = [
            key
            for key, counts in self._counts.items()
            if counts.total == 0 or counts.newest < bucket - BUCKETS
        ]
        for key in stale:
            del self._counts[key]


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
        """0 and the request is counted, or the seconds to wait (not counted).

        Honest: each window's wait only shrinks while nothing is counted, so
        after the longer of the two both allow the request.
        """
        now = self._clock()
        wait = max(self.minute.wait_time(key, now), self.hour.wait_time(key, now))
        if wait > 0:
            return wait
        self.minute.record(key, now)
        self.hour.record(key, now)
        return 0.0
