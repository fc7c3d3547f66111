"""One scrape's read of every metrics source, bounded in time and shared: concurrent scrapes take the read in
flight (or a result younger than ``reuse``) instead of reading again. The read runs in threads of its own, so
a scrape waiting on it holds none of the API's: each lane of sources is read by its own thread, one read per
lane at a time, waited on for ``timeout`` from when it began, and the flight is led by a thread too."""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client.core import Metric

log = logging.getLogger(__name__)

Post = Callable[[str, list[Metric] | None], None]  # (source, its families or None when it failed)
Result = tuple[str, list[Metric] | None, float]  # (source, families or None when it is down, seconds taken)
T = TypeVar("T")


@dataclass(frozen=True)
class Lane:
    """Sources read one after another by one thread (the database's share a connection); ``read`` posts
    each source as it is read, and a failure before a source is posted fails that source."""

    name: str
    sources: tuple[str, ...]
    read: Callable[[Post], None]


class _Run:
    """One read of a lane, in a daemon thread: one still stuck on the network is left to its own timeouts."""

    def __init__(self, lane: Lane) -> None:
        self.started = self._mark = time.monotonic()
        self.results: dict[str, Future[tuple[list[Metric] | None, float]]] = {s: Future() for s in lane.sources}
        self.thread = threading.Thread(target=self._run, args=(lane,), name=f"metrics-{lane.name}", daemon=True)
        self.thread.start()

    def _run(self, lane: Lane) -> None:
        try:
            lane.read(self._post)
        except Exception as exc:
            log.warning("metrics: %s unavailable: %s: %s", lane.name, type(exc).__name__, exc)
        for source in lane.sources:
            self._post(source, None)  # those the read never reached

    def _post(self, source: str, families: list[Metric] | None) -> None:
        now = time.monotonic()
        if not self.results[source].done():
            self.results[source].set_result((families, now - self._mark))
        self._mark = now

    def result(self, source: str, until: float) -> Result:
        try:
            families, seconds = self.results[source].result(timeout=max(0.0, until - time.monotonic()))
        except FutureTimeout:
            log.warning("metrics: %s gave no answer in time", source)
            return source, None, time.monotonic() - self.started
        return source, families, seconds


class SharedScrape(Generic[T]):
    """``finish`` turns the sources' results into what scrapes are answered with (read once per flight)."""

    def __init__(self, lanes: Sequence[Lane], finish: Callable[[list[Result]], T], *, timeout: float,
                 reuse: float, stale_after: float, most_runs: int = 2) -> None:
        self._lanes = list(lanes)
        self._finish = finish
        self._timeout = timeout
        self._reuse = reuse
        self._stale_after = stale_after  # a read older than this is no longer waited on: a new one starts
        self._most_runs = most_runs  # reads of one lane alive at once (stale ones included), at most
        self._runs: dict[str, list[_Run]] = {lane.name: [] for lane in lanes}
        self._lock = threading.Lock()
        self._flight: Future[T] | None = None
        self._last: tuple[float, Future[T]] | None = None

    def flight(self) -> Future[T]:
        """The scrape in flight, or a recent one's, or a new one: done within ``timeout`` in any case."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self._reuse:
                return self._last[1]
            if self._flight is None:
                self._flight = Future()
                threading.Thread(target=self._lead, args=(self._flight,), name="metrics-scrape", daemon=True).start()
            return self._flight

    def _lead(self, flight: Future[T]) -> None:
        try:
            answer = self._finish(self._read_all())
        except Exception as exc:  # the scrapes sharing this flight fail with it; the next one starts afresh
            log.exception("metrics: the scrape failed")
            with self._lock:
                self._flight = None
            flight.set_exception(exc)
            return
        with self._lock:  # in one step, so no scrape finds neither the flight nor its result
            self._flight, self._last = None, (time.monotonic(), flight)
        flight.set_result(answer)

    def _read_all(self) -> list[Result]:
        runs = [(lane, self._run(lane)) for lane in self._lanes]  # every lane under way before any is waited on
        results: list[Result] = []
        for lane, run in runs:
            for source in lane.sources:
                # A read gets the timeout from when it began: one a previous scrape started and gave up on is
                # not waited on again.
                results.append(run.result(source, run.started + self._timeout) if run else (source, None, 0.0))
        return results

    def _run(self, lane: Lane) -> _Run | None:
        """The lane's read in flight if it is recent, else a new one, unless too many are still stuck."""
        runs = self._runs[lane.name] = [run for run in self._runs[lane.name] if run.thread.is_alive()]
        if runs and time.monotonic() - runs[-1].started < self._stale_after:
            return runs[-1]
        if len(runs) >= self._most_runs:
            log.warning("metrics: %d reads of %s are stuck; not starting another", len(runs), lane.name)
            return None
        run = _Run(lane)
        runs.append(run)
        return run
