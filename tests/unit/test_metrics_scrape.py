"""The /metrics collector on its own: concurrent scrapes share one read of the sources, and a source that
does not answer within the scrape's budget is reported down and never read twice at once."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import Metric
from sqlalchemy import Engine, create_engine, event
from sqlmodel import SQLModel

from app.metrics import FlowplaneCollector
from app.plane.tasks.storage import QueueCounts, TaskTotals
from tests.e2e.processes import poll


class Gate:
    """Counts the calls through it; each waits until the gate opens."""

    def __init__(self, opened: bool = False) -> None:
        self.calls = 0
        self._open = threading.Event()
        if opened:
            self._open.set()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def passage(self) -> None:
        self.calls += 1
        assert self._open.wait(timeout=30), "the gate stayed shut"


class Storage:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.totals_read = 0

    def counts(self) -> QueueCounts:
        self.gate.passage()
        return QueueCounts(pending={"high": 0, "medium": 1, "low": 0}, scheduled=0, active=0, paused=False)

    def totals(self) -> TaskTotals:
        self.totals_read += 1
        return TaskTotals()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = create_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    SQLModel.metadata.create_all(built)
    yield built
    built.dispose()


def count_queries(engine: Engine) -> list[str]:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


def up(families: list[Metric]) -> dict[str, float]:
    [family] = [family for family in families if family.name == "flowplane_metrics_source_up"]
    return {sample.labels["source"]: sample.value for sample in family.samples}


def test_concurrent_scrapes_share_one_read_of_every_source(engine: Engine) -> None:
    queries = count_queries(engine)
    list(FlowplaneCollector(Storage(Gate(opened=True)), engine, queue="q").collect())
    one_scrape = len(queries)
    queries.clear()

    # Given a task queue that answers only once eight scrapes are waiting on it
    gate, broker = Gate(), Gate(opened=True)
    storage = Storage(gate)
    collector = FlowplaneCollector(storage, engine, queue="q",
                                   event_stats=lambda: broker.passage() or {"consumers": {}})
    entered, results = [], []

    def scrape() -> None:
        entered.append(1)
        results.append(list(collector.collect()))

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for thread in threads:
        thread.start()
    poll(lambda: len(entered) == 8 and gate.calls >= 1 or None, timeout=10, what="eight scrapes under way")
    gate.open()
    for thread in threads:
        thread.join(timeout=30)

    # Then each source was read once, for all eight
    assert (gate.calls, storage.totals_read, broker.calls, len(queries)) == (1, 1, 1, one_scrape)
    assert len(results) == 8 and all(up(families) == up(results[0]) for families in results)
    assert set(up(results[0]).values()) == {1}


def test_a_source_that_does_not_answer_in_time_is_down_and_read_once_until_it_answers(engine: Engine) -> None:
    broker = Gate()

    def stats() -> dict[str, Any]:
        broker.passage()
        return {"consumers": {}}

    collector = FlowplaneCollector(Storage(Gate(opened=True)), engine, queue="q", event_stats=stats,
                                   timeout=1.0, reuse=0)  # the sources that answer must, on a loaded machine too
    # When the broker does not answer, the scrapes go on without it, and no second read of it starts
    for _ in range(3):
        sources = up(list(collector.collect()))
        assert sources.pop("event_broker") == 0 and set(sources.values()) == {1}
    assert broker.calls == 1
    # Once it has answered, the next scrape reads it afresh
    broker.open()
    poll(lambda: up(list(collector.collect()))["event_broker"] == 1 or None, timeout=10, what="the broker back up")
    assert broker.calls == 2


def test_a_read_stuck_past_its_staleness_is_left_behind_with_a_bound_on_how_many(engine: Engine) -> None:
    broker = Gate()
    collector = FlowplaneCollector(Storage(Gate(opened=True)), engine, queue="q",
                                   event_stats=lambda: broker.passage() or {"consumers": {}},
                                   timeout=0.1, reuse=0, stale_after=0)
    # A read that never ends is given up on at the next scrape, but at most two are ever left running
    for _ in range(5):
        assert up(list(collector.collect()))["event_broker"] == 0
    assert broker.calls == 2
    broker.open()


def test_every_source_is_read_at_once_not_one_after_another(engine: Engine) -> None:
    queue, broker = Gate(), Gate()
    collector = FlowplaneCollector(Storage(queue), engine, queue="q",
                                   event_stats=lambda: broker.passage() or {"consumers": {}}, timeout=60)
    scraped: list[dict[str, float]] = []
    scrape = threading.Thread(target=lambda: scraped.append(up(list(collector.collect()))))
    scrape.start()
    # While the task queue has not answered, the broker is being read already
    poll(lambda: queue.calls == 1 and broker.calls == 1 or None, timeout=10, what="both sources read at once")
    queue.open()
    broker.open()
    scrape.join(timeout=30)
    assert set(scraped[0].values()) == {1}
