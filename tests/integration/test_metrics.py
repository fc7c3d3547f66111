"""GET /metrics: Prometheus' text format that prometheus_client parses, with numbers read from shared state,
so the api's scrape moves when a worker process runs tasks (on Redis and on SQLite)."""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.api.app import create_app
from app.bootstrap import Container, build
from app.config import Settings
from tests.conftest import ROOT
from tests.e2e.processes import poll
from tests.integration.accounts import register
from tests.integration.tasks import conftest as plane
from tests.servers import closed_port

backend, world = plane.backend, plane.world  # real worker processes on Redis and on SQLite

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient[Any], **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(found for (sample, sample_labels), found in samples.items()
               if sample == name and wanted <= sample_labels)


def test_task_counters_histogram_and_depths_move_when_a_worker_runs_tasks(world: plane.PlaneWorld) -> None:
    container = world.container()
    correlation = uuid.uuid4().hex
    with TestClient(create_app(container)) as client:
        before = scrape(client)
        assert value(before, "flowplane_tasks_processed_total", task="test.record") == 0
        assert value(before, "flowplane_task_duration_seconds_count", task="test.record") == 0

        # Given three tasks that succeed, one that fails for good and one delayed for an hour
        ids = [container.plane.enqueue("test.record", {"log": world.log, "tag": n}, correlation_id=correlation).id
               for n in range(3)]
        container.plane.enqueue("test.permanent", {"log": world.log}, priority="high")
        container.plane.enqueue("test.record", {"log": world.log}, delay=timedelta(hours=1))

        # Then the queue depths show them before any worker runs (once the scrape before is a second old: a
        # scrape's result answers the scrapes in the second after it)
        queued = poll(lambda: (lambda samples: samples if value(samples, "flowplane_tasks_queued", state="pending")
                               == 4 else None)(scrape(client)), timeout=10, what="the enqueued tasks in /metrics")
        assert value(queued, "flowplane_tasks_pending", priority="medium") == 3
        assert value(queued, "flowplane_tasks_pending", priority="high") == 1
        assert value(queued, "flowplane_tasks_queued", state="scheduled") == 1
        assert value(queued, "flowplane_tasks_queued", state="active") == 0

        # When a worker process runs them
        world.start_worker(concurrency=2)

        def settled() -> Samples | None:
            samples = scrape(client)
            done = (value(samples, "flowplane_tasks_processed_total", task="test.record") == 3
                    and value(samples, "flowplane_tasks_failed_total", task="test.permanent") == 1
                    and value(samples, "flowplane_tasks_dead", task="test.permanent") == 1)
            return samples if done else None

        after = poll(settled, timeout=30, what="the workers' outcomes in /metrics")

    # Then the counters and the histogram moved by exactly the tasks that ran, and the queue drained
    assert value(after, "flowplane_tasks_failed_total", task="test.record") == 0
    assert value(after, "flowplane_tasks_processed_total", task="test.permanent") == 0
    assert value(after, "flowplane_task_duration_seconds_count", task="test.record") == 3
    assert value(after, "flowplane_task_duration_seconds_count", task="test.permanent") == 1
    assert value(after, "flowplane_task_duration_seconds_bucket", task="test.record", le="+Inf") == 3
    assert 0 < value(after, "flowplane_task_duration_seconds_sum", task="test.record") < 30
    buckets = sorted((float(dict(labels)["le"]), found) for (name, labels), found in after.items()
                     if name == "flowplane_task_duration_seconds_bucket" and ("task", "test.record") in labels)
    assert [found for _, found in buckets] == sorted(found for _, found in buckets)  # cumulative
    assert value(after, "flowplane_tasks_queued", state="pending") == 0
    assert value(after, "flowplane_tasks_queued", state="scheduled") == 1
    assert all(found == 1 for (name, _), found in after.items() if name == "flowplane_metrics_source_up")

    # And the worker's log lines about each task (Huey's own included) carry its ids
    lines = [json.loads(line) for line in world.worker_output().splitlines() if ids[0] in line]
    assert len(lines) >= 2, lines  # "Executing …", "… executed in …"
    assert all(line["task_id"] == ids[0] and line["task"] == "test.record" and line["correlation_id"] == correlation
               for line in lines), lines


@pytest.fixture
def make_container(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Container]]:
    built: list[Container] = []

    def make(**env: str) -> Container:
        built.append(build(make_settings(FLOWPLANE_SCHEDULER__DIRECTORY=str(ROOT / "schedules"), **env)))
        return built[-1]

    yield make
    for container in built:
        container.close()


def test_workflow_runs_by_status_and_schedule_fires(make_container: Callable[..., Container]) -> None:
    container = make_container()
    with TestClient(create_app(container)) as client:
        # Given a registration (its run waits for the welcome mail: no worker here) and a manual fire
        register(client)
        fired_at = datetime.now(UTC)
        fire = container.scheduling.fire(container.schedules.get("session_cleanup"), fired_at, "manual")
        assert fire is not None and fire.outcome == "dispatched"
        assert container.plane.flush()  # events published and sent rows cleared, a moment after the commit

        samples = scrape(client)

    assert value(samples, "flowplane_workflow_runs", workflow="user_registration", status="running") == 1
    assert value(samples, "flowplane_workflow_steps", workflow="user_registration") == 9
    assert value(samples, "flowplane_workflow_steps", workflow="user_registration", step="record_onboarding",
                 status="waiting") == 1
    assert value(samples, "flowplane_schedule_fires", schedule="session_cleanup", outcome="dispatched") == 1
    assert value(samples, "flowplane_schedule_fires", schedule="data_retention") == 0
    last = value(samples, "flowplane_schedule_last_fire_timestamp_seconds", schedule="session_cleanup")
    assert abs(last - fired_at.timestamp()) < 60
    assert value(samples, "flowplane_outbox_pending") == 0  # sent after commit, by the same process
    assert value(samples, "flowplane_tasks_queued", state="scheduled") == 1  # the welcome mail's 1 s delay


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database plays no part here
def test_a_stopped_broker_drops_only_the_event_series(make_container: Callable[..., Container]) -> None:
    healthy = make_container()
    stopped = make_container(FLOWPLANE_RABBITMQ__URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}//")
    with TestClient(create_app(healthy)) as client:
        reference = scrape(client)  # the embedded transport answers
    with TestClient(create_app(stopped)) as client:
        started = time.monotonic()
        samples = scrape(client)
        took = time.monotonic() - started

    assert value(reference, "flowplane_metrics_source_up", source="event_broker") == 1
    # The embedded transport cannot count its consumers: no sample, rather than a 0 while three run
    assert not any(name == "flowplane_event_consumers" for name, _ in reference)
    assert any(name == "flowplane_event_queue_messages" for name, _ in reference)
    assert value(samples, "flowplane_metrics_source_up", source="event_broker") == 0
    assert not any(name.startswith(("flowplane_event_queue", "flowplane_event_consumers")) for name, _ in samples)
    assert took < 5
    others = {labels for name, labels in samples if name == "flowplane_metrics_source_up"} - {
        frozenset({("source", "event_broker")})}
    assert others and all(samples[("flowplane_metrics_source_up", labels)] == 1 for labels in others)
    assert {name for name, _ in reference if not name.startswith("flowplane_event")} - {
        "flowplane_metrics_source_duration_seconds"} <= {name for name, _ in samples}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_metrics_token_closes_the_endpoint_to_others(make_container: Callable[..., Container]) -> None:
    # (every other test scrapes without a token: open is the default)
    with TestClient(create_app(make_container(FLOWPLANE_API__METRICS_TOKEN="scrape-secret"))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert scrape(client, Authorization="Bearer scrape-secret")
