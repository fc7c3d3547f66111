"""Waits at scale, on SQLite and on PostgreSQL (tasks on Redis in both; events off: the waits are woken by the
plane's publish hook, which runs whether events go to RabbitMQ or not, so the broker is not what is measured).

- park: N runs started one per transaction (as registrations are), half parked on `wait_for` an event, half
  on a 30-day timer; runs parked per second.
- idle: CPU and resident memory of `flowplane worker` and `flowplane api` (whole process trees), started fresh
  with 0 runs parked and again with N, each left idle for a while.
- wake by event: parked users' `user.email_verified` published at a steady rate; publish -> the waiting
  step's dependent task started (the worker's own timestamp), p50/p99, and the publish call itself.
- timers: M more runs parked on a 1-hour timer, then the test clock (the worker's too) moved by an hour:
  timers fired per second by the worker's sweep, from the move to the last of them woken.
- the query plans of the two look-ups, to show neither scans the parked runs.
Everything it creates (a schema, Redis keys, a temporary directory) is deleted at the end."""

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis

from bench import wait
from bench.workflows import REDIS_URL, own_schema, spawn, stop

BIN = Path(sys.executable).parent
EVENT_WAIT = """name = "bench_event_wait"
description = "Parks until its user's address is verified (or 30 days), then runs a no-op."

[input]
user_id = "str"

[[steps]]
id = "verified"
wait_for = "user.email_verified"
match = { user_id = "{{ input.user_id }}" }
timeout = "30d"

[[steps]]
id = "next"
task = "bench.wf_noop"
after = ["verified"]
"""
TIMER_WAIT = """name = "bench_timer_{hours}"
description = "Sleeps {hours} h, then runs a no-op."

[input]
n = "int"

[[steps]]
id = "nap"
wait = "{hours}h"

[[steps]]
id = "next"
task = "bench.wf_noop"
after = ["nap"]
"""
IDLE_SECONDS = 10.0
WAKE_RATE = 20  # events per second


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def _tree(root: int) -> list[int]:
    """The process and its descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                text = (entry / "stat").read_text()
                parents[int(entry.name)] = int(text[text.rindex(")") + 2:].split()[1])
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)


def _cpu_seconds(pids: list[int]) -> float:
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        with suppress(OSError):
            text = Path(f"/proc/{pid}/stat").read_text()
            fields = text[text.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


class Idle:
    """A process tree's idle cost: CPU share of one core over a stretch, and its resident memory."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        pids = _tree(process.pid)
        before, began = _cpu_seconds(pids), time.perf_counter()
        time.sleep(IDLE_SECONDS)  # the measurement itself: a stretch of doing nothing
        pids = _tree(process.pid)
        self.cpu = (_cpu_seconds(pids) - before) / (time.perf_counter() - began)
        self.rss = _rss_mib(pids)
        self.processes = len(pids)

    def __str__(self) -> str:
        return f"CPU {self.cpu:6.2%} of a core, RSS {self.rss:6.1f} MiB ({self.processes} processes)"


class Side:
    """One database with its workflows, a producer container in this process, and the worker and api."""

    def __init__(self, workdir: Path, database: str, prefix: str) -> None:
        from app.bootstrap import build
        from app.clock import TEST_CLOCK, FileOffsetClock
        from app.config import load_settings

        self.workdir = workdir
        workflows = workdir / "workflows"
        workflows.mkdir()
        (workflows / "bench_event_wait.toml").write_text(EVENT_WAIT)
        for hours in (1, 720):
            (workflows / f"bench_timer_{hours}.toml").write_text(TIMER_WAIT.format(hours=hours))
        self.clock_file = workdir / "clock"
        self.env = {
            "FLOWPLANE_DATABASE__URL": database, "FLOWPLANE_REDIS__URL": REDIS_URL,
            "FLOWPLANE_REDIS__KEY_PREFIX": f"{prefix}:", "FLOWPLANE_EVENTS__ENABLED": "false",
            "FLOWPLANE_TASKS__MODULES": "bench.workflow_tasks", "FLOWPLANE_API__LOG_LEVEL": "warning",
            "FLOWPLANE_WORKFLOWS__DIRECTORY": str(workflows), "FLOWPLANE_TASKS__SQLITE_PATH": str(workdir / "tasks.db"),
            "FLOWPLANE_EMAIL__MAIL_DIR": str(workdir / "mail"), "FLOWPLANE_API__PORT": str(_free_port()),
            TEST_CLOCK: str(self.clock_file)}  # the bench moves time to make 10,000 timers due at once
        self.clock = FileOffsetClock(self.clock_file)
        self.container = build(load_settings(environ=self.env), migrate_database=True, clock=self.clock)
        self.processes: list[subprocess.Popen[bytes]] = []

    def worker(self) -> subprocess.Popen[bytes]:
        process = spawn([str(BIN / "flowplane"), "worker", "--concurrency", "2"], self.env, self.workdir,
                        self.workdir / "worker.log")
        self.processes.append(process)
        user = f"warm-{uuid.uuid4().hex[:6]}"  # ready once it has run a woken run's next step
        self.start("bench_event_wait", {"user_id": user})
        self.publish_verified(user)

        def warm() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"bench: the worker exited:\n{self._log('worker')}")
            return bool(self.next_started([user]))

        wait(warm, 60, "the worker to start", step=0.05)
        return process

    def api(self) -> subprocess.Popen[bytes]:
        import httpx

        process = spawn([str(BIN / "flowplane"), "api"], self.env, self.workdir, self.workdir / "api.log")
        self.processes.append(process)
        url = f"http://127.0.0.1:{self.env['FLOWPLANE_API__PORT']}/health"

        def answers() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"bench: the api exited:\n{self._log('api')}")
            with suppress(httpx.HTTPError):
                return httpx.get(url, timeout=1).status_code == 200
            return False

        wait(answers, 60, "the api to answer", step=0.1)
        return process

    def stop_all(self) -> None:
        while self.processes:
            stop(self.processes.pop())

    def _log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, workflow: str, values: dict[str, Any]) -> str:
        from sqlmodel import Session

        with Session(self.container.engine, expire_on_commit=False) as db, db.begin():
            return self.container.runner.start(db, workflow, values).run_id

    def count(self, step_id: str, status: str, workflow: str | None = None) -> int:
        from sqlalchemy import func, select
        from sqlmodel import col

        from app.db.models import StepRun, WorkflowRun

        query = select(func.count()).select_from(StepRun).where(col(StepRun.step_id) == step_id,
                                                                 col(StepRun.status) == status)
        if workflow is not None:
            query = query.join(WorkflowRun, col(WorkflowRun.id) == col(StepRun.run_id)).where(
                col(WorkflowRun.workflow) == workflow)
        with self.container.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def publish_verified(self, user_id: str) -> None:
        self.container.plane.publish("user.email_verified", {
            "user_id": user_id, "email": f"{user_id}@example.com", "verified_at": datetime.now(UTC).isoformat()})

    def next_started(self, users: list[str]) -> dict[str, datetime]:
        """user -> when the task after its wait started."""
        from sqlmodel import Session, col, select

        from app.db.models import StepRun, WorkflowRun

        with Session(self.container.engine) as db:
            rows = db.exec(select(WorkflowRun.input, StepRun.started_at)
                           .join(StepRun, col(StepRun.run_id) == col(WorkflowRun.id))
                           .where(col(WorkflowRun.workflow) == "bench_event_wait", col(StepRun.step_id) == "next",
                                  col(StepRun.started_at).is_not(None)))
            started = {_user_of(text): at for text, at in rows if at is not None}
        return {user: started[user] for user in users if user in started}

    def plans(self) -> dict[str, list[str]]:
        """How the database runs the two look-ups of parking, as parking asks them."""
        from sqlalchemy import text

        from app.workflows import parking

        queries = {"steps parked on an event's key": parking.parked_on_query("user.email_verified", "x"),
                   "timers due": parking.due_query(datetime.now(UTC), 500)}
        engine = self.container.engine
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("ANALYZE step_runs"))
            return {name: [str(row[-1]) for row in connection.execute(text(explain + str(query.compile(
                engine, compile_kwargs={"literal_binds": True}))))] for name, query in queries.items()}

    def close(self) -> None:
        self.stop_all()
        self.container.close()


def _user_of(input_json: str) -> str:
    import json

    return str(json.loads(input_json)["user_id"])


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def side(backend: str) -> Iterator[Side]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-wait-{tag}"
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        workdir = Path(directory)
        database = (stack.enter_context(own_schema(f"bench_wait_{tag}")) if backend == "postgresql"
                    else f"sqlite:///{workdir}/bench.db")
        built: Side | None = None
        try:
            built = Side(workdir, database, prefix)
            yield built
        finally:
            if built is not None:
                built.close()
            redis = Redis.from_url(REDIS_URL)
            if keys := list(redis.scan_iter(f"{prefix}*")):
                redis.delete(*keys)


def measure(backend: str, parked: int, due: int, samples: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with side(backend) as plane:
        # idle with nothing parked
        worker, api = plane.worker(), plane.api()
        figures["idle 0"] = (Idle(worker), Idle(api))
        plane.stop_all()

        # park: half on an event, half on a 30-day timer, one run per transaction
        users = [f"u{n}-{uuid.uuid4().hex[:6]}" for n in range(parked // 2)]
        began = time.perf_counter()
        for n, user in enumerate(users):
            plane.start("bench_event_wait", {"user_id": user})
            plane.start("bench_timer_720", {"n": n})
        figures["park"] = (2 * len(users)) / (time.perf_counter() - began)
        figures["parked"] = plane.count("verified", "waiting") + plane.count("nap", "waiting")

        # idle with them parked: fresh processes, as after a deploy
        worker, api = plane.worker(), plane.api()
        figures[f"idle {figures['parked']}"] = (Idle(worker), Idle(api))

        # wake by event, at a steady rate, while the others stay parked
        chosen = random.sample(users, min(samples, len(users)))
        sent: dict[str, float] = {}
        calls: list[float] = []
        began = time.perf_counter()
        for index, user in enumerate(chosen):
            while (now := time.perf_counter()) < began + index / WAKE_RATE:
                time.sleep(min(0.001, began + index / WAKE_RATE - now))
            sent[user] = time.time()
            plane.publish_verified(user)
            calls.append((time.time() - sent[user]) * 1000)
        wait(lambda: len(plane.next_started(chosen)) == len(chosen), 120, "the woken runs' next steps", step=0.05)
        started = plane.next_started(chosen)
        figures["wake"] = [(started[user].timestamp() - sent[user]) * 1000 for user in chosen]
        figures["publish call"] = calls

        # timers: M runs on a 1-hour timer fall due at once when the clock moves an hour
        began = time.perf_counter()
        for n in range(due):
            plane.start("bench_timer_1", {"n": n})
        figures["park timers"] = due / (time.perf_counter() - began)
        waiting = plane.count("nap", "waiting", "bench_timer_1")
        moved = time.perf_counter()
        plane.clock.advance(timedelta(hours=1, seconds=1))
        ended = wait(lambda: plane.count("nap", "waiting", "bench_timer_1") == 0, 600, "the timers to fire",
                     step=0.05)
        figures["timers"] = (waiting, waiting / (ended - moved))
        figures["still parked"] = plane.count("verified", "waiting") + plane.count("nap", "waiting")
        figures["plans"] = plane.plans()
    return figures


def report(parked: int = 100_000, due: int = 10_000, samples: int = 200,
           backends: tuple[str, ...] = ("sqlite", "postgresql")) -> None:
    for backend in backends:
        figures = measure(backend, parked, due, samples)
        count = figures["parked"]
        print(f"\nwaits on {backend} (tasks on Redis, events off: the publish hook wakes the waits), "
              f"{count} runs parked\n"
              f"  park {count} runs (half wait_for an event, half a 30-day timer), a transaction each: "
              f"{figures['park']:8.0f} runs/s")
        for label, (worker, api) in ((key, value) for key, value in figures.items() if key.startswith("idle ")):
            print(f"  idle, {label.split()[1]:>7} parked   worker: {worker}\n"
                  f"  {'':<24} api:    {api}")
        p50, p99 = percentiles(figures["wake"])
        c50, c99 = percentiles(figures["publish call"])
        print(f"  event published -> the step after the wait started, {len(figures['wake'])} runs at "
              f"{WAKE_RATE}/s: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms\n"
              f"    (of which the publish call, finding and waking the run in its transaction: "
              f"p50 {c50:5.1f} ms  p99 {c99:5.1f} ms)")
        fired, rate = figures["timers"]
        print(f"  {fired} timers due at once: {rate:8.0f} fired/s by the worker's sweep "
              f"(parked at {figures['park timers']:.0f}/s); {figures['still parked']} still parked, untouched")
        for name, plan in figures["plans"].items():
            print(f"  plan, {name}: " + " | ".join(line.strip() for line in plan))
