"""The collector behind ``GET /metrics``: every source's series from one shared scrape, then whether each
source answered and how long it took, rendered once per scrape for every request that shares it."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from app.config import Settings
from app.metrics.scrape import Result, SharedScrape
from app.metrics.sources import broker_lane, database_lane, reading_engine, task_lane
from app.plane.events.inspect import inspector_for
from app.plane.events.topology import Topology
from app.plane.tasks.storage import LeasedStorage

TIMEOUT = 2.0  # seconds a scrape waits for its sources, all together: past it, a source reads down
REUSE = 1.0  # seconds a scrape's result answers later scrapes (a second Prometheus, a retry)
STALE_AFTER = 30.0  # seconds before a read still stuck is given up on and another may start


@dataclass(frozen=True)
class Exposition:
    """One scrape's answer: its families, and the same in Prometheus' text format."""

    families: list[Metric]
    text: bytes


class FlowplaneCollector:
    """``engine`` is the metrics' own (:func:`~app.metrics.sources.reading_engine`); ``event_stats`` is the event
    inspector's ``stats`` (None: events off)."""

    def __init__(self, storage: LeasedStorage, engine: Engine, *, queue: str, tasks: Iterable[str] = (),
                 event_stats: Callable[[], Mapping[str, Any]] | None = None, timeout: float = TIMEOUT,
                 reuse: float = REUSE, stale_after: float = STALE_AFTER) -> None:
        self.engine = engine
        # registered task names: their counters read 0 before the first run, not absent
        lanes = [task_lane(storage, queue, list(tasks)), database_lane(engine)]
        if event_stats is not None:
            lanes.append(broker_lane(event_stats))
        self._scrape = SharedScrape(lanes, _exposition, timeout=timeout, reuse=reuse, stale_after=stale_after)

    def scrape(self) -> Future[Exposition]:
        """The shared scrape (see :class:`~app.metrics.scrape.SharedScrape`): wait on it without a thread."""
        return self._scrape.flight()

    def describe(self) -> list[Metric]:
        return []  # the series depend on the data: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield from self.scrape().result().families


def _exposition(results: list[Result]) -> Exposition:
    up = GaugeMetricFamily("flowplane_metrics_source_up", "1 when the source answered this scrape, 0 when it "
                           "failed or did not answer in time, and its series are missing", labels=["source"])
    took = GaugeMetricFamily("flowplane_metrics_source_duration_seconds", "Time spent reading the source",
                             labels=["source"])
    families: list[Metric] = []
    for source, read, seconds in results:
        up.add_metric([source], 0 if read is None else 1)
        took.add_metric([source], seconds)
        families += read or []
    families += [up, took]
    return Exposition(families, generate_latest(_Fixed(families)))


class _Fixed(Collector):
    """Families already read, for prometheus_client's exposition."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def make_collector(settings: Settings, storage: LeasedStorage, topology: Topology,
                   tasks: Iterable[str]) -> FlowplaneCollector:
    """The collector an api serves, with its own engine and the broker read through the event inspector."""
    events = inspector_for(settings, topology)
    return FlowplaneCollector(storage, reading_engine(settings.database, TIMEOUT), queue=settings.tasks.queue,
                              tasks=tasks, event_stats=events.stats if settings.events.enabled else None)
