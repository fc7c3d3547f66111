"""Celery as a careful user would set it up for the plane's guarantees: acked after the task ran (at least once),
a lost worker's task redelivered, each link's outcome in a Redis result backend, and each step recorded in
PostgreSQL in a transaction of its own. `celery -A bench.celery_durable_app worker` takes its names from the
environment (BENCH_REDIS_URL, BENCH_CELERY_DURABLE_QUEUE, BENCH_CELERY_DURABLE_PG); the bench makes its own
app with `make_app`, so one process can run several sides one after another."""

import os
from datetime import UTC, datetime
from typing import Any

import psycopg
from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

DEFAULT_QUEUE = "bench-celery-durable"
# finished_at is the server's clock as the statement runs (the same clock as the bench's): the last moment a row
# can tell before its commit. The status test keeps the first outcome when acks late runs a step twice.
STEP_DONE = """UPDATE steps SET status = 'succeeded', started_at = %s, finished_at = clock_timestamp()
               WHERE run_id = %s AND step_id = %s AND status <> 'succeeded'"""
RUN_DONE = """UPDATE runs SET status = 'succeeded', finished_at = clock_timestamp()
              WHERE id = %s AND status <> 'succeeded'"""

# One connection per worker process, made after the fork: a connection shared across a fork is corrupted.
_db: psycopg.Connection[Any] | None = None
_db_pid = 0


def database(url: str) -> psycopg.Connection[Any]:
    """This process's connection; a new one after a fork or once the last one broke."""
    global _db, _db_pid
    if _db is None or _db_pid != os.getpid() or _db.closed or _db.broken:
        _db, _db_pid = psycopg.connect(url, autocommit=True), os.getpid()
    return _db


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    if _db is not None and _db_pid == os.getpid():
        _db.close()  # the backend goes at once, not when PostgreSQL notices the dead socket


def make_app(redis_url: str, queue: str, postgres_url: str) -> Celery:
    """An app whose every Redis key (queue, unacked messages, bindings, results) starts with ``queue:``, so a
    shared Redis database can be cleaned after it without touching anyone else's."""
    app = Celery("bench_durable", broker=redis_url, backend=redis_url, set_as_current=False)
    keys = {"global_keyprefix": f"{queue}:"}
    app.conf.update(task_default_queue=queue, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
                    task_acks_late=True, task_reject_on_worker_lost=True, broker_transport_options=keys,
                    result_backend_transport_options=keys, result_expires=600)

    @app.task(name="bench.durable_step", shared=False, autoretry_for=(psycopg.OperationalError,), max_retries=3)
    def step(run_id: str, step_id: str, last: bool) -> None:
        """The no-op step: its row marked succeeded, and with the last step the run, in one transaction."""
        started = datetime.now(UTC)
        db = database(postgres_url)
        with db.transaction():
            db.execute(STEP_DONE, (started, run_id, step_id))
            if last:
                db.execute(RUN_DONE, (run_id,))

    worker_process_init.connect(lambda **_: database(postgres_url), weak=False)  # connected before the first task
    return app


app = make_app(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
               os.environ.get("BENCH_CELERY_DURABLE_QUEUE", DEFAULT_QUEUE),
               os.environ.get("BENCH_CELERY_DURABLE_PG", "postgresql://postgres@127.0.0.1:5432/test"))
