"""Event plane figures: confirmed publishing and acked consuming, the plane against raw Kombu on the same
RabbitMQ, with a persistent 3-queue fan-out."""

import os
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer

RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _raw_topology(prefix: str) -> tuple[Exchange, list[Queue]]:
    exchange = Exchange(f"{prefix}events", type="topic", durable=True)
    return exchange, [Queue(f"{prefix}{name}", exchange, routing_key="#", durable=True)
                      for name in ("analytics", "crm", "audit")]


def raw_publish(count: int) -> float:
    prefix = f"bench-raw-{uuid.uuid4().hex[:6]}-"
    exchange, queues = _raw_topology(prefix)
    with Connection(RABBITMQ_URL, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        for queue in queues:
            queue(channel).declare()
        producer = Producer(channel, exchange=exchange)
        started = time.perf_counter()
        for index in range(count):
            producer.publish({"n": index}, routing_key="user.created", delivery_mode=2, mandatory=True)
        elapsed = time.perf_counter() - started
        for queue in queues:
            channel.queue_delete(queue.name)
        channel.exchange_delete(exchange.name)
    return count / elapsed


def raw_consume(queue: Queue, prefetch: int) -> float:
    """Messages per second raw Kombu drains ``queue`` at, acking each: the plane's own envelopes and properties,
    so both consumers decode the same bytes."""
    with Connection(RABBITMQ_URL, heartbeat=0) as connection:
        count = connection.channel().queue_declare(queue.name, passive=True).message_count
        received = 0

        def on_message(body: object, message: object) -> None:
            nonlocal received
            received += 1
            message.ack()  # type: ignore[attr-defined]

        started = time.perf_counter()
        with connection.Consumer([queue], callbacks=[on_message], prefetch_count=prefetch, accept=["json"]):
            while received < count:
                connection.drain_events(timeout=5)
        elapsed = time.perf_counter() - started
    return count / elapsed


def plane(count: int, batch: int = 200) -> tuple[float, float, float, float, float]:
    """Rates of publish_batch, the relay from the outbox, raw Kombu consuming one of the plane's queues, the
    audit consumer and a no-op consumer."""
    from app.bootstrap import build, services
    from app.config import load_settings
    from app.handlers.catalogue import CONSUMERS
    from app.plane.envelope import Envelope

    with tempfile.TemporaryDirectory() as directory:
        prefix = f"bench-plane-{uuid.uuid4().hex[:6]}-"
        settings = load_settings(environ={
            "FLOWPLANE_RABBITMQ__URL": RABBITMQ_URL, "FLOWPLANE_RABBITMQ__PREFIX": prefix,
            "FLOWPLANE_DATABASE__URL": f"sqlite:///{Path(directory)}/bench.db",
            "FLOWPLANE_TASKS__SQLITE_PATH": f"{directory}/tasks.db", "FLOWPLANE_API__LOG_LEVEL": "warning",
            "FLOWPLANE_EVENTS__CRM_FAKE_PATH": f"{directory}/crm.db"})
        container = build(settings)
        try:
            payload = {"user_id": "u", "email": "u@example.com", "name": "U"}
            events = [(Envelope(kind="event", type="user.created", payload=payload), {}) for _ in range(count)]
            started = time.perf_counter()
            for start in range(0, count, batch):
                assert not container.publisher.publish_batch(events[start:start + batch])
            publish_rate = count / (time.perf_counter() - started)

            container.plane.events_enabled = True
            with container.new_session() as session, session.begin():
                for _ in range(count):
                    container.plane._write_event(session, Envelope(kind="event", type="user.created", payload=payload),
                                                 {})
                session.info.clear()  # leave them all to the relay
            started = time.perf_counter()
            while container.plane.relay(older_than=timedelta(0)):
                pass
            relay_rate = count / (time.perf_counter() - started)

            # 2 * count messages wait in each queue now: raw Kombu drains the CRM queue, the audit consumer its own,
            # and the analytics queue is drained with a no-op handler: the plane's own cost (transaction, dedupe
            # record, batched ack).
            raw_rate = raw_consume(container.topology.consumers["crm"].main, container.settings.events.prefetch)
            audit = next(spec for spec in CONSUMERS if spec.name == "audit")
            audit_rate = _consume(container, audit, services(settings))
            analytics = next(spec for spec in CONSUMERS if spec.name == "analytics")
            noop = replace(analytics, handler=lambda db, event, services: None,
                           batch_handler=lambda db, events, services: None)
            noop_rate = _consume(container, noop, services(settings))
        finally:  # whatever failed, the run's queues and exchanges go
            with Connection(RABBITMQ_URL) as connection:
                channel = connection.channel()
                for queues in container.topology.consumers.values():
                    for q in (queues.main, queues.retry, queues.dead):
                        channel.queue_delete(q.name)
                channel.exchange_delete(container.topology.exchange.name)
                channel.exchange_delete(container.topology.dead_exchange.name)
            container.close()
    return publish_rate, relay_rate, raw_rate, audit_rate, noop_rate


def _consume(container: Any, spec: Any, handler_services: Any) -> float:
    """Messages per second ``spec`` applies until its queue is empty; the consumer itself says when, so no
    polling thread competes with it for the interpreter."""
    from app.plane.events.consumer import EventConsumers

    queue = container.topology.consumers[spec.name].main
    with Connection(RABBITMQ_URL) as probe:
        count = probe.channel().queue_declare(queue.name, passive=True).message_count
    done, applied = threading.Event(), [0]

    def counted(db: Any, events: Any, services: Any) -> None:
        spec.batch_handler(db, events, services)
        applied[0] += len(events)
        if applied[0] >= count:
            done.set()

    class Timed(EventConsumers):  # type: ignore[misc]
        ready_at = 0.0

        def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
            # The clock starts where the raw consumer's does: connected, queues declared, subscribing
            self.ready_at = time.perf_counter()
            super().on_consume_ready(*args, **kwargs)

    counting = replace(spec, batch_handler=counted)
    with Connection(RABBITMQ_URL, heartbeat=0) as connection:
        runner = Timed(connection, container.topology, [counting], container.engine, handler_services,
                       prefetch=container.settings.events.prefetch, max_retries=container.settings.events.max_retries)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        done.wait(timeout=120)
        elapsed = time.perf_counter() - runner.ready_at
        runner.should_stop = True
        thread.join(timeout=10)
    return applied[0] / elapsed


def report(count: int, rounds: int = 3) -> None:
    from app.config import EventSettings

    prefetch = EventSettings().prefetch
    runs = []
    for _ in range(rounds):  # alternating rounds, medians: one noisy second on a shared machine skews neither side
        runs.append((raw_publish(count), *plane(count)))
    raw_pub, pub, relay, raw_con, audit, noop = (statistics.median(column) for column in zip(*runs, strict=True))
    print(f"\nevents ({count} persistent messages, topic exchange, 3-queue fan-out; medians of {rounds} rounds):")
    print(f"  raw Kombu, confirmed one at a time   {raw_pub:8.0f} msgs/s")
    print(f"  plane publish_batch (200 per confirm) {pub:8.0f} msgs/s   {pub / raw_pub:.2f}x raw")
    print(f"  plane relay, outbox -> broker        {relay:8.0f} msgs/s   {relay / raw_pub:.2f}x raw")
    print(f"  raw Kombu consume, manual acks, prefetch {prefetch} {raw_con:8.0f} msgs/s   (the plane's messages, "
          f"{2 * count} per queue)")
    print(f"  plane consumer, no-op handler        {noop:8.0f} msgs/s   {noop / raw_con:.2f}x raw   "
          "(dedupe record committed before the ack, SQLite)")
    print(f"  plane audit consumer                 {audit:8.0f} msgs/s   {audit / raw_con:.2f}x raw   "
          "(+ an audit row per event)")
