"""The reconciler: a step whose task no queue holds any more (Redis flushed) is dispatched again."""

from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from app.plane.tasks import inspect as inspect_module
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run, start, step_lines, write_workflow
from tests.servers import REDIS_URL

FLOW = """name = "fragile"

[input]
log = "str"

[[steps]]
id = "only"
task = "test.step"
payload = { log = "{{ input.log }}" }
"""


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_step_lost_with_a_flushed_redis_is_dispatched_again(world: PlaneWorld) -> None:
    directory = world.directory / "flows"
    write_workflow(directory, "fragile", FLOW)
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory), "FLOWPLANE_WORKFLOWS__LEASE": "1s",
                  "FLOWPLANE_WORKFLOWS__RECONCILE_INTERVAL": "0.2s"}
    container = world.container()
    log = world.directory / "steps.log"
    kept = start(container, "fragile", {"log": str(log)})
    lost = start(container, "fragile", {"log": str(log)})
    client = Redis.from_url(REDIS_URL)
    prefix = world.env["FLOWPLANE_REDIS__KEY_PREFIX"]
    # Take the second run's task out of the queue, as a flushed or failed-over Redis would have
    queue = next(key for key in client.scan_iter(f"*{prefix}*") if client.type(key) == b"zset")
    members = client.zrange(queue, 0, -1)
    gone = [member for member in members if lost.encode() in member]
    assert len(members) == 2 and len(gone) == 1
    client.zrem(queue, *gone)
    client.close()

    world.start_worker(concurrency=1)
    assert finished_run(container, kept)["status"] == "succeeded"
    assert finished_run(container, lost, timeout=30)["status"] == "succeeded"
    assert sorted(line["run"] for line in step_lines(log)) == sorted([kept, lost])  # each ran once
    assert "is in no queue; dispatching it again" in world.worker_output()


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_backlog_deeper_than_one_look_is_not_doubled(world: PlaneWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = world.directory / "flows"
    write_workflow(directory, "fragile", FLOW)
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory)}
    container = world.container()
    log = str(world.directory / "steps.log")
    runs = [start(container, "fragile", {"log": log}) for _ in range(4)]
    assert container.plane.flush()  # their outbox rows gone: only the queue can vouch for them
    later = datetime.now(UTC) + timedelta(hours=1)  # every step has waited past its lease by then
    # Given no worker runs and the queue holds more tasks than the inspector reads at one look
    monkeypatch.setattr(inspect_module, "SCAN_LIMIT", 3)
    # Then the reconciler cannot rule any out, and sends none again
    assert container.runner.reconcile(now=later) == 0
    # And with a look that reads them all, it finds every one queued: still none sent again
    monkeypatch.setattr(inspect_module, "SCAN_LIMIT", 10)
    assert container.runner.reconcile(now=later) == 0
    # While one taken out of the queue is found missing and sent again, once
    client = Redis.from_url(REDIS_URL)
    queue = next(key for key in client.scan_iter(f"*{world.env['FLOWPLANE_REDIS__KEY_PREFIX']}*")
                 if client.type(key) == b"zset")
    client.zrem(queue, *[member for member in client.zrange(queue, 0, -1) if runs[0].encode() in member])
    assert client.zcard(queue) == 3
    assert container.runner.reconcile(now=later) == 1
    assert client.zcard(queue) == 4
    client.close()
