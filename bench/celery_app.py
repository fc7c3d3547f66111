"""Celery with a Redis broker, default settings but no result backend; with BENCH_CELERY_DURABLE set, acks late
and a Redis result backend."""

import json
import os
import time

from celery import Celery
from redis import Redis

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL"))
app.conf.update(task_default_queue=os.environ.get("BENCH_CELERY_QUEUE", "bench"), worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)
if os.environ.get("BENCH_CELERY_DURABLE"):
    # Guarantees nearer the plane's: acked after it ran (at least once), and each link's outcome kept in Redis
    app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, result_backend=os.environ["BENCH_REDIS_URL"],
                    result_backend_transport_options={
                        "global_keyprefix": f"{os.environ.get('BENCH_CELERY_QUEUE', 'bench')}:"},
                    result_expires=600)
_redis: Redis | None = None


def forget_unacked(redis: Redis, queue: str) -> int:
    """Drop ``queue``'s messages from kombu's shared ``unacked`` hash (and its index): a worker stopped while it
    held prefetched messages leaves them there, and any later kombu client would put them back on the queue
    after the visibility timeout, long after the bench deleted it. How many were dropped."""
    tags = [tag for tag, value in redis.hscan_iter("unacked")
            if (entry := json.loads(value)) and len(entry) == 3 and entry[2] == queue]
    if tags:
        redis.hdel("unacked", *tags)
        redis.zrem("unacked_index", *tags)
    return len(tags)


@app.task(name="bench.noop")
def noop() -> None:
    pass


@app.task(name="bench.chain_end")
def chain_end(key: str, sent: float) -> None:
    """The workflow benchmark's last link: one entry per finished chain, its start -> finish in seconds."""
    global _redis
    if _redis is None:  # one client per worker process, made after the fork
        _redis = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _redis.rpush(key, time.time() - sent)
