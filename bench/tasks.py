"""Tasks the plane's worker runs during the benchmark (FLOWPLANE_TASKS__MODULES=bench.tasks)."""

import os
import time
from typing import Any

from redis import Redis

from app.plane.tasks.policy import RetryPolicy
from app.plane.tasks.registry import TaskContext, TaskSpec

_redis: Redis | None = None


def latency(context: TaskContext, payload: dict[str, Any]) -> None:
    global _redis
    if _redis is None:
        _redis = Redis.from_url(os.environ["FLOWPLANE_REDIS__URL"])
    _redis.rpush(payload["key"], time.time() - payload["sent"])


TASKS = [TaskSpec("bench.latency", latency, retry=RetryPolicy(attempts=1), timeout=None)]
