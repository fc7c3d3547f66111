"""The plane's and plain Celery's sides of the workflow figures (bench/workflow_report.py runs them with the
peers), and the tools every side shares: producers, paced starts, CPU use by process group, profiles.

The plane's runs start one per transaction (as a registration request would) while `flowplane worker
--concurrency 2` runs them; a rate counts from the first start to the last run `succeeded` in PostgreSQL.
Celery's chains are sent from this process while its worker runs them; the rate counts from the first send
to the last link having run. Every server is shared, every name is fresh (a PostgreSQL schema, Redis key
prefixes, RabbitMQ prefix), and all of it is deleted at the end."""

import cProfile
import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
from redis import Redis

from bench import wait

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
WORKERS = 2
RATE, TARGET_P99_MS = 50, 100.0
NAME = "bench_registration"
# user_registration.toml's shape with no-op tasks: the event's outbox row commits with the start, so the
# event step is done then; the run is done when `second` succeeds.
DEFINITION = """
name = "bench_registration"
description = "The registration shape with no-op tasks: announce, then first, then second."

[input]
n = "int"

[[steps]]
id = "announce"
event = "user.created"
[steps.payload]
user_id = "6f1c2a4e-8d3b-4f5a-9c7e-2b1d0a9e8f70"
email = "bench{{ input.n }}@example.com"
name = "Bench {{ input.n }}"

[[steps]]
id = "first"
task = "bench.wf_noop"

[[steps]]
id = "second"
task = "bench.wf_noop"
after = ["first"]
"""


def paced(count: int, rate: float, send: Callable[[int], None]) -> float:
    """send(0..count-1) at a steady rate; the worst lag behind that schedule, in ms."""
    began, worst = time.perf_counter(), 0.0
    for index in range(count):
        target = began + index / rate
        while (now := time.perf_counter()) < target:
            time.sleep(min(0.001, target - now))
        worst = max(worst, now - target)
        send(index)
    return worst * 1000


def produce(start: Callable[[], object], count: int, producers: int = 1) -> float:
    """``count`` starts shared by ``producers`` threads, as concurrent API requests would make them; returns
    perf_counter() when they began."""
    if producers == 1:  # in this thread: a profile of the starts sees them
        began = time.perf_counter()
        for _ in range(count):
            start()
        return began
    shares = [count // producers + (1 if index < count % producers else 0) for index in range(producers)]
    ready, failures = threading.Barrier(producers + 1), list[BaseException]()

    def run(share: int) -> None:
        ready.wait()
        try:
            for _ in range(share):
                start()
        except BaseException as exc:  # re-raised below: a start that failed must not pass for a slow one
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    ready.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return began


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FLOWPLANE_")}
    with log.open("ab") as sink:
        return subprocess.Popen(argv, cwd=cwd, env={**clean, **env, "PYTHONPATH": str(ROOT)}, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a straggling child of this worker only


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


class PlaneSide:
    def __init__(self, workdir: Path, schema: str, prefix: str) -> None:
        from app.bootstrap import build
        from app.config import load_settings

        (workdir / "workflows").mkdir()
        (workdir / "workflows" / f"{NAME}.toml").write_text(DEFINITION)
        self.workdir = workdir
        self.env = {
            "FLOWPLANE_DATABASE__URL": f"{POSTGRES_URL}?options=-csearch_path%3D{schema}",
            "FLOWPLANE_REDIS__URL": REDIS_URL, "FLOWPLANE_REDIS__KEY_PREFIX": f"{prefix}:",
            "FLOWPLANE_RABBITMQ__URL": RABBITMQ_URL, "FLOWPLANE_RABBITMQ__PREFIX": f"{prefix}.",
            "FLOWPLANE_TASKS__MODULES": "bench.workflow_tasks", "FLOWPLANE_API__LOG_LEVEL": "warning",
            "FLOWPLANE_WORKFLOWS__DIRECTORY": str(workdir / "workflows"),
            "FLOWPLANE_TASKS__SQLITE_PATH": str(workdir / "tasks.db"),
            "FLOWPLANE_RABBITMQ__EMBEDDED_PATH": str(workdir / "events.db"),
            "FLOWPLANE_EVENTS__CRM_FAKE_PATH": str(workdir / "crm.db"),
            "FLOWPLANE_EMAIL__MAIL_DIR": str(workdir / "mail")}
        self.container = build(load_settings(environ=self.env), migrate_database=True)  # the empty schema
        self.reader = self.container  # what the bench reads with: never through a meter
        self.numbers = itertools.count(1)

    @contextmanager
    def through(self, url: str) -> Iterator[None]:
        """Starts and workers on ``url`` within the block: the same database, reached through a meter."""
        from app.bootstrap import build
        from app.config import load_settings

        env, container = self.env, self.container
        self.env = {**env, "FLOWPLANE_DATABASE__URL": url}
        self.container = build(load_settings(environ=self.env))
        try:
            yield
        finally:
            self.container.close()
            self.env, self.container = env, container

    def worker(self, *, warm: bool = True, **env: str) -> subprocess.Popen[bytes]:
        process = spawn([str(BIN / "flowplane"), "worker", "--concurrency", str(WORKERS)],
                        {**self.env, "FLOWPLANE_DATABASE__AUTO_MIGRATE": "false", **env}, self.workdir,
                        self.workdir / "plane.log")
        if warm:
            self.throughput(20)  # processes forked, connections open, the definition loaded
        return process

    def start(self) -> str:
        from sqlmodel import Session

        with Session(self.container.engine, expire_on_commit=False) as db, db.begin():
            return self.container.runner.start(db, NAME, {"n": next(self.numbers)}).run_id

    def statuses(self) -> dict[str, int]:
        from sqlalchemy import func, select
        from sqlmodel import col

        from app.db.models import WorkflowRun

        with self.reader.engine.connect() as connection:
            rows = connection.execute(select(col(WorkflowRun.status), func.count()).group_by(col(WorkflowRun.status)))
            return {str(status): int(count) for status, count in rows}

    def wait(self, timeout: float = 120) -> float:
        """When no run is left running; exits, showing the worker's log, if one did not succeed."""
        try:
            ended = wait(lambda: "running" not in self.statuses(), timeout, "the plane's runs to finish", step=0.02)
        except SystemExit as exc:
            raise SystemExit(f"{exc}\n{self._log_tail()}") from None
        if failed := {k: v for k, v in self.statuses().items() if k != "succeeded"}:
            raise SystemExit(f"bench: workflow runs did not succeed: {failed}\n{self._log_tail()}")
        return ended

    def _log_tail(self, lines: int = 12) -> str:
        log = self.workdir / "plane.log"  # in the temporary directory, gone once the bench exits
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""

    def throughput(self, count: int, producers: int = 1,
                   profile: cProfile.Profile | None = None) -> tuple[float, float]:
        """(runs finished per second, runs started per second) for ``count`` runs started back to back by
        ``producers`` threads."""
        if profile is not None:
            profile.enable()
        began = produce(self.start, count, producers)
        if profile is not None:
            profile.disable()
        started = time.perf_counter()
        return count / (self.wait() - began), count / (started - began)

    def drain(self, count: int) -> tuple[float, "CpuUse"]:
        """Runs finished per second by the worker alone: ``count`` runs started while none runs, then a worker;
        from the first step started to the last run finished, by the plane's own timestamps."""
        from sqlalchemy import func
        from sqlmodel import Session, col, select

        from app.db.models import StepRun, WorkflowRun

        ids = [self.start() for _ in range(count)]
        worker = self.worker(warm=False)
        try:
            with cpu_use(worker.pid) as cpu:
                self.wait()
        finally:
            stop(worker)
        with Session(self.reader.engine) as db:
            began = db.exec(select(func.min(StepRun.started_at)).where(col(StepRun.run_id).in_(ids))).one()
            ended = db.exec(select(func.max(WorkflowRun.finished_at)).where(col(WorkflowRun.id).in_(ids))).one()
        assert began is not None and ended is not None
        return count / (ended - began).total_seconds(), cpu

    def latency(self, seconds: float) -> tuple[list[float], dict[str, list[float]], float]:
        """start -> finish of each run at RATE per second (the plane's own created_at and finished_at), the
        same split by the steps' timestamps, and the worst lag of the starts behind their schedule."""
        ids: list[str] = []
        lag = paced(int(RATE * seconds), RATE, lambda _: ids.append(self.start()))
        self.wait()
        return (*self._timings(ids), lag)

    def _timings(self, ids: list[str]) -> tuple[list[float], dict[str, list[float]]]:
        from sqlmodel import Session, col, select

        from app.db.models import StepRun, WorkflowRun

        with Session(self.reader.engine) as db:
            runs = {run.id: run for run in db.exec(select(WorkflowRun).where(col(WorkflowRun.id).in_(ids)))}
            steps = {(row.run_id, row.step_id): row for row in db.exec(select(StepRun).where(
                col(StepRun.run_id).in_(ids), col(StepRun.step_id).in_(["first", "second"])))}
        totals: list[float] = []
        split: dict[str, list[float]] = {name: [] for name in SEGMENTS}
        for run_id, run in runs.items():
            assert run.finished_at is not None
            first, second = steps[(run_id, "first")], steps[(run_id, "second")]
            marks = [run.created_at, first.started_at, first.finished_at, second.started_at, run.finished_at]
            totals.append((run.finished_at - run.created_at).total_seconds() * 1000)
            for name, (a, b) in zip(SEGMENTS, zip(marks, marks[1:], strict=False), strict=True):
                assert a is not None and b is not None
                split[name].append((b - a).total_seconds() * 1000)
        return totals, split

    def cleanup(self) -> None:
        from kombu.connection import Connection

        self.container.close()  # first: its event thread publishes what it holds, declaring the topology again
        with Connection(RABBITMQ_URL) as connection:
            self.container.topology.delete(connection.channel())


SEGMENTS = ("start, until `first` starts (commit, event confirmed, task queued, taken)",
            "`first` runs (step records, no-op, finish + dispatch `second`)",
            "until `second` starts (commit, task queued, taken)",
            "`second` runs (step records, no-op, finish the run)")


class CelerySide:
    def __init__(self, workdir: Path, prefix: str) -> None:
        os.environ.setdefault("BENCH_REDIS_URL", REDIS_URL)
        from bench import celery_app

        self.module = celery_app
        self.queue, self.workdir = f"{prefix}-celery", workdir
        self.redis = Redis.from_url(REDIS_URL)

    def worker(self, pool: str, concurrency: int, *, warm: bool = True,
               durable: bool = False) -> subprocess.Popen[bytes]:
        env = {"BENCH_REDIS_URL": REDIS_URL, "BENCH_CELERY_QUEUE": self.queue} | (
            {"BENCH_CELERY_DURABLE": "1"} if durable else {})
        process = spawn([str(BIN / "celery"), "-A", "bench.celery_app", "worker", "-P", pool, "-c", str(concurrency),
                         "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
                         "--without-heartbeat", "-l", "warning"], env, ROOT, self.workdir / "celery.log")
        if warm:
            self.throughput(20)
        return process

    def send(self, key: str) -> None:
        from celery import chain

        link = self.module.noop.si().set(queue=self.queue)
        end = self.module.chain_end.si(key, time.time()).set(queue=self.queue)
        chain(link, end).apply_async()

    def throughput(self, count: int, producers: int = 1) -> float:
        key = f"{self.queue}-done-{uuid.uuid4().hex[:6]}"
        began = produce(lambda: self.send(key), count, producers)
        ended = wait(lambda: self.redis.llen(key) >= count, 120, "Celery's chains to finish", step=0.005)
        self.redis.delete(key)
        return count / (ended - began)

    def drain(self, count: int) -> tuple[float, "CpuUse"]:
        """Chains finished per second by the worker alone: ``count`` chains sent while none runs, then a
        worker; from its first take (the queue shrinks) to the last link having run."""
        key = f"{self.queue}-drain"
        for _ in range(count):
            self.send(key)
        worker = self.worker("prefork", WORKERS, warm=False)
        try:
            with cpu_use(worker.pid) as cpu:
                began = wait(lambda: self.redis.llen(self.queue) < count, 60, "Celery to start", step=0.001)
                ended = wait(lambda: self.redis.llen(key) >= count, 120, "Celery's chains to finish", step=0.005)
        finally:
            stop(worker)
        self.redis.delete(key)
        return count / (ended - began), cpu

    def latency(self, seconds: float) -> tuple[list[float], float]:
        key = f"{self.queue}-latency"
        count = int(RATE * seconds)
        lag = paced(count, RATE, lambda _: self.send(key))
        wait(lambda: self.redis.llen(key) >= count, 60, "Celery's latency chains", step=0.02)
        samples = [float(value) * 1000 for value in self.redis.lrange(key, 0, -1)]
        self.redis.delete(key)
        return samples, lag

    def cleanup(self) -> None:
        self.redis.delete(self.queue, *self.redis.scan_iter(f"*{self.queue}*"))
        self.module.forget_unacked(self.redis, self.queue)
        # The worker's remote-control reply queue sits in kombu's shared binding tables: unbind it, then drop
        # deadlines of tables left empty (what kombu's own sweep would do later).
        for key in self.redis.scan_iter("_kombu.binding*"):
            if self.redis.type(key) == b"set" and (
                    members := [m for m in self.redis.smembers(key) if self.queue.encode() in m]):
                self.redis.srem(key, *members)
        for exchange in self.redis.zrange("_kombu.binding_deadlines", 0, -1):
            name = exchange.decode() if isinstance(exchange, bytes) else str(exchange)
            if not self.redis.exists(f"_kombu.binding.{name}"):
                self.redis.zrem("_kombu.binding_deadlines", name)


SERVERS = {"postgres": "PostgreSQL", "redis-server": "Redis", "beam.smp": "RabbitMQ"}


class CpuUse:
    """CPU seconds by process group over a stretch of time; servers whole, other clients' work included."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}  # bench, worker, the servers, other processes
        self.elapsed = 0.0

    def share(self, group: str | None = None) -> float:
        """Of all the cores' time: one group's, or everyone's."""
        used = self.seconds[group] if group else sum(self.seconds.values())
        return used / (self.elapsed * (os.cpu_count() or 1))

    def describe(self, workflows: int) -> str:
        parts = ", ".join(f"{group} {seconds * 1000 / workflows:.1f}" for group, seconds in self.seconds.items())
        return f"{parts}; cores {self.share():.0%} busy"


def _cpu_snapshot(workers: tuple[int, ...]) -> dict[int, tuple[str, float]]:
    """pid -> (group, CPU seconds so far) for this process, the workers' process trees and the servers."""
    stats: dict[int, tuple[str, int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            text = (entry / "stat").read_text()
            comm, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
            stats[int(entry.name)] = (comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, grew = set(workers), True
    while grew:
        grew = False
        for pid, (_, parent, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    groups = {pid: "bench" if pid == os.getpid() else "worker" if pid in tree else SERVERS.get(comm, "")
              for pid, (comm, _, _) in stats.items()}
    busy = [int(ticks) for ticks in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    everyone = (busy[0] + busy[1] + busy[2] + busy[5] + busy[6]) / tick  # user, nice, system, irq, softirq
    return {-1: ("all", everyone), **{pid: (groups[pid], seconds) for pid, (_, _, seconds) in stats.items()
                                      if groups[pid]}}


@contextmanager
def cpu_use(*workers: int) -> Iterator[CpuUse]:
    """CPU used while the block runs: this process, the trees of ``workers`` (the engine's worker processes),
    each server, and everything else."""
    use, before, began = CpuUse(), _cpu_snapshot(workers), time.perf_counter()
    yield use
    after, use.elapsed = _cpu_snapshot(workers), time.perf_counter() - began
    for group in ("bench", "worker", *SERVERS.values(), "all"):
        use.seconds[group] = sum(seconds - before.get(pid, (group, 0.0))[1]
                                 for pid, (name, seconds) in after.items() if name == group)
    everyone = use.seconds.pop("all")
    use.seconds["other processes"] = max(0.0, everyone - sum(use.seconds.values()))


# (file suffix, function, label): cumulative times, read from cProfile's statistics
WORKER_PARTS = [("huey/consumer.py", "loop", "worker loop, all of it"),
                ("app/plane/tasks/huey_plane.py", "dequeue", "  take the next task, ack the last (Redis; or idle)"),
                ("app/workflows/runner.py", "step_started", "  record `started` (a PostgreSQL transaction)"),
                ("bench/workflow_tasks.py", "noop", "  the no-op handler"),
                ("app/workflows/runner.py", "_finish", "  record `succeeded`, dispatch what is next (transaction)"),
                ("app/workflows/runner.py", "_lock", "    lock the run, load it and its steps"),
                ("app/workflows/runner.py", "_advance", "    decide, write the outbox row"),
                ("app/plane/plane.py", "_on_commit", "    after commit: send to Redis, delete the outbox row")]
PRODUCER_PARTS = [("bench/workflows.py", "start", "start a run, all of it"),
                  ("app/workflows/runner.py", "start", "  runner.start inside the transaction"),
                  ("app/plane/plane.py", "_on_commit", "  after commit"),
                  ("app/plane/events/publisher.py", "publish", "    publish the event, await RabbitMQ's confirm"),
                  ("app/plane/tasks/huey_plane.py", "send", "    queue the first task (Redis)")]
COMMON_PARTS = [("sqlalchemy/engine/default.py", "do_execute", "PostgreSQL statements (all)"),
                ("sqlalchemy/engine/default.py", "do_executemany", "PostgreSQL executemany (all)"),
                ("sqlalchemy/dialects/postgresql/_psycopg_common.py", "do_ping",
                 "PostgreSQL pool pre-ping, SELECT 1 per checkout (all)"),
                ("sqlalchemy/engine/default.py", "do_commit", "PostgreSQL commits (all)")]


def _cumulative(stats: dict[Any, Any], suffix: str, function: str) -> tuple[int, float]:
    """(calls, cumulative seconds) of the function(s) that match."""
    matches = [(value[1], value[3]) for (file, _, name), value in stats.items()
               if name == function and file.replace(os.sep, "/").endswith(suffix)]
    return sum(calls for calls, _ in matches), sum(seconds for _, seconds in matches)


def _section(title: str, stats: dict[Any, Any], parts: list[tuple[str, str, str]], runs: float) -> list[str]:
    lines = [f"  {title}:"]
    for suffix, function, label in [*parts, *COMMON_PARTS]:
        calls, seconds = _cumulative(stats, suffix, function)
        if not calls:
            continue
        lines.append(f"    {label:<62} {seconds * 1000 / runs:6.2f} ms   {calls / runs:5.1f} calls")
    return lines


def profiled(plane: PlaneSide, count: int, directory: Path) -> str:
    """Where a workflow's time goes: cProfile in this process (the starts) and in each worker process."""
    import pstats

    dumps = directory / "profiles"
    dumps.mkdir()
    producer = cProfile.Profile()
    worker = plane.worker(BENCH_PROFILE_DIR=str(dumps))
    try:
        plane.throughput(count, profile=producer)
    finally:
        stop(worker)
    lines = [f"\n  where the time goes (cProfile, {count} runs back to back; wall ms per workflow, inflated by "
             "the profiler):",
             *_section("this process, starting runs", pstats.Stats(producer).stats,  # type: ignore[attr-defined]
                       PRODUCER_PARTS, count)]
    if files := [str(path) for path in dumps.glob("*.prof")]:
        stats = pstats.Stats(*files).stats  # type: ignore[attr-defined]
        steps = _cumulative(stats, "bench/workflow_tasks.py", "noop")[0]  # the profiled ones; 2 per workflow
        lines += _section(f"worker processes ({len(files)} profiled)", stats, WORKER_PARTS, steps / 2)
    return "\n".join(lines)


@contextmanager
def own_schema(name: str) -> Iterator[str]:
    """A PostgreSQL schema made for the block and dropped after it, whatever happened; yields the URL whose
    search_path it is."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def sides(workdir: Path) -> Iterator[tuple[PlaneSide, CelerySide]]:
    """Both sides on fresh names; whatever they created is deleted afterwards, whatever happened."""
    tag = uuid.uuid4().hex[:8]
    schema, prefix = f"bench_wf_{tag}", f"bench-wf-{tag}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    plane: PlaneSide | None = None
    celery: CelerySide | None = None
    try:
        plane, celery = PlaneSide(workdir, schema, prefix), CelerySide(workdir, prefix)
        yield plane, celery
    finally:
        for side in (plane, celery):
            if side is not None:
                side.cleanup()
        redis = Redis.from_url(REDIS_URL)
        if keys := list(redis.scan_iter(f"*{prefix}*")):
            redis.delete(*keys)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
