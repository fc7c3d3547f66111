"""The three steps of docs/event-plane.md for a new event, followed to the letter with a module of our own."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.e2e.processes import FLOWPLANE, poll
from tests.integration.events.conftest import EventWorld

MODULE = """
from pydantic import BaseModel

from app.domain.events import EventType
from app.plane.events.registry import ConsumerSpec


# 1. Declare the event in a catalogue, with its payload schema.
class OrderShipped(BaseModel):
    order_id: str
    carrier: str


EVENTS = [EventType("order.shipped", 1, OrderShipped, "An order left the warehouse.")]


# 3. Write a consumer: a handler applied in a DB transaction, and its subscription.
def notify_customer(db, event, services):
    with open(os.environ["SHIPPING_LOG"], "a") as log:
        log.write(f"{event.payload['order_id']} via {event.payload['carrier']}\\n")


CONSUMERS = [ConsumerSpec("shipping", notify_customer, routing_keys=("order.shipped",))]
"""


def test_adding_an_event_takes_three_steps(events_world: EventWorld, tmp_path: Path) -> None:
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "events.py").write_text("import os\n" + textwrap.dedent(MODULE))
    shipping_log = tmp_path / "shipping.log"
    env = {"FLOWPLANE_EVENTS__MODULES": "shop.events", "SHIPPING_LOG": str(shipping_log)}
    events_world.env |= env
    sys.path.insert(0, str(tmp_path))
    os.environ["SHIPPING_LOG"] = str(shipping_log)
    try:
        container = events_world.container()
        process = subprocess.Popen([FLOWPLANE, "consumers", "shipping"], cwd=events_world.directory,
                                   env={**os.environ, **events_world.env, "PYTHONPATH": str(tmp_path)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # 2. Publish it through the plane
            container.plane.publish("order.shipped", {"order_id": "o-17", "carrier": "DHL"})
            lines = poll(lambda: shipping_log.exists() and shipping_log.read_text().splitlines() or None,
                         timeout=30, what="the new consumer")
            assert lines == ["o-17 via DHL"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("shop.events", None)
        sys.modules.pop("shop", None)
        os.environ.pop("SHIPPING_LOG", None)
