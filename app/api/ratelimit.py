"""Fixed-window rate limits per client address, in memory or shared through Redis."""

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.availability import Availability
from app.durations import Rate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds until the window resets


class Limiter(Protocol):
    async def hit(self, key: str, rate: Rate) -> Decision: ...

    async def close(self) -> None: ...


def _window(rate: Rate, now: float) -> tuple[int, int]:
    period = rate.period.total_seconds()
    index = math.floor(now / period)
    return index, max(1, math.ceil((index + 1) * period - now))


class MemoryLimiter:
    """One process only: enough for the embedded default and a single API replica."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[tuple[str, int], tuple[int, float]] = {}  # (key, window) -> (hits, when it ends)
        self._lock = threading.Lock()
        self._clock = clock

    async def hit(self, key: str, rate: Rate) -> Decision:
        now = self._clock()
        index, retry_after = _window(rate, now)
        with self._lock:
            if len(self._counts) > 50_000:  # each window by its own end: limits of other periods keep theirs
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count = self._counts.get((key, index), (0, 0.0))[0] + 1
            self._counts[(key, index)] = (count, now + retry_after)
        return Decision(count <= rate.count, retry_after)

    async def close(self) -> None:
        self._counts.clear()


class RedisLimiter:
    """Shared by every API replica. While Redis is unreachable each replica limits on its own, in memory, and
    for ``backoff`` seconds after a failure Redis is not asked at all (a silent Redis would cost each request
    a timeout): a limit holds through an outage, only per replica instead of shared."""

    def __init__(self, url: str, prefix: str, *, connect_timeout: float = 1.0, timeout: float = 1.0,
                 backoff: float = 2.0, availability: Availability | None = None) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
        self._prefix = prefix
        # Shared with the process's task sends when given: one timeout, and neither waits on Redis again soon
        self._availability = availability or Availability("redis", backoff)
        self._fallback = MemoryLimiter()

    async def hit(self, key: str, rate: Rate) -> Decision:
        index, retry_after = _window(rate, time.time())
        redis_key = f"{self._prefix}ratelimit:{key}:{index}"
        if self._availability.down:
            return await self._fallback.hit(key, rate)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(redis_key)
                pipe.expire(redis_key, math.ceil(rate.period.total_seconds()) + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._availability.failed(type(exc).__name__)
            log.warning("rate limit kept by this replica alone: Redis unreachable (%s)", type(exc).__name__)
            return await self._fallback.hit(key, rate)
        self._availability.succeeded()
        return Decision(int(count) <= rate.count, retry_after)

    async def close(self) -> None:
        await self._redis.aclose()
