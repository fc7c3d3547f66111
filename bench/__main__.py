"""Run with `just bench` (Redis on 127.0.0.1:6379, or BENCH_REDIS_URL). Prints figures and ratios, asserts nothing.

Throughput: N no-op tasks are queued first, then a consumer with 1 or 2 worker processes drains them;
the rate counts from the first task taken to the queue (and, for the plane, the lease set) being empty.
Latency: tasks sent at a steady 200/s, each recording `start - sent`; the plane's are sent through
`plane.enqueue` with its outbox on SQLite, i.e. the full path an API request takes.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from redis import Redis

from bench import wait

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


class Plane:
    label = "plane (leases)"

    def __init__(self, workdir: Path, redis: Redis) -> None:
        from app.bootstrap import build
        from app.config import load_settings

        self.prefix = f"bench-{uuid.uuid4().hex[:6]}:"
        self.env = {"FLOWPLANE_REDIS__URL": REDIS_URL, "FLOWPLANE_REDIS__KEY_PREFIX": self.prefix,
                    "FLOWPLANE_TASKS__MODULES": "bench.tasks", "FLOWPLANE_API__LOG_LEVEL": "warning",
                    "FLOWPLANE_DATABASE__URL": f"sqlite:///{workdir}/bench.db"}
        self.container = build(load_settings(environ=self.env))
        self.storage = self.container.huey.leased
        self.redis = redis
        self.workdir = workdir

    def _send(self, task: str, payload: dict[str, object]) -> None:
        """Straight onto the queue, as the relay sends: the transport without the outbox."""
        from app.plane.envelope import Envelope
        from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions

        options = TaskOptions(queue="default", priority=Priority.MEDIUM, retry=RetryPolicy(attempts=1), timeout=None)
        self.container.huey.send(Envelope(kind="task", type=task, payload=payload), options)

    def fill(self, count: int) -> None:
        for _ in range(count):
            self._send("plane.noop", {})

    def backlog(self) -> int:
        return int(self.redis.zcard(self.storage.queue_key) + self.redis.zcard(self.storage.inflight_key))

    def consumer(self, workers: int) -> subprocess.Popen[bytes]:
        return start([str(BIN / "flowplane"), "worker", "--concurrency", str(workers)], self.env,
                     self.workdir / "plane.log")

    def send_latency(self, key: str) -> None:
        self.container.plane.enqueue("bench.latency", {"key": key, "sent": time.time()})

    def send_latency_direct(self, key: str) -> None:
        self._send("bench.latency", {"key": key, "sent": time.time()})

    def cleanup(self) -> None:
        self.container.close()
        keys = list(self.redis.scan_iter(f"*{self.prefix}*"))
        if keys:
            self.redis.delete(*keys)


class RawHuey:
    label = "raw Huey"

    def __init__(self, workdir: Path, redis: Redis) -> None:
        self.name = f"bench-raw-{uuid.uuid4().hex[:6]}"
        os.environ["BENCH_HUEY_NAME"], os.environ["BENCH_REDIS_URL"] = self.name, REDIS_URL
        from bench import raw_huey

        self.module = raw_huey
        self.env = {"BENCH_HUEY_NAME": self.name, "BENCH_REDIS_URL": REDIS_URL}
        self.redis = redis
        self.workdir = workdir

    def fill(self, count: int) -> None:
        for _ in range(count):
            self.module.noop()

    def backlog(self) -> int:
        return int(self.module.huey.pending_count())

    def consumer(self, workers: int) -> subprocess.Popen[bytes]:
        return start([str(BIN / "huey_consumer"), "bench.raw_huey.huey", "-w", str(workers), "-k", "process",
                      "-q"], self.env, self.workdir / "huey.log")

    def send_latency(self, key: str) -> None:
        self.module.latency(key, time.time())

    def cleanup(self) -> None:
        keys = list(self.redis.scan_iter(f"*{self.name}*"))
        if keys:
            self.redis.delete(*keys)


class Celery:
    label = "Celery"

    def __init__(self, workdir: Path, redis: Redis) -> None:
        self.queue = f"bench-celery-{uuid.uuid4().hex[:6]}"
        os.environ["BENCH_REDIS_URL"], os.environ["BENCH_CELERY_QUEUE"] = REDIS_URL, self.queue
        from bench import celery_app

        self.module = celery_app
        self.env = {"BENCH_REDIS_URL": REDIS_URL, "BENCH_CELERY_QUEUE": self.queue}
        self.redis = redis
        self.workdir = workdir

    def fill(self, count: int) -> None:
        for _ in range(count):
            self.module.noop.apply_async(queue=self.queue)

    def backlog(self) -> int:
        return int(self.redis.llen(self.queue))

    def consumer(self, workers: int) -> subprocess.Popen[bytes]:
        return start([str(BIN / "celery"), "-A", "bench.celery_app", "worker", "-c", str(workers), "-P", "prefork",
                      "-Q", self.queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l",
                      "warning"], self.env, self.workdir / "celery.log")

    def cleanup(self) -> None:
        keys = [self.queue, *self.redis.scan_iter(f"*{self.queue}*")]
        self.redis.delete(*keys)
        self.module.forget_unacked(self.redis, self.queue)


def throughput(system: Plane | RawHuey | Celery, workers: int, count: int) -> tuple[float, list[int]]:
    system.fill(count)
    process = system.consumer(workers)
    try:
        began = wait(lambda: system.backlog() < count, 60, f"{system.label} to start")
        ended = wait(lambda: system.backlog() == 0, 600, f"{system.label} to drain")
        memory = [rss_kib(pid) for pid in children(process.pid)]
    finally:
        stop(process)
    return count / (ended - began), memory


def latency(system: Plane | RawHuey, send: Callable[[str], None], redis: Redis, rate: int,
            seconds: float) -> tuple[float, float]:
    key = f"bench-latency-{uuid.uuid4().hex[:6]}"
    process = system.consumer(2)
    try:
        time.sleep(3)  # let the consumer settle: latency is measured warm
        total = int(rate * seconds)
        start_at = time.perf_counter()
        for index in range(total):
            target = start_at + index / rate
            while time.perf_counter() < target:
                time.sleep(max(0.0, min(0.001, target - time.perf_counter())))
            send(key)
        wait(lambda: redis.llen(key) >= total, 60, "latency samples", step=0.01)
        samples = sorted(float(v) * 1000 for v in redis.lrange(key, 0, -1))
    finally:
        stop(process)
        redis.delete(key)
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000, help="no-op tasks per throughput run")
    parser.add_argument("--celery-tasks", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the 200 tasks/s latency run")
    parser.add_argument("--events", type=int, default=2000, help="messages per event-plane run (0 skips it)")
    parser.add_argument("--only-events", action="store_true", help="skip the task-plane runs")
    parser.add_argument("--workflows", type=int, default=500, help="runs per workflow throughput run (0 skips it)")
    parser.add_argument("--only-workflows", action="store_true", help="run the workflow figures alone")
    parser.add_argument("--profile", action="store_true", help="also profile where a plane workflow's time goes")
    parser.add_argument("--parked", type=int, default=100_000, help="runs parked for the waits figures (0 skips)")
    parser.add_argument("--due", type=int, default=10_000, help="timers falling due at once")
    parser.add_argument("--only-waits", action="store_true", help="run the waits figures alone")
    args = parser.parse_args()

    if args.only_waits or (args.parked and not (args.only_events or args.only_workflows)):
        from bench import waits

        waits.report(args.parked, args.due)
        if args.only_waits:
            return

    if args.events and not args.only_workflows:
        from bench import events

        events.report(args.events)
    if args.workflows and not args.only_events:
        from bench import workflow_report

        workflow_report.report(args.workflows, profile=args.profile)
    if args.only_events or args.only_workflows:
        return
    redis = Redis.from_url(REDIS_URL)
    redis.ping()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        plane, raw, celery = Plane(workdir, redis), RawHuey(workdir, redis), Celery(workdir, redis)
        rates: dict[tuple[str, int], float] = {}
        memory: dict[str, list[int]] = {}
        try:
            for workers in (1, 2):
                for system, count in ((raw, args.tasks), (plane, args.tasks), (celery, args.celery_tasks)):
                    rates[(system.label, workers)], rss = throughput(system, workers, count)
                    memory[system.label] = rss
                    print(f"throughput  {system.label:<15} {workers} worker process(es): "
                          f"{rates[(system.label, workers)]:8.0f} tasks/s", flush=True)
            lat = {
                "raw Huey": latency(raw, raw.send_latency, redis, 200, args.seconds),
                "plane, transport": latency(plane, plane.send_latency_direct, redis, 200, args.seconds),
                "plane, outbox": latency(plane, plane.send_latency, redis, 200, args.seconds),
            }
        finally:
            for system in (plane, raw, celery):
                system.cleanup()

    print("\nratios (plane / other, same run, same Redis):")
    for workers in (1, 2):
        p = rates[(plane.label, workers)]
        print(f"  {workers} process(es): plane/raw Huey = {p / rates[(raw.label, workers)]:.2f}x   "
              f"plane/Celery = {p / rates[(celery.label, workers)]:.2f}x")
    print("\nenqueue -> start latency at 200 tasks/s, 2 worker processes:")
    for label, (p50, p99) in lat.items():
        print(f"  {label:<17} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    print("  (transport: the relay's send; outbox: plane.enqueue, i.e. SQLite outbox commit, then send)")
    print("\nresident memory per process of the consumers (KiB, after the 2-process run):")
    for label, values in memory.items():
        print(f"  {label:<15} {values}")


if __name__ == "__main__":
    main()
