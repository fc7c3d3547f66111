"""The workflow benchmark's DBOS Transact peer: the registration shape (a confirmed persistent event to a
topic exchange with three durable queues, then two chained no-op steps) as a DBOS workflow of three steps
(bench/dbos_worker.py), run by 2 worker processes on PostgreSQL, measured like the plane in
bench/workflows.py.

This process only enqueues, through `DBOSClient` (inserts an ENQUEUED row; no executor is launched here,
so it never runs a workflow), and reads DBOS's own system tables; each worker process launches DBOS with
an executor id of its own (`executor_id` in the config, which `DBOS__VMID` would otherwise set).

Tunings, and why:
  - the queue: `worker_concurrency=10` per process (at most ten workflows in flight in each executor's
    thread pool, so a backlog is taken in batches of ten rather than all at once), no global concurrency
    (a global limit makes every claim count the pending rows under REPEATABLE READ; without one, a claim is
    SELECT ... FOR UPDATE SKIP LOCKED, so the two executors never contend), `polling_interval_sec=0.05`
    (DBOS queues are polled, not notified: its default of 1 s would put ~500 ms on every start; 50 ms
    costs each idle executor ~20 small queries a second);
  - `application_version` pinned in both workers, so both are "the latest version", which alone may take
    the version-less workflows a client enqueues; `run_migrations=False` in the workers, as this process
    migrated the database (`DBOS.migrate`) before any of them starts;
  - everything else as DBOS ships it: system database pool of 20 per process, LISTEN/NOTIFY on (it serves
    events and messages, not queues), steps not retried (a failure shows as an ERROR workflow).

Figures come from DBOS's own timestamps in `dbos.workflow_status`, all on PostgreSQL's clock: `created_at`
(enqueued), `started_at_epoch_ms` (claimed: the UPDATE that turns ENQUEUED into PENDING for an executor),
`completed_at` (set to SUCCESS; that write's `updated_at` too). The drain counts from the first claim, the
moment the first workflow left the queue, rather than its first step's record, which would leave the
dispatch out; latency is created_at -> completed_at. The latency split adds the steps' records in
`dbos.operation_outputs` (started/completed_at_epoch_ms, from the worker's clock, the same machine's).

What it costs (measured here): each workflow is ~15 statements on the system database, each its own
transaction and pool checkout (per step: a status check, an output check, an ownership check, the output's
insert; then the outcome), and polling at 50 ms keeps two idle executors at ~20% of a core between them
plus PostgreSQL's share.

Every run uses fresh names: a PostgreSQL database `bench_dbos_<tag>` for DBOS's system tables (schema
`dbos` in it), RabbitMQ names prefixed `bench-dbos-<tag>.`; all of it is deleted at the end, whatever
happened (the workers' process groups killed first)."""

import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from dbos import DBOS, DBOSClient
from kombu.connection import Connection

from bench import wait
from bench.dbos_worker import APP, WORKFLOW, topology
from bench.workflows import (
    POSTGRES_URL,
    RABBITMQ_URL,
    RATE,
    ROOT,
    WORKERS,
    CpuUse,
    cpu_use,
    paced,
    produce,
    spawn,
    stop,
)

QUEUE = "bench_registration"  # inside the run's own database: needs no tag
WORKER_CONCURRENCY, POLLING_INTERVAL = 10, 0.05
UNFINISHED = {"ENQUEUED", "PENDING", "DELAYED"}
# (label, from, to) over a workflow's timestamps in ms, for the latency split
SEGMENTS = (("enqueued, until claimed by an executor (queue poll)", "created", "claimed"),
            ("claimed, until `announce` starts", "claimed", "announce_start"),
            ("`announce` (publish, RabbitMQ's confirm, step record)", "announce_start", "announce_end"),
            ("`first` and `second` (two step records)", "announce_end", "second_end"),
            ("until the workflow's SUCCESS", "second_end", "completed"))


class DbosSide:
    """DBOS Transact on its own system database and RabbitMQ names; cleanup() deletes both."""

    def __init__(self, workdir: Path, tag: str) -> None:
        self.workdir, self.tag = workdir, tag
        self.database, self.prefix = f"bench_dbos_{tag}", f"bench-dbos-{tag}."
        self.url = urlsplit(POSTGRES_URL)._replace(path=f"/{self.database}").geturl()
        self.worker_url = self.url  # what producers and workers connect to (a meter's, within through())
        self.processes: list[subprocess.Popen[bytes]] = []
        self.latency_ids: list[str] = []  # the last latency() run's workflows, for split()
        self.client: DBOSClient | None = None
        self.db: psycopg.Connection[Any] | None = None
        self._created = self._declared = False
        self._lock = threading.Lock()
        self._next_n = 0
        try:  # whatever was made before a failure (or ^C) is deleted again; deleting is idempotent
            self._created = self._declared = True
            with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.database}"')
            with Connection(RABBITMQ_URL) as rabbit:
                channel = rabbit.channel()
                for queue in topology(self.prefix)[1]:
                    queue(channel).declare()  # the exchange and the binding too
            DBOS.migrate(self.url)  # DBOSClient never migrates; the workers then need not either
            self.client = DBOSClient(system_database_url=self.url, application_name=APP,
                                     system_database_pool_size=8)  # up to 4 producer threads and the polls
            self.client.register_queue(QUEUE, worker_concurrency=WORKER_CONCURRENCY,
                                       polling_interval_sec=POLLING_INTERVAL, application_name=APP)
            self.db = psycopg.connect(self.url, autocommit=True)
        except BaseException:
            self.cleanup()
            raise

    @property
    def pids(self) -> list[int]:
        """The running workers' pids, for cpu_use()."""
        return [process.pid for process in self.processes if process.poll() is None]

    def workers(self, *, warm: bool = True) -> list[subprocess.Popen[bytes]]:
        """Start the worker processes; warm: ~20 workflows run first (imports done, DBOS launched, the
        queue found, connections open)."""
        env = {"BENCH_DBOS_URL": self.worker_url, "BENCH_DBOS_PREFIX": self.prefix, "BENCH_RABBITMQ_URL": RABBITMQ_URL}
        for index in range(WORKERS):
            self.processes.append(spawn([sys.executable, "-m", "bench.dbos_worker"],
                                        {**env, "BENCH_DBOS_EXECUTOR": f"bench-dbos-{index}"}, ROOT,
                                        self.workdir / f"dbos-{index}.log"))
        if warm:
            self.throughput(20)
        return list(self.processes)

    @contextmanager
    def through(self, url: str) -> Iterator[None]:
        """Producers and workers started within the block on ``url``: the same database through a meter."""
        client = self.client
        self.worker_url = url
        self.client = DBOSClient(system_database_url=url, application_name=APP, system_database_pool_size=8)
        try:
            yield
        finally:
            self.client.destroy()
            self.client, self.worker_url = client, self.url

    def stop_workers(self) -> None:
        while self.processes:
            stop(self.processes.pop())

    def start(self) -> str:
        """Enqueue one workflow; safe from several threads (the client's engine pools its connections)."""
        with self._lock:
            self._next_n += 1
            n = self._next_n
        assert self.client is not None
        return self.client.enqueue({"queue_name": QUEUE, "workflow_name": WORKFLOW}, n).get_workflow_id()

    def statuses(self) -> dict[str, int]:
        assert self.db is not None
        rows = self.db.execute("SELECT status, count(*) FROM dbos.workflow_status GROUP BY status").fetchall()
        return {str(status): int(count) for status, count in rows}

    def _finished(self) -> bool:
        if exited := [process.args for process in self.processes if process.poll() is not None]:
            raise SystemExit(f"bench: a DBOS worker exited: {exited}")  # wait() adds the logs
        return not UNFINISHED & self.statuses().keys()

    def wait(self, timeout: float = 120) -> float:
        """When no workflow is left to run; exits, showing the workers' logs, if one did not succeed."""
        try:
            ended = wait(self._finished, timeout, "DBOS's workflows to finish", step=0.02)
        except SystemExit as exc:
            raise SystemExit(f"{exc}\n{self._log_tail()}") from None
        if failed := {status: n for status, n in self.statuses().items() if status != "SUCCESS"}:
            raise SystemExit(f"bench: DBOS workflows did not succeed: {failed}\n{self._log_tail()}")
        return ended

    def _log_tail(self, lines: int = 12) -> str:
        logs = sorted(self.workdir.glob("dbos-*.log"))
        return "\n".join(f"{log.name}:\n" + "\n".join(log.read_text().splitlines()[-lines:]) for log in logs)

    def throughput(self, count: int, producers: int = 1) -> float:
        """Workflows finished per second, from the first enqueue to the last SUCCESS, for ``count`` enqueued
        back to back by ``producers`` threads sharing the count."""
        began = produce(self.start, count, producers)
        return count / (self.wait() - began)

    def drain(self, count: int) -> tuple[float, CpuUse]:
        """Workflows finished per second by the workers alone: ``count`` enqueued while none runs, then the
        workers; from the first claim (started_at_epoch_ms) to the last SUCCESS (completed_at)."""
        self.stop_workers()
        ids = [self.start() for _ in range(count)]
        try:
            with cpu_use(*(process.pid for process in self.workers(warm=False))) as cpu:
                self.wait()
        finally:
            self.stop_workers()
        assert self.db is not None
        began, ended = self.db.execute(
            "SELECT min(started_at_epoch_ms), max(completed_at) FROM dbos.workflow_status "
            "WHERE workflow_uuid = ANY(%s)", [ids]).fetchone() or (None, None)
        assert began is not None and ended is not None
        return count / ((ended - began) / 1000), cpu

    def latency(self, seconds: float) -> tuple[list[float], float]:
        """Enqueue -> SUCCESS of each workflow at RATE per second (created_at -> completed_at), and the worst
        lag of the enqueues behind their schedule, in ms."""
        ids: list[str] = []
        lag = paced(int(RATE * seconds), RATE, lambda _: ids.append(self.start()))
        self.wait()
        self.latency_ids = ids
        return [float(row["completed"] - row["created"]) for row in self._timings(ids)], lag

    def _timings(self, ids: list[str]) -> list[dict[str, int]]:
        """Each workflow's timestamps: its status row's, and its steps' (operation_outputs)."""
        assert self.db is not None
        return [dict(zip(("created", "claimed", "completed", "announce_start", "announce_end", "second_end"), row,
                         strict=True)) for row in self.db.execute(
            """SELECT w.created_at, w.started_at_epoch_ms, w.completed_at, a.started_at_epoch_ms,
                      a.completed_at_epoch_ms, s.completed_at_epoch_ms
               FROM dbos.workflow_status w
               JOIN dbos.operation_outputs a ON a.workflow_uuid = w.workflow_uuid AND a.function_name = 'announce'
               JOIN dbos.operation_outputs s ON s.workflow_uuid = w.workflow_uuid AND s.function_name = 'second'
               WHERE w.workflow_uuid = ANY(%s) AND w.status = 'SUCCESS'""", [ids])]

    def split(self, ids: list[str]) -> dict[str, list[float]]:
        """The latency by segment, from the workflows' and their steps' timestamps (ms)."""
        rows = self._timings(ids)
        return {label: [float(row[b] - row[a]) for row in rows] for label, a, b in SEGMENTS}

    def cleanup(self) -> None:
        """Idempotent; every part is attempted even when an earlier one fails. Workers first, so nothing
        writes to what is then deleted."""
        with ExitStack() as stack:  # callbacks run last-registered first
            if self._created:
                stack.callback(self._drop_database)
            if self._declared:
                stack.callback(self._delete_topology)
            if self.client is not None:
                stack.callback(self.client.destroy)
            if self.db is not None:
                stack.callback(self.db.close)
            self.client = self.db = None
            stack.callback(self.stop_workers)

    def _delete_topology(self) -> None:
        self._declared = False
        exchange, queues = topology(self.prefix)
        with Connection(RABBITMQ_URL) as rabbit:
            channel = rabbit.channel()
            for queue in queues:
                channel.queue_delete(queue.name)
            channel.exchange_delete(exchange.name)

    def _drop_database(self) -> None:
        self._created = False
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@contextmanager
def dbos_side(workdir: Path) -> Iterator[DbosSide]:
    """The DBOS peer on fresh names; everything it created is deleted afterwards, whatever happened."""
    side = DbosSide(workdir, uuid.uuid4().hex[:8])  # cleans up itself if it fails half-way
    try:
        yield side
    finally:
        side.cleanup()


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return f"{statistics.median(ordered):6.1f} ms  {p99:6.1f} ms"


def report_alone(count: int, seconds: float = 10.0) -> None:
    """The DBOS peer by itself: drain, end to end with 1 and 4 producers, latency at RATE per second."""
    with tempfile.TemporaryDirectory() as directory, dbos_side(Path(directory)) as side:
        alone, drain_cpu = side.drain(count)
        phases = [drain_cpu]  # every measured stretch, to tell whether other work skewed it
        side.workers()
        rates: dict[int, tuple[float, CpuUse]] = {}
        for producers in (1, 4):
            with cpu_use(*side.pids) as cpu:
                rate = side.throughput(count, producers)
            rates[producers] = rate, cpu
            phases.append(cpu)
        with cpu_use(*side.pids) as steady:
            samples, lag = side.latency(seconds)
        phases.append(steady)
        split = side.split(side.latency_ids)
        side.stop_workers()
    print(f"\nDBOS Transact {_version()}: an event + 2 no-op steps, {WORKERS} worker processes "
          f"(worker_concurrency {WORKER_CONCURRENCY}, polled every {POLLING_INTERVAL * 1000:.0f} ms); {count} "
          f"workflows, then {RATE}/s for {seconds:.0f} s\n")
    rows = [("workers alone (first claim -> last SUCCESS)", alone, drain_cpu)]
    rows += [(f"end to end, {n} producer{'s' if n > 1 else ''} (first enqueue -> last SUCCESS)", rate, cpu)
             for n, (rate, cpu) in rates.items()]
    for label, rate, cpu in rows:
        print(f"  {label:<58}{rate:8.1f}/s\n    CPU ms per workflow: {cpu.describe(count)}")
    print(f"\n  enqueue -> SUCCESS at {RATE}/s{'':<41}p50        p99   ({len(samples)} workflows, enqueues <= "
          f"{lag:.0f} ms late)\n  {'created_at -> completed_at':<64}{_percentiles(samples)}")
    for label, values in split.items():
        print(f"    {label:<62}{_percentiles(values)}")
    noise = max(phase.share("other processes") for phase in phases)
    print(f"\n  other processes took up to {noise:.0%} of the cores in a measured stretch"
          + ("; the figures above are skewed: run again on a quiet machine" if noise > 0.05 else ""))


def _version() -> str:
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    report_alone(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
