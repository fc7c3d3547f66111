"""Celery with a Redis broker, default settings but no result backend."""

import os

from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL"))
app.conf.update(task_default_queue=os.environ.get("BENCH_CELERY_QUEUE", "bench"), worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)


@app.task(name="bench.noop")
def noop() -> None:
    pass
