"""The floor under the workflow targets: the registration shape's durable path with the leanest Python there
is — raw psycopg and redis-py, no framework, no outbox, no lease — on the same servers, with 2 worker processes.

The start commits a run row and its three step rows (the event's step done, as the plane's outbox makes it) and
pushes the first task; a worker pops it, locks the run, marks the step succeeded and the next one ready in one
transaction, then pushes the next; the second step's transaction finishes the run. The event itself is left out:
the plane publishes it after the commit, off the run's path. Tasks are popped, not leased: at most once, which
is cheaper than what the plane (or any peer) promises, so nothing durable can go below these figures.

Run as ``python -m bench.floor WORKER_ID`` it is one of those workers."""

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from redis import Redis

from bench import wait
from bench.workflows import (
    BIN,
    RATE,
    REDIS_URL,
    WORKERS,
    CpuUse,
    cpu_use,
    own_schema,
    paced,
    percentiles,
    produce,
    spawn,
    stop,
)

_TABLES = """
CREATE TABLE floor_runs (id text PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL,
                         updated_at timestamptz NOT NULL, finished_at timestamptz);
CREATE TABLE floor_steps (run_id text NOT NULL, step_id text NOT NULL, status text NOT NULL,
                          finished_at timestamptz, PRIMARY KEY (run_id, step_id));
"""


class FloorSide:
    def __init__(self, workdir: Path, url: str, queue: str) -> None:
        self.workdir, self.url, self.queue = workdir, url, queue
        self.db = psycopg.connect(url, autocommit=True)
        self.db.execute(_TABLES)
        self.redis = Redis.from_url(REDIS_URL)
        self.workers: list[Any] = []

    def start(self) -> str:
        run_id = uuid.uuid4().hex
        with self.db.transaction():
            self.db.execute("INSERT INTO floor_runs VALUES (%s, 'running', clock_timestamp(), clock_timestamp())",
                            (run_id,))
            self.db.execute("INSERT INTO floor_steps VALUES (%s, 'announce', 'succeeded', clock_timestamp()), "
                            "(%s, 'first', 'ready', NULL), (%s, 'second', 'waiting', NULL)", (run_id,) * 3)
        self.redis.lpush(self.queue, f"{run_id}:first")
        return run_id

    def start_workers(self) -> None:
        env = {"BENCH_FLOOR_URL": self.url, "BENCH_FLOOR_QUEUE": self.queue}
        self.workers = [spawn([str(BIN / "python"), "-m", "bench.floor", str(number)], env, self.workdir,
                              self.workdir / "floor.log") for number in range(WORKERS)]
        self.start()
        self.wait()  # connected and warm

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop(worker)
        self.workers = []

    def wait(self, timeout: float = 120) -> float:
        return wait(lambda: not self.db.execute("SELECT 1 FROM floor_runs WHERE status = 'running' LIMIT 1")
                    .fetchone(), timeout, "the floor's runs to finish", step=0.02)

    def throughput(self, count: int, producers: int = 1) -> tuple[float, CpuUse]:
        with cpu_use(*(worker.pid for worker in self.workers)) as cpu:
            began = produce(self.start, count, producers)  # one connection: the floor's producer is one thread
            ended = self.wait()
        return count / (ended - began), cpu

    def latency(self, seconds: float) -> list[float]:
        ids: list[str] = []
        paced(int(RATE * seconds), RATE, lambda _: ids.append(self.start()))
        self.wait()
        rows = self.db.execute("SELECT extract(epoch FROM finished_at - created_at) * 1000 FROM floor_runs "
                               "WHERE id = ANY(%s)", (ids,)).fetchall()
        return [float(milliseconds) for (milliseconds,) in rows]


@contextmanager
def floor_side(workdir: Path) -> Iterator[FloorSide]:
    """Its schema and queue are fresh, and gone afterwards, whatever happened."""
    tag = uuid.uuid4().hex[:8]
    queue = f"bench-floor-{tag}"
    with own_schema(f"bench_floor_{tag}") as url:
        side: FloorSide | None = None
        try:
            side = FloorSide(workdir, url, queue)
            yield side
        finally:
            if side is not None:
                side.stop_workers()
                side.db.close()
            Redis.from_url(REDIS_URL).delete(queue)


def floor_figures(workdir: Path, count: int, seconds: float) -> tuple[float, tuple[float, float], CpuUse]:
    """(end to end wf/s with 1 producer, (p50, p99) ms at RATE/s, CPU of that end-to-end stretch)."""
    with floor_side(workdir) as side:
        side.start_workers()
        rate, cpu = side.throughput(count)
        return rate, percentiles(side.latency(seconds)), cpu


def _work(url: str, queue: str) -> None:
    db, redis = psycopg.connect(url, autocommit=True), Redis.from_url(REDIS_URL)
    while True:
        popped = redis.brpop([queue], timeout=1)
        if popped is None:
            continue
        member = popped[1]
        run_id, step = (member.decode() if isinstance(member, bytes) else member).split(":")
        with db.transaction():
            db.execute("UPDATE floor_runs SET updated_at = clock_timestamp() WHERE id = %s", (run_id,))
            db.execute("UPDATE floor_steps SET status = 'succeeded', finished_at = clock_timestamp() "
                       "WHERE run_id = %s AND step_id = %s", (run_id, step))
            if step == "first":
                db.execute("UPDATE floor_steps SET status = 'ready' WHERE run_id = %s AND step_id = 'second'",
                           (run_id,))
            else:
                db.execute("UPDATE floor_runs SET status = 'succeeded', finished_at = clock_timestamp() "
                           "WHERE id = %s", (run_id,))
        if step == "first":
            redis.lpush(queue, f"{run_id}:second")


if __name__ == "__main__":
    try:
        _work(os.environ["BENCH_FLOOR_URL"], os.environ["BENCH_FLOOR_QUEUE"])
    except KeyboardInterrupt:
        sys.exit(0)
