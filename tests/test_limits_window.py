"""The in-process sliding window (``server/limits.py``), without a server.

Memory per identity must not grow with the limit (issue 14 item 4), and the
bucketed window must keep the contract against an exact reference: never
more than ``limit`` counted events in any window, a 429 does not count, and
``retry_after`` is honest (waiting it is enough) while over-waiting by at
most one bucket.
"""

from __future__ import annotations

import copy
import gc
import math
import tracemalloc
from bisect import bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from server.limits import BUCKETS, RateLimiter, SlidingWindow


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _bytes_per_identity(limit: int, identities: int) -> float:
    """Heap held by ``identities`` keys, each with ``limit`` events spread over the window."""
    window = SlidingWindow(3600.0, limit, clock=FakeClock())
    step = 3599.0 / limit
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for key in range(identities):
            for event in range(limit):
                window.record(key, 1000.0 + event * step)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / identities


def test_memory_per_identity_does_not_grow_with_the_limit() -> None:
    # An exact log holds one timestamp per event: ~32 KiB per identity at 1,000.
    at_1000 = _bytes_per_identity(1000, 50)
    at_10 = _bytes_per_identity(10, 50)
    assert at_1000 < 1024, f"{at_1000:.0f} bytes per identity at limit 1000"
    assert at_1000 < at_10 + 128, (at_10, at_1000)


def test_all_events_of_a_full_window_are_still_counted() -> None:
    # Bounded memory is not forgetting: 1,000 events spread over the hour, the
    # 1,001st is refused until the first bucket leaves the window.
    clock = FakeClock(0.0)
    window = SlidingWindow(3600.0, 1000, clock)
    for event in range(1000):
        window.record("busy", event * 3.599)
    clock.now = 3599.0
    wait = window.wait_time("busy")
    # The first bucket (0-60 s, 17 events) leaves once the window starts past it.
    assert 3660.0 - 3599.0 <= wait <= 3660.0 - 3599.0 + 1e-9
    clock.now += wait
    assert window.wait_time("busy") == 0


def test_discard_takes_back_the_reservation() -> None:
    clock = FakeClock(10.5)
    window = SlidingWindow(60.0, 2, clock)
    window.record("peer")
    attempt = window.record("peer")
    assert window.wait_time("peer") > 0
    clock.now = 30.2
    window.discard("peer", attempt)
    assert window.wait_time("peer") == 0
    # Discarding what already left the window changes nothing.
    clock.now = 200.0
    window.discard("peer", attempt)
    assert window.wait_time("peer") == 0


def test_idle_identities_are_swept() -> None:
    clock = FakeClock(0.0)
    window = SlidingWindow(60.0, 5, clock)
    for key in range(100):
        window.record(key)
    clock.now = 61.5
    window.record("late")
    assert len(window) == 1


def test_lowering_then_raising_the_limit_keeps_the_count() -> None:
    clock = FakeClock(5.0)
    limiter = RateLimiter(1000, 2000, clock)
    for _ in range(10):
        assert limiter.check("user") == 0
    limiter.configure(4, 2000)
    assert limiter.check("user") > 0
    limiter.configure(13, 2000)
    assert [limiter.check("user") == 0 for _ in range(4)] == [True, True, True, False]


# --------------------------------------------------------------------------- properties

# Times are whole milliseconds, like a clock read a few times per request.
_gaps = st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=200)


def _exact_wait(admitted: list[float], now: float, window: float, limit: int) -> float:
    """The exact sliding log's wait: 0, or until the oldest blocking event leaves."""
    inside = admitted[bisect_right(admitted, now - window) :]
    if len(inside) < limit:
        return 0.0
    return inside[len(inside) - limit] + window - now


@settings(max_examples=300, deadline=None)
@given(
    window=st.sampled_from([1.0, 6.0, 60.0, 3600.0, 0.3]),
    limit=st.integers(min_value=1, max_value=20),
    gaps=_gaps,
    obey=st.lists(st.booleans(), min_size=200, max_size=200),
)
def test_bucketed_window_against_an_exact_log(window, limit, gaps, obey) -> None:
    width = window / BUCKETS
    limited = SlidingWindow(window, limit, clock=FakeClock(0.0))
    admitted: list[float] = []
    now = 1000.0
    retry_at: float | None = None
    for step, gap in enumerate(gaps):
        # Either the next event comes when it likes, or exactly when it was told.
        now = retry_at if retry_at is not None and obey[step] else now + gap / 1000
        wait = limited.wait_time("key", now)
        if retry_at is not None and now >= retry_at:
            assert wait == 0, f"told to wait until {retry_at}, refused at {now}"
        retry_at = None
        exact = _exact_wait(admitted, now, window, limit)
        if wait == 0:
            limited.record("key", now)
            admitted.append(now)
            # Safety: the window ending here holds at most ``limit`` events.
            assert len(admitted) - bisect_right(admitted, now - window) <= limit
            continue
        # Refused (and not counted): at most one bucket longer than the exact log.
        assert wait <= exact + width + 1e-9, (wait, exact, width)
        # Honest: a copy asked at ``now + wait``, or after the whole seconds the
        # server sends (rounded up), admits the next event.
        for later in (now + wait, now + max(1, math.ceil(wait))):
            probe = copy.deepcopy(limited)
            assert probe.wait_time("key", later) == 0, (now, wait, later)
        retry_at = now + wait


@settings(max_examples=100, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=10),
    extra_hour=st.integers(min_value=0, max_value=20),
    gaps=_gaps,
)
def test_rate_limiter_wait_is_honest_for_both_windows(per_minute, extra_hour, gaps) -> None:
    clock = FakeClock(500.0)
    limiter = RateLimiter(per_minute, per_minute + extra_hour, clock)
    for gap in gaps:
        clock.now += gap / 1000 * 20  # up to 100 s apart: both windows matter
        wait = limiter.check("user")
        if wait > 0:
            probe = copy.deepcopy(limiter, {id(clock): clock})  # same clock, own counts
            saved = clock.now
            clock.now += wait
            assert probe.check("user") == 0
            clock.now = saved
