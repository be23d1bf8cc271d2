"""Rate limits counted across instances, in Redis (Pactocole section 4).

With ``redis_url`` set, the per-minute and per-hour request budgets and the
failed-login throttle of an identity are counted in Redis, so N instances
allow what one would. Each window is a sliding-window counter: two counters
per identity and window (this fixed bucket and the previous one), the
previous weighted by how much of it the sliding window still covers::

    estimate = previous * (window - elapsed) / window + current

A request is allowed when ``estimate + 1 <= limit``. Memory per identity is
four small keys whatever the limits (the in-process limiter, a ring of 61
buckets per window). ``retry_after`` is the exact time until the estimate
lets one more request through, given that refused requests do not count:
within this bucket while the previous one's weight decays, or in the next
bucket (where the current count becomes the previous one).

One Lua script checks every window and counts the request only if all allow
it, atomically, on Redis's clock (``TIME``), so instances' clocks do not
matter. Checks are sent in bursts: those that arrive while one burst is on
the wire go together in the next, one script call (one command) per burst,
so a pipelining client's checks cost Redis one round trip, not one each
(75 → 20 µs of the instance's CPU per check, with hiredis).

Redis unreachable: each instance falls back to counting on its own (the
in-process limiter), with a log line once per ``OUTAGE_LOG_INTERVAL``, so
limits still hold per instance (N instances then allow up to N times the
budget) and nothing is refused for Redis's sake; the shared count resumes by
itself once Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

__all__ = ["SharedLimits", "retry_after_ms"]

log = logging.getLogger("tchatator.limits")

# KEYS: identities' key prefixes, one per request of a burst (an identity may
# come back: they are counted in order). ARGV: window seconds and limit, pairs,
# the same for every key. For each key, counts the request in every window
# only if every window allows it; answers, per key, {wait in milliseconds (0:
# allowed and counted), the first window's counter that got it (for a
# take-back)}, flattened. One call per burst: redis-py spends ~30 µs of
# Python on each command it packs and parses, Lua a few on each key.
_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local answers = {}
for k = 1, #KEYS do
  local wait = 0
  local counters = {}
  for index = 1, #ARGV, 2 do
    local window = tonumber(ARGV[index])
    local limit = tonumber(ARGV[index + 1])
    local bucket = math.floor(now / window)
    local elapsed = now - bucket * window
    local base = KEYS[k] .. ':' .. window .. ':'
    local current_key = base .. bucket
    local current = tonumber(redis.call('GET', current_key) or '0')
    local previous = tonumber(redis.call('GET', base .. (bucket - 1)) or '0')
    local estimate = previous * (window - elapsed) / window + current
    if estimate + 1 > limit then
      local this_wait
      if current <= limit - 1 then
        -- the previous bucket's weight must fall to limit - 1 - current
        this_wait = window * (1 - (limit - 1 - current) / previous) - elapsed
      else
        -- next bucket: the current count becomes the previous one
        this_wait = (window - elapsed) + window * math.max(0, 1 - (limit - 1) / current)
      end
      if this_wait > wait then wait = this_wait end
    end
    counters[#counters + 1] = {current_key, window}
  end
  if wait > 0 then
    answers[#answers + 1] = math.max(1, math.ceil(wait * 1000))
    answers[#answers + 1] = ''
  else
    for _, counter in ipairs(counters) do
      redis.call('INCR', counter[1])
      redis.call('PEXPIRE', counter[1], math.floor(counter[2] * 2000) + 1000)
    end
    answers[#answers + 1] = 0
    answers[#answers + 1] = counters[1][1]
  end
end
return answers
"""

# KEYS[1]: a counter the script incremented; one event taken back.
_TAKE_BACK = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
"""

MINUTE, HOUR = 60, 3600
MAX_BURST = 1024


def retry_after_ms(wait_ms: int) -> float:
    """The script's answer in seconds (a hair over, so a client that waits
    exactly that long lands after the estimate has fallen)."""
    return wait_ms / 1000 if wait_ms > 0 else 0.0


class SharedLimits:
    """The request budgets and the failed-login throttle, counted in Redis."""

    def __init__(self, app: Any, redis_client: Any, namespace: str, outage: Any) -> None:
        self.app = app
        self.redis = redis_client
        self.prefix = namespace + "limit:"
        self._outage = outage  # Cluster.outage: one log line per outage
        self._script = redis_client.register_script(_SCRIPT)
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[tuple[int, str]]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._send(), name="shared-limits")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self, key: tuple[str, object]) -> float:
        """0 and the request is counted, or the seconds to wait (not counted)."""
        settings = self.app.settings
        limits = (MINUTE, settings.max_requests_per_minute, HOUR, settings.max_requests_per_hour)
        try:
            wait_ms, _ = await self._run(self._redis_key("req", key), limits)
            return retry_after_ms(wait_ms)
        except Exception as error:
            self._outage("counting requests; counting on this instance", error)
            return self.app.limiter.check(key)

    async def reserve_login_attempt(self, peer: str) -> tuple[float, Any]:
        """Count a login attempt of ``peer`` now: (0, the attempt) or (wait, None)."""
        limits = (MINUTE, self.app.settings.max_failed_logins_per_minute)
        try:
            wait_ms, counter = await self._run(self._redis_key("fail", ("peer", peer)), limits)
            return (retry_after_ms(wait_ms), None) if wait_ms else (0.0, counter)
        except Exception as error:
            self._outage("counting failed logins; counting on this instance", error)
            local = self.app.failed_logins
            wait = local.wait_time(peer)
            return (wait, None) if wait > 0 else (0.0, local.record(peer))

    async def take_back(self, counter: str) -> None:
        """A login attempt succeeded: take it back from the counter that got it."""
        try:
            await self.redis.eval(_TAKE_BACK, 1, counter)
        except Exception as error:
            self._outage("taking back a login attempt", error)

    def _redis_key(self, kind: str, key: tuple[str, object]) -> str:
        return f"{self.prefix}{kind}:{key[0]}:{key[1]}"

    def _run(self, redis_key: str, limits: tuple[int, ...]) -> asyncio.Future[tuple[int, str]]:
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._pending.append(((redis_key, *limits), future))
        self._wake.set()
        return future

    async def _send(self) -> None:
        """One burst on the wire at a time; what arrives meanwhile goes next."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                burst = self._pending[:MAX_BURST]
                del self._pending[:MAX_BURST]
                try:
                    answers = await self._evaluate(burst)
                except Exception as error:
                    for _, future in burst:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), (wait_ms, counter) in zip(burst, answers, strict=True):
                    if not future.done():
                        future.set_result((int(wait_ms), counter.decode()))

    async def _evaluate(self, burst: list[tuple[tuple[Any, ...], Any]]) -> list[tuple[int, bytes]]:
        """(wait, counter) for each check of the burst, in order: one script call
        per set of limits (requests, logins), all in one round trip."""
        from redis.exceptions import NoScriptError

        groups: dict[tuple[Any, ...], list[int]] = {}
        for position, ((_, *windows), _future) in enumerate(burst):
            groups.setdefault(tuple(windows), []).append(position)
        for _ in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for limits, positions in groups.items():
                keys = [burst[position][0][0] for position in positions]
                pipe.evalsha(self._script.sha, len(keys), *keys, *limits)
            try:
                replies = await pipe.execute()
                break
            except NoScriptError:
                # A new (or restarted) Redis does not know the script yet: load it, send again.
                await self.redis.script_load(_SCRIPT)
        else:
            raise RuntimeError("Redis keeps forgetting the limits script")
        answers: list[tuple[int, bytes]] = [(0, b"")] * len(burst)
        for positions, reply in zip(groups.values(), replies, strict=True):
            for index, position in enumerate(positions):
                answers[position] = (reply[2 * index], reply[2 * index + 1])
        return answers
