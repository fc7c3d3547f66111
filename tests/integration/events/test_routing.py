"""Topology and publishing against the real RabbitMQ: fan-out, topic patterns, headers, priorities,
persistence and confirms, unroutable events, payload schemas."""

import json

import pytest
from kombu.connection import Connection

from app.domain.events import InvalidEvent
from app.plane.envelope import Envelope
from app.plane.events.publisher import EventPublisher, UnroutableEvent
from app.plane.events.registry import ConsumerBinding
from app.plane.events.topology import build_topology, transport_url
from tests.integration.events.conftest import EventWorld, drain
from tests.servers import RABBITMQ_URL


def _event(kind: str, **payload: object) -> Envelope:
    return Envelope(kind="event", type=kind, payload=dict(payload))


def test_topic_patterns_route_each_event_to_its_subscribers(events_world: EventWorld) -> None:
    settings = events_world.settings()
    topology = build_topology(settings, [ConsumerBinding("users", ("user.*",)), ConsumerBinding("deletions",
                              ("*.deleted",)), ConsumerBinding("signups", ("user.created",))])
    events_world.topologies.append(topology)
    publisher = EventPublisher(transport_url(settings), topology)
    for kind in ("user.created", "user.deleted", "order.deleted"):
        publisher.publish(_event(kind))
    publisher.close()
    with Connection(RABBITMQ_URL) as connection:
        got = {name: sorted(m.properties["type"] for m in drain(connection, queues.main))
               for name, queues in topology.consumers.items()}
    assert got == {"users": ["user.created", "user.deleted"], "deletions": ["order.deleted", "user.deleted"],
                   "signups": ["user.created"]}


def test_messages_are_persistent_and_carry_their_metadata(events_world: EventWorld) -> None:
    settings = events_world.settings()
    topology = build_topology(settings, [ConsumerBinding("all", ("#",))])
    events_world.topologies.append(topology)
    publisher = EventPublisher(transport_url(settings), topology)
    event = Envelope(kind="event", type="user.created", payload={"a": 1}, correlation_id="corr-1")
    publisher.publish(event)
    publisher.close()
    with Connection(RABBITMQ_URL) as connection:
        [message] = drain(connection, topology.consumers["all"].main)
    assert message.properties["delivery_mode"] == 2
    assert message.properties["message_id"] == event.id
    assert message.headers["type"] == "user.created" and message.headers["version"] == 1
    assert message.headers["correlation_id"] == "corr-1"
    assert message.headers["occurred_at"] == event.created_at.isoformat()
    assert json.loads(message.body)["payload"] == {"a": 1}


def test_a_headers_exchange_routes_on_header_matches(events_world: EventWorld) -> None:
    settings = events_world.settings(FLOWPLANE_EVENTS__EXCHANGE_TYPE="headers")
    topology = build_topology(settings, [
        ConsumerBinding("acme-signups", headers={"type": "user.created", "tenant": "acme"}, match="all"),
        ConsumerBinding("anything-acme", headers={"tenant": "acme"}, match="any"),
    ])
    events_world.topologies.append(topology)
    publisher = EventPublisher(transport_url(settings), topology)
    publisher.publish(_event("user.created"), headers={"tenant": "acme"})
    publisher.publish(_event("user.deleted"), headers={"tenant": "acme"})
    with pytest.raises(UnroutableEvent):
        publisher.publish(_event("user.created"), headers={"tenant": "globex"})
    publisher.close()
    with Connection(RABBITMQ_URL) as connection:
        got = {name: sorted(m.properties["type"] for m in drain(connection, queues.main))
               for name, queues in topology.consumers.items()}
    assert got == {"acme-signups": ["user.created"], "anything-acme": ["user.created", "user.deleted"]}


def test_a_priority_queue_delivers_higher_priority_first(events_world: EventWorld) -> None:
    settings = events_world.settings(FLOWPLANE_EVENTS__MAX_PRIORITY="10")
    topology = build_topology(settings, [ConsumerBinding("ranked", ("#",))])
    events_world.topologies.append(topology)
    publisher = EventPublisher(transport_url(settings), topology)
    for priority in (1, 9, 5, 0):
        publisher.publish(_event("user.created", rank=priority), priority=priority)
    publisher.close()
    with Connection(RABBITMQ_URL) as connection:
        ranks = [json.loads(m.body)["payload"]["rank"] for m in drain(connection, topology.consumers["ranked"].main)]
    assert ranks == [9, 5, 1, 0]


def test_an_unroutable_event_is_reported_to_the_caller(events_world: EventWorld) -> None:
    settings = events_world.settings()
    topology = build_topology(settings, [ConsumerBinding("users", ("user.*",))])
    events_world.topologies.append(topology)
    publisher = EventPublisher(transport_url(settings), topology)
    with pytest.raises(UnroutableEvent, match="order.shipped"):
        publisher.publish(_event("order.shipped"))
    publisher.publish(_event("user.created"))  # the channel is still usable afterwards
    publisher.close()


def test_the_producer_refuses_payloads_that_break_the_schema(events_world: EventWorld) -> None:
    container = events_world.container()
    with pytest.raises(InvalidEvent) as error:
        container.plane.publish("user.created", {"email": "not-an-address", "name": ""})
    assert set(error.value.problems) == {"user_id", "email", "name"}
    with pytest.raises(KeyError, match="unknown event 'user.vanished'"):
        container.plane.publish("user.vanished", {})


def test_the_topology_is_printed_and_declared_idempotently(events_world: EventWorld) -> None:
    container = events_world.container()
    with Connection(RABBITMQ_URL) as connection:
        container.topology.declare(connection.channel())
        container.topology.declare(connection.channel())  # the same arguments: accepted again
    text = container.topology.describe()
    prefix = events_world.env["FLOWPLANE_RABBITMQ__PREFIX"]
    for name in ("analytics", "crm", "audit"):
        assert f"queue {prefix}{name} <- {prefix}events" in text
        assert f"queue {prefix}{name}.retry (waits, then back to {prefix}{name})" in text
        assert f"queue {prefix}{name}.dead <- {prefix}events.dead" in text
    assert "'x-dead-letter-exchange'" in text and "'x-message-ttl': 200" in text
