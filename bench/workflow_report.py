"""`python -m bench --only-workflows`: the registration shape — a confirmed persistent event to 3 queues, then two
chained no-op steps — on every engine, in one run, on the same servers, with 2 worker processes each:

- the plane: every step recorded in PostgreSQL, the event through the outbox, tasks acked after they ran;
- DBOS Transact: the same as three `@DBOS.step`s (the first publishes the event), on a DBOS queue;
- Celery, durable: the chain a careful Celery user would write for the same guarantees (the start commits the
  run and step rows and publishes the confirmed event; each link commits its step row; acks late, results);
- Celery, acks late + results: the chain alone, on Redis, no database, no event;
- Celery, defaults: the chain alone, acked before it runs, no result (keeps nothing).

For each: workers draining a backlog (runs started first), end to end with 1 and with 4 producer threads
(like concurrent API requests), start -> finish at 50/s, CPU per workflow of every process and server, and
PostgreSQL commits and round trips per workflow (a pass through a counting proxy). Then the floor under the
targets (bench/floor.py): the same durable path with no framework at all. Nothing is asserted."""

import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.floor import floor_figures
from bench.pg_meter import PgMeter, commits
from bench.workflows import (
    POSTGRES_URL,
    RATE,
    WORKERS,
    CelerySide,
    CpuUse,
    PlaneSide,
    cpu_use,
    percentiles,
    profiled,
    sides,
    stop,
)

METERED = 200  # workflows in each engine's pass through the PostgreSQL meter
TARGETS = ("end to end (4 producers) >= 2.5x DBOS and >= 1.0x Celery acks late + results; drain >= 600/s; CPU <= 4 ms; "
           "p99 <= 10 ms")


@dataclass
class Figures:
    name: str
    drain: float | None = None
    end_to_end: dict[int, float] = field(default_factory=dict)  # producers -> workflows/s
    latency: tuple[float, float] | None = None  # p50, p99 in ms at RATE/s
    cpu: CpuUse | None = None  # end to end, 1 producer
    commits: float | None = None  # per workflow
    round_trips: float | None = None
    phases: list[CpuUse] = field(default_factory=list)


def _measure(figures: Figures, drain: Callable[[int], tuple[float, CpuUse]], start: Callable[[], object],
             stop_workers: Callable[[], object], pids: Callable[[], list[int]],
             throughput: Callable[[int, int], float], latency: Callable[[float], tuple[list[float], float]],
             count: int, seconds: float) -> None:
    """Drain first (no worker running), then the workers started and the steady figures taken."""
    figures.drain, cpu = drain(count)
    figures.phases.append(cpu)
    start()
    try:
        _steady(figures, pids, throughput, latency, count, seconds)
    finally:
        stop_workers()


def _round_trips(figures: Figures, meter: PgMeter, start: Callable[[], object], stop_workers: Callable[[], object],
                 throughput: Callable[[int], object]) -> None:
    """Round trips per workflow through ``meter``, over METERED runs on workers started (cold) for them."""
    start()
    try:
        meter.reset()
        throughput(METERED)
        figures.round_trips = meter.round_trips / METERED
    finally:
        stop_workers()


def _steady(figures: Figures, pids: Callable[[], list[int]], throughput: Callable[[int, int], float],
            latency: Callable[[float], tuple[list[float], float]], count: int, seconds: float) -> None:
    """End to end with 1 and 4 producers, then the latency at RATE/s, with the workers already running."""
    for producers in (1, 4):
        with cpu_use(*pids()) as cpu:
            figures.end_to_end[producers] = throughput(count, producers)
        figures.phases.append(cpu)
        if producers == 1:
            figures.cpu = cpu
    with cpu_use(*pids()) as cpu:
        samples, _ = latency(seconds)
    figures.phases.append(cpu)
    figures.latency = percentiles(samples)


def plane_figures(plane: PlaneSide, count: int, seconds: float) -> Figures:
    figures = Figures("plane")
    workers: list[Any] = []
    _measure(figures, plane.drain, lambda: workers.append(plane.worker()), lambda: stop(workers.pop()),
             lambda: [worker.pid for worker in workers], lambda n, p: plane.throughput(n, p)[0],
             lambda s: plane.latency(s)[::2], count, seconds)
    plane.reader.engine.dispose()  # its idle connections report their counts now, not up to 10 s later
    before = commits(POSTGRES_URL, quiet=2)
    with PgMeter() as meter, plane.through(meter.url(plane.env["FLOWPLANE_DATABASE__URL"])):
        _round_trips(figures, meter, lambda: workers.append(plane.worker(warm=False)), lambda: stop(workers.pop()),
                     plane.throughput)
    plane.reader.engine.dispose()
    figures.commits = (commits(POSTGRES_URL, quiet=2) - before) / METERED
    return figures


def dbos_figures(workdir: Path, count: int, seconds: float) -> Figures:
    from bench.dbos_peer import dbos_side

    figures = Figures("DBOS Transact")
    with dbos_side(workdir) as dbos:
        _measure(figures, dbos.drain, dbos.workers, dbos.stop_workers, lambda: dbos.pids, dbos.throughput,
                 dbos.latency, count, seconds)
        before = commits(dbos.url, quiet=2)
        with PgMeter() as meter, dbos.through(meter.url(dbos.url)):
            _round_trips(figures, meter, lambda: dbos.workers(warm=False), dbos.stop_workers, dbos.throughput)
        figures.commits = (commits(dbos.url, quiet=2) - before) / METERED
    return figures


def celery_durable_figures(workdir: Path, count: int, seconds: float) -> Figures:
    from bench.celery_durable import celery_durable_side

    figures = Figures("Celery, durable chain")
    with celery_durable_side(workdir) as celery:
        workers: list[Any] = []
        _measure(figures, celery.drain, lambda: workers.append(celery.worker()), lambda: stop(workers.pop()),
                 lambda: [worker.pid for worker in workers], celery.throughput, celery.latency, count, seconds)
    with PgMeter() as meter:
        before = commits(POSTGRES_URL, quiet=2)
        with celery_durable_side(workdir, meter.url(POSTGRES_URL), POSTGRES_URL) as celery:
            _round_trips(figures, meter, lambda: workers.append(celery.worker(warm=False)),
                         lambda: stop(workers.pop()), celery.throughput)
        figures.commits = (commits(POSTGRES_URL, quiet=2) - before) / METERED
    return figures


def celery_figures(celery: CelerySide, count: int, seconds: float, *, durable: bool) -> Figures:
    figures = Figures("Celery, acks late + results" if durable else "Celery, defaults")
    if not durable:
        figures.drain, cpu = celery.drain(count)
        figures.phases.append(cpu)
    worker = celery.worker("prefork", WORKERS, durable=durable)
    try:
        _steady(figures, lambda: [worker.pid], celery.throughput, celery.latency, count, seconds)
    finally:
        stop(worker)
    figures.commits = figures.round_trips = 0.0  # no database
    return figures


def _cell(value: float | None, width: int, digits: int = 0) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def _print_floor(floor: tuple[float, tuple[float, float], CpuUse], plane: Figures, count: int) -> None:
    rate, (p50, p99), cpu = floor
    python = sum(cpu.seconds.get(group, 0.0) for group in ("bench", "worker")) * 1000 / count
    servers = sum(cpu.seconds.get(name, 0.0) for name in ("PostgreSQL", "Redis")) * 1000 / count
    print("\n  the floor (bench/floor.py: the same durable path in raw psycopg and redis-py, tasks popped at most "
          "once, no event):")
    print(f"    end to end {rate:.0f} wf/s with 1 producer; p50 / p99 {p50:.1f} / {p99:.1f} ms at {RATE}/s; CPU "
          f"{python:.1f} ms of Python and {servers:.1f} of PostgreSQL and Redis per workflow")
    event = plane.cpu.seconds.get("RabbitMQ", 0.0) * 1000 / count if plane.cpu else 0.0
    print(f"    with the event's RabbitMQ CPU as the plane's run measured it ({event:.1f} ms), the floor is "
          f"{python + servers + event:.1f} ms of CPU per workflow: at most {2000 / (python + servers + event):.0f} "
          "wf/s on 2 cores")
    if plane.latency and plane.cpu:
        plane_cpu = sum(plane.cpu.seconds.values()) * 1000 / count
        print(f"    the plane: p99 {plane.latency[1] / p99:.1f}x the floor's, CPU per workflow "
              f"{plane_cpu / (python + servers + event):.1f}x")


def _print(all_figures: list[Figures], count: int, seconds: float) -> None:
    print(f"\nworkflows: a confirmed persistent event to 3 queues, then 2 chained no-op steps; {WORKERS} worker "
          f"processes per engine; {count} runs per rate, {RATE}/s for {seconds:.0f} s for the latency\n")
    print(f"  {'':<30}{'drain':>9}{'1 producer':>12}{'4 producers':>13}{'p50':>8}{'p99':>8}{'CPU/wf':>9}"
          f"{'commits':>9}{'PG trips':>10}")
    print(f"  {'':<30}{'wf/s':>9}{'wf/s':>12}{'wf/s':>13}{'ms':>8}{'ms':>8}{'ms':>9}{'/wf':>9}{'/wf':>10}")
    for figures in all_figures:
        p50, p99 = figures.latency or (None, None)
        cpu = sum(figures.cpu.seconds.values()) * 1000 / count if figures.cpu else None
        print(f"  {figures.name:<30}{_cell(figures.drain, 9)}{_cell(figures.end_to_end.get(1), 12)}"
              f"{_cell(figures.end_to_end.get(4), 13)}{_cell(p50, 8, 1)}{_cell(p99, 8, 1)}{_cell(cpu, 9, 1)}"
              f"{_cell(figures.commits, 9, 1)}{_cell(figures.round_trips, 10, 1)}")
    plane = all_figures[0]
    print("\n  plane / each (same run):")
    for other in all_figures[1:]:
        ratios = [f"drain {plane.drain / other.drain:.2f}x" if plane.drain and other.drain else "",
                  *(f"{n} producer{'s' if n > 1 else ''} {plane.end_to_end[n] / other.end_to_end[n]:.2f}x"
                    for n in (1, 4) if n in other.end_to_end)]
        print(f"    / {other.name:<28}" + "   ".join(ratio for ratio in ratios if ratio))
    print("\n  CPU per workflow, end to end with 1 producer (ms; servers whole, so their other clients count too):")
    for figures in all_figures:
        if figures.cpu:
            print(f"    {figures.name:<30}{figures.cpu.describe(count)}")
    if plane.cpu:
        servers = sum(plane.cpu.seconds.get(name, 0.0) for name in ("PostgreSQL", "Redis", "RabbitMQ"))
        floor = servers * 1000 / count
        print(f"\n  the servers' share: PostgreSQL, Redis and RabbitMQ spend {floor:.1f} ms of CPU per plane workflow, "
              f"so the plane could finish at most {2000 / floor:.0f}/s on 2 cores with no Python at all")
    print(f"  targets: {TARGETS}")
    noise = max(phase.share("other processes") for figures in all_figures for phase in figures.phases)
    print(f"\n  other processes took up to {noise:.0%} of the cores in a measured stretch"
          + ("; the figures above are skewed: run again on a quiet machine" if noise > 0.05 else ""))


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def report(count: int, seconds: float = 10.0, *, profile: bool = False) -> None:
    with psycopg.connect(POSTGRES_URL) as probe:
        probe.execute("SELECT 1")  # a clear failure now rather than half-way
    all_figures: list[Figures] = []
    with ExitStack() as stack:
        workdir = stack.enter_context(_workdir())
        plane, celery = stack.enter_context(sides(workdir))
        all_figures.append(plane_figures(plane, count, seconds))
        for name in ("dbos", "celery-durable"):
            (workdir / name).mkdir()
        all_figures.append(dbos_figures(workdir / "dbos", count, seconds))
        all_figures.append(celery_durable_figures(workdir / "celery-durable", count, seconds))
        all_figures.append(celery_figures(celery, count, seconds, durable=True))
        all_figures.append(celery_figures(celery, count, seconds, durable=False))
        (workdir / "floor").mkdir()
        floor = floor_figures(workdir / "floor", count, seconds)
        breakdown = profiled(plane, max(100, count // 2), workdir) if profile else ""
    _print(all_figures, count, seconds)
    _print_floor(floor, all_figures[0], count)
    print(breakdown)

