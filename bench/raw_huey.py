"""Raw Huey, as its docs set it up: PriorityRedisHuey, consumed by `huey_consumer -k process`."""

import os
import time

from huey import PriorityRedisHuey
from redis import Redis

huey = PriorityRedisHuey(os.environ.get("BENCH_HUEY_NAME", "bench"), url=os.environ.get("BENCH_REDIS_URL"),
                         results=False)
_redis = None


@huey.task()
def noop() -> None:
    pass


@huey.task()
def latency(key: str, sent: float) -> None:
    global _redis
    if _redis is None:
        _redis = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _redis.rpush(key, time.time() - sent)
