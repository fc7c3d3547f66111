"""Celery with guarantees comparable to the plane's, as a careful Celery user would write the registration
workflow: the start commits a run row and its step rows in one PostgreSQL transaction, then publishes the event
to RabbitMQ (persistent, 3 durable queues, publisher confirms), then sends a chain of two no-op tasks; each link
runs acked late on a Redis broker, records its step as succeeded in a committed transaction (the last one the
run too) and stores its outcome in a Redis result backend. What it lacks next to the plane: no outbox (a crash
between the commit and the sends loses the event or the chain), and nothing retries a run whose link failed.

Figures are taken the way bench/workflows.py takes the plane's, and every name is fresh (a PostgreSQL schema,
Redis key prefix, RabbitMQ prefix) and deleted at the end, also when interrupted.

    python -c "from bench.celery_durable import report_alone; report_alone(500)"
"""

import itertools
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from celery import chain
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer
from redis import Redis

from bench import wait
from bench.celery_durable_app import make_app
from bench.workflows import (
    BIN,
    POSTGRES_URL,
    RABBITMQ_URL,
    RATE,
    REDIS_URL,
    ROOT,
    WORKERS,
    CpuUse,
    cpu_use,
    paced,
    percentiles,
    spawn,
    stop,
)

TABLES = """
CREATE TABLE runs (id uuid PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL,
                   finished_at timestamptz);
CREATE TABLE steps (run_id uuid NOT NULL REFERENCES runs (id), step_id text NOT NULL, status text NOT NULL,
                    started_at timestamptz, finished_at timestamptz, PRIMARY KEY (run_id, step_id));
"""
NEW_RUN = "INSERT INTO runs (id, status, created_at) VALUES (%s, 'running', %s)"
NEW_STEPS = "INSERT INTO steps (run_id, step_id, status) VALUES (%s, 'first', 'pending'), (%s, 'second', 'pending')"
TIMINGS = """SELECT r.created_at, f.started_at, f.finished_at, s.started_at, r.finished_at FROM runs r
             JOIN steps f ON f.run_id = r.id AND f.step_id = 'first'
             JOIN steps s ON s.run_id = r.id AND s.step_id = 'second' WHERE r.id = ANY(%s::uuid[])"""
SEGMENTS = ("start, until `first` starts (commit, event confirmed, chain sent, taken)",
            "`first` records its step (begin, update)",
            "until `second` starts (commit, result stored, sent, acked, taken)",
            "`second` records its step and the run (begin, 2 updates)")


def with_schema(url: str, schema: str) -> str:
    """The URL with the schema as its search_path, so the SQL names no schema."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@dataclass(frozen=True)
class Names:
    """Everything a side creates, by name, so it can be removed even when the side never finished being made."""

    tag: str

    @property
    def schema(self) -> str:
        return f"bench_celery_{self.tag}"

    @property
    def prefix(self) -> str:  # the Celery queue, the start of every Redis key and of the RabbitMQ names
        return f"bench-celery-{self.tag}"

    def topology(self) -> tuple[Exchange, list[Queue]]:
        exchange = Exchange(f"{self.prefix}.events", type="topic", durable=True)
        return exchange, [Queue(f"{self.prefix}.{name}", exchange, routing_key="#", durable=True)
                          for name in ("analytics", "crm", "audit")]

    def remove(self, postgres_url: str) -> None:
        """Drop the schema, the exchange and queues, and the Redis keys; whatever of them exists. Each is tried
        even when another fails (a server down, say); the first failure is raised after."""
        failures: list[Exception] = []
        for part in (self._remove_topology, self._remove_keys, lambda: self._remove_schema(postgres_url)):
            try:
                part()
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    def _remove_topology(self) -> None:
        exchange, queues = self.topology()
        with Connection(RABBITMQ_URL) as connection:
            for name in [queue.name for queue in queues]:
                connection.channel().queue_delete(name)  # deleting what is not there is not an error
            connection.channel().exchange_delete(exchange.name)

    def _remove_keys(self) -> None:
        redis = Redis.from_url(REDIS_URL)
        if keys := list(redis.scan_iter(f"*{self.prefix}*", count=1000)):
            redis.delete(*keys)
        # Should a key have escaped the prefix, the worker's remote-control reply queue would sit in kombu's shared
        # binding tables: unbind it, then drop deadlines of tables left empty, as CelerySide.cleanup does.
        for key in redis.scan_iter("_kombu.binding*"):
            if redis.type(key) == b"set" and (
                    members := [m for m in redis.smembers(key) if self.prefix.encode() in m]):
                redis.srem(key, *members)
        for table in redis.zrange("_kombu.binding_deadlines", 0, -1):
            name = table.decode() if isinstance(table, bytes) else str(table)
            if not redis.exists(f"_kombu.binding.{name}"):
                redis.zrem("_kombu.binding_deadlines", name)
        redis.close()

    def _remove_schema(self, postgres_url: str) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as db:
            db.execute("SET lock_timeout = '20s'")
            db.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


class CeleryDurableSide:
    """The Celery workflow: starts from any number of producer threads, each with its own PostgreSQL and RabbitMQ
    connection reused across starts (as request handlers would hold them), and a prefork worker of WORKERS
    processes. ``postgres_url`` is what producers and workers use (a PgMeter's, say); ``direct_url`` what the
    bench itself reads and polls with, so its own queries stay out of any meter."""

    def __init__(self, workdir: Path, names: Names, postgres_url: str = POSTGRES_URL,
                 direct_url: str | None = None) -> None:
        self.workdir, self.names, self.queue = workdir, names, names.prefix
        self.url = with_schema(postgres_url, names.schema)
        self.direct_url = direct_url or postgres_url
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[psycopg.Connection[Any] | Connection] = []
        self._producers: list[threading.Thread] = []
        self._workers: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._numbers = itertools.count()
        with psycopg.connect(self.direct_url, autocommit=True) as db:
            db.execute(f'CREATE SCHEMA "{names.schema}"')
        # Reads and polls: one transaction each, rolled back, so no commit of the bench's own is counted.
        self._observer = psycopg.connect(with_schema(self.direct_url, names.schema))
        self._observer.execute(TABLES)
        self._observer.commit()
        self.exchange, queues = names.topology()
        with Connection(RABBITMQ_URL) as connection:
            channel = connection.channel()
            for queue in queues:
                queue(channel).declare()  # the exchange, the queue and its binding
        self.app = make_app(REDIS_URL, self.queue, self.url)
        self.step = self.app.tasks["bench.durable_step"]

    def worker(self, *, warm: bool = True) -> subprocess.Popen[bytes]:
        env = {"BENCH_REDIS_URL": REDIS_URL, "BENCH_CELERY_DURABLE_QUEUE": self.queue,
               "BENCH_CELERY_DURABLE_PG": self.url}
        process = spawn([str(BIN / "celery"), "-A", "bench.celery_durable_app", "worker", "-P", "prefork",
                         "-c", str(WORKERS), "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip",
                         "--without-mingle", "--without-heartbeat", "-l", "warning"], env, ROOT,
                        self.workdir / "celery-durable.log")
        self._workers.append(process)  # cleanup stops it should the caller never get to
        if warm:
            try:
                self.throughput(20)  # processes forked, connections open
            except BaseException:
                stop(process)
                raise
        return process

    def _connections(self) -> tuple[psycopg.Connection[Any], Producer]:
        """This thread's PostgreSQL connection and confirmed RabbitMQ producer, made on its first start."""
        local = self._local
        if getattr(local, "db", None) is None:
            if self._stopping.is_set():
                raise RuntimeError("the side is being cleaned up")
            db = psycopg.connect(self.url, autocommit=True)
            with self._lock:
                self._opened.append(db)
            amqp = Connection(RABBITMQ_URL, transport_options={"confirm_publish": True})
            with self._lock:
                self._opened.append(amqp)
            local.db, local.amqp = db, amqp
            local.producer = Producer(amqp.channel(), exchange=self.exchange, auto_declare=False)
        return local.db, local.producer

    def _release(self) -> None:
        """Close this thread's connections (a producer thread's, when it is done)."""
        local = self._local
        for name in ("db", "amqp"):
            if (connection := getattr(local, name, None)) is not None:
                with self._lock, suppress(ValueError):
                    self._opened.remove(connection)
                with suppress(Exception):
                    connection.close()
                setattr(local, name, None)

    def start(self) -> str:
        """What the API request would do; safe to call from several threads at once."""
        db, producer = self._connections()
        number, run_id = next(self._numbers), str(uuid.uuid4())
        with db.transaction():
            db.execute(NEW_RUN, (run_id, datetime.now(UTC)))
            db.execute(NEW_STEPS, (run_id, run_id))
        producer.publish({"user_id": run_id, "email": f"bench{number}@example.com", "name": f"Bench {number}"},
                         routing_key="user.created", delivery_mode=2, retry=True, retry_policy={"max_retries": 3})
        chain(self.step.si(run_id, "first", False), self.step.si(run_id, "second", True)).apply_async()
        return run_id

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._observer.execute(sql, params).fetchall()
        finally:
            self._observer.rollback()

    def _wait(self, timeout: float = 120) -> float:
        """When no run is left running; exits, showing the worker's log, if that does not come."""
        try:
            return wait(lambda: self._read("SELECT count(*) FROM runs WHERE status <> 'succeeded'")[0][0] == 0,
                        timeout, "Celery's durable runs to finish", step=0.02)
        except SystemExit as exc:
            log = self.workdir / "celery-durable.log"
            tail = "\n".join(log.read_text().splitlines()[-12:]) if log.exists() else ""
            raise SystemExit(f"{exc}\n{tail}") from None

    def throughput(self, count: int, producers: int = 1) -> float:
        """Runs finished per second: ``count`` starts shared by ``producers`` threads, from the first start (their
        connections made) to the last run succeeded in PostgreSQL."""
        ready = threading.Barrier(producers + 1)
        failures: list[BaseException] = []

        def produce(share: int) -> None:
            try:
                self._connections()
                ready.wait()
                for _ in range(share):
                    if self._stopping.is_set():
                        return
                    self.start()
            except BaseException as exc:
                failures.append(exc)
                ready.abort()
            finally:
                self._release()

        shares = [count // producers + (index < count % producers) for index in range(producers)]
        threads = [threading.Thread(target=produce, args=(share,), daemon=True) for share in shares]
        self._producers += threads
        for thread in threads:
            thread.start()
        with suppress(threading.BrokenBarrierError):
            ready.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return count / (self._wait() - began)

    def drain(self, count: int) -> tuple[float, CpuUse]:
        """Runs finished per second by the worker alone: ``count`` runs started while none runs, then a worker;
        from the first step started to the last run finished, by the rows' own timestamps."""
        ids = [self.start() for _ in range(count)]
        worker = self.worker(warm=False)
        try:
            with cpu_use(worker.pid) as cpu:
                self._wait()
        finally:
            stop(worker)
        began = self._read("SELECT min(started_at) FROM steps WHERE run_id = ANY(%s::uuid[])", (ids,))[0][0]
        ended = self._read("SELECT max(finished_at) FROM runs WHERE id = ANY(%s::uuid[])", (ids,))[0][0]
        return count / (ended - began).total_seconds(), cpu

    def latency(self, seconds: float) -> tuple[list[float], float]:
        """start -> finish of each run at RATE per second (created_at -> the run's finished_at), in ms, and the
        worst lag of the starts behind their schedule."""
        totals, _, lag = self.latency_split(seconds)
        return totals, lag

    def latency_split(self, seconds: float) -> tuple[list[float], dict[str, list[float]], float]:
        """As latency, with each run also split by its steps' timestamps (SEGMENTS)."""
        ids: list[str] = []
        lag = paced(int(RATE * seconds), RATE, lambda _: ids.append(self.start()))
        self._wait()
        totals: list[float] = []
        split: dict[str, list[float]] = {name: [] for name in SEGMENTS}
        for marks in self._read(TIMINGS, (ids,)):
            totals.append((marks[-1] - marks[0]).total_seconds() * 1000)
            for name, a, b in zip(SEGMENTS, marks, marks[1:], strict=False):
                split[name].append((b - a).total_seconds() * 1000)
        return totals, split, lag

    def cleanup(self) -> None:
        """Stop producers and workers, close every connection, then remove every name."""
        self._stopping.set()
        for thread in self._producers:
            thread.join(timeout=30)
        for process in self._workers:
            if process.poll() is None:
                stop(process)
        self._release()
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with suppress(Exception):
                connection.close()
        self.app.close()
        self._observer.close()
        self.names.remove(self.direct_url)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C ignored while cleaning up, so a second one cannot leave half the names behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def celery_durable_side(workdir: Path, postgres_url: str = POSTGRES_URL,
                        direct_url: str | None = None) -> Iterator[CeleryDurableSide]:
    """A side on fresh names; whatever it created is deleted afterwards, whatever happened."""
    names, side = Names(uuid.uuid4().hex[:8]), None
    try:
        side = CeleryDurableSide(workdir, names, postgres_url, direct_url)
        yield side
    finally:
        with uninterrupted():
            if side is not None:
                side.cleanup()
            else:
                names.remove(direct_url or postgres_url)


def report_alone(count: int, seconds: float = 10.0) -> None:
    """The Celery durable side's figures on their own, laid out like workflows.report."""
    with tempfile.TemporaryDirectory() as directory, celery_durable_side(Path(directory)) as side:
        worker = side.worker()
        try:
            with cpu_use(worker.pid) as one_cpu:
                one = side.throughput(count, 1)
            with cpu_use(worker.pid) as four_cpu:
                four = side.throughput(count, 4)
            with cpu_use(worker.pid) as steady:
                samples, split, lag = side.latency_split(seconds)
        finally:
            stop(worker)
        alone, drain_cpu = side.drain(count)

    print(f"\nCelery, durable: an event + 2 chained no-op tasks, prefork {WORKERS}, acks late, Redis results, "
          f"every step committed in PostgreSQL; {count} runs")
    print(f"  worker alone (drain){'':<24}{alone:8.1f}/s")
    print(f"  end to end, 1 producer thread{'':<14}{one:8.1f}/s")
    print(f"  end to end, 4 producer threads{'':<13}{four:8.1f}/s")
    p50, p99 = percentiles(samples)
    print(f"\n  start -> finish at {RATE}/s for {seconds:.0f} s{'':<9}p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
          f"({len(samples)} runs, starts <= {lag:.0f} ms late)")
    for name, values in split.items():
        p50, p99 = percentiles(values)
        print(f"    {name:<70}{p50:6.1f} ms  {p99:6.1f} ms")
    print("\n  CPU per workflow (ms):")
    print(f"    end to end, 1 producer:  {one_cpu.describe(count)}")
    print(f"    end to end, 4 producers: {four_cpu.describe(count)}")
    print(f"    worker alone (drain):    {drain_cpu.describe(count)}")
    noise = max(phase.share("other processes") for phase in (one_cpu, four_cpu, steady, drain_cpu))
    print(f"\n  other processes took up to {noise:.0%} of the cores in a measured stretch"
          + ("; the figures above are skewed: run again on a quiet machine" if noise > 0.05 else ""))
