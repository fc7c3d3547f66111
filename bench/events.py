"""Event plane figures: confirmed publishing and acked consuming, the plane against raw Kombu on the same
RabbitMQ, with a persistent 3-queue fan-out.

Two raw baselines each side, so every ratio says which one it is against:
  publishing  raw Kombu waiting for each confirm (``confirm_publish``), and raw Kombu waiting once per batch of
              200 (``confirm_select`` by hand, as ``EventPublisher.publish_batch`` does, with the same batch size)
  consuming   raw Kombu acking each message, and raw Kombu acking every ``prefetch // 2``-th message with
              ``multiple`` (the size of the plane consumer's batch), the remainder when the queue goes quiet
"""

import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer

RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
BATCH = 200  # events per publish_batch call (and the relay's batch): the batched raw baseline waits as often
IDLE = 0.01  # the plane's consumer applies (and acks) a partial batch after 10 ms without a delivery; so does raw


def _raw_topology(prefix: str) -> tuple[Exchange, list[Queue]]:
    exchange = Exchange(f"{prefix}events", type="topic", durable=True)
    return exchange, [Queue(f"{prefix}{name}", exchange, routing_key="#", durable=True)
                      for name in ("analytics", "crm", "audit")]


def _delete(queues: Iterable[str], exchanges: Iterable[str]) -> None:
    """On a connection of its own: the one that failed (or was interrupted mid-frame) may be unusable."""
    with Connection(RABBITMQ_URL) as connection:
        channel = connection.channel()
        for name in queues:
            channel.queue_delete(name)
        for name in exchanges:
            channel.exchange_delete(name)


def raw_publish(count: int) -> float:
    """Messages per second raw Kombu publishes, waiting for each one's confirm."""
    prefix = f"bench-raw-{uuid.uuid4().hex[:6]}-"
    exchange, queues = _raw_topology(prefix)
    try:
        with Connection(RABBITMQ_URL, transport_options={"confirm_publish": True}) as connection:
            channel = connection.channel()
            for queue in queues:
                queue(channel).declare()
            producer = Producer(channel, exchange=exchange)
            started = time.perf_counter()
            for index in range(count):
                producer.publish({"n": index}, routing_key="user.created", delivery_mode=2, mandatory=True)
            elapsed = time.perf_counter() - started
    finally:
        _delete([queue.name for queue in queues], [exchange.name])
    return count / elapsed


def raw_publish_batched(count: int, batch: int = BATCH) -> float:
    """Messages per second raw Kombu publishes ``batch`` at a time, waiting once for each batch's confirms: the
    raw equivalent of ``EventPublisher.publish_batch`` (confirm mode selected by hand, the transport's own
    per-message wait off, acks counted from ``basic_ack``; every publish is persistent and mandatory)."""
    prefix = f"bench-rawbatch-{uuid.uuid4().hex[:6]}-"
    exchange, queues = _raw_topology(prefix)
    confirmed, nacked = [0], [0]

    def on_ack(delivery_tag: int, multiple: bool) -> None:
        confirmed[0] = max(confirmed[0], delivery_tag)

    def on_nack(delivery_tag: int, multiple: bool) -> None:
        nacked[0] += 1
        confirmed[0] = max(confirmed[0], delivery_tag)

    try:
        with Connection(RABBITMQ_URL) as connection:  # no confirm_publish: publish() does not wait
            channel = connection.channel()
            for queue in queues:
                queue(channel).declare()
            channel.confirm_select()
            channel.events["basic_ack"].add(on_ack)
            channel.events["basic_nack"].add(on_nack)
            producer = Producer(channel, exchange=exchange)
            tag = 0
            started = time.perf_counter()
            for start in range(0, count, batch):
                for index in range(start, min(count, start + batch)):
                    producer.publish({"n": index}, routing_key="user.created", delivery_mode=2, mandatory=True)
                tag += min(batch, count - start)
                while confirmed[0] < tag:
                    connection.drain_events(timeout=5)
            elapsed = time.perf_counter() - started
    finally:
        _delete([queue.name for queue in queues], [exchange.name])
    if nacked[0]:
        raise RuntimeError(f"the broker nacked {nacked[0]} raw publish(es)")
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


def raw_consume_multiple(queue: Queue, prefetch: int, every: int) -> float:
    """Messages per second raw Kombu drains ``queue`` at, acking every ``every``-th delivery with ``multiple``
    (which settles all before it on the channel) and the remainder after ``IDLE`` without a delivery: the plane
    consumer's ack pattern without its transaction and dedupe record. Same messages as ``raw_consume``."""
    with Connection(RABBITMQ_URL, heartbeat=0) as connection:
        count = int(connection.channel().queue_declare(queue.name, passive=True).message_count)
        received, quiet = 0, 0.0
        unacked: Any = None  # the last delivery not yet covered by a multiple ack

        def on_message(body: object, message: Any) -> None:
            nonlocal received, unacked, quiet
            received += 1
            quiet = 0.0
            if received % every == 0:
                message.ack(multiple=True)
                unacked = None
            else:
                unacked = message

        started = time.perf_counter()
        with connection.Consumer([queue], callbacks=[on_message], prefetch_count=prefetch, accept=["json"]):
            while received < count:
                try:
                    connection.drain_events(timeout=IDLE)
                except TimeoutError:
                    if unacked is not None:  # idle: flush the remainder
                        unacked.ack(multiple=True)
                        unacked = None
                    quiet += IDLE
                    if quiet > 5:
                        raise
            if unacked is not None:
                unacked.ack(multiple=True)
        elapsed = time.perf_counter() - started
    return count / elapsed


def _fill_side_queue(side_topology: Any, count: int) -> None:
    """Untimed: ``count`` events into a queue of their own through the plane's own publisher, so the queue holds
    the same messages (bytes, properties, queue arguments) as the plane's CRM queue without a 4th queue on the
    timed fan-out."""
    from app.plane.envelope import Envelope
    from app.plane.events.publisher import EventPublisher

    payload = {"user_id": "u", "email": "u@example.com", "name": "U"}
    publisher = EventPublisher(RABBITMQ_URL, side_topology)
    try:
        for start in range(0, count, BATCH):
            events: list[tuple[Envelope, dict[str, Any]]] = [
                (Envelope(kind="event", type="user.created", payload=payload), {})
                for _ in range(min(BATCH, count - start))]
            assert not publisher.publish_batch(events)
    finally:
        publisher.close()


def plane(count: int, batch: int = BATCH) -> tuple[float, float, float, float, float, float]:
    """Rates of publish_batch, the relay from the outbox, raw Kombu consuming one of the plane's queues (acking
    each message), raw Kombu consuming a copy of it (multiple acks), the audit consumer and a no-op consumer."""
    from app.bootstrap import build, services
    from app.config import load_settings
    from app.handlers.catalogue import CONSUMERS
    from app.plane.envelope import Envelope
    from app.plane.events.topology import build_topology

    with tempfile.TemporaryDirectory() as directory:
        prefix = f"bench-plane-{uuid.uuid4().hex[:6]}-"
        settings = load_settings(environ={
            "FLOWPLANE_RABBITMQ__URL": RABBITMQ_URL, "FLOWPLANE_RABBITMQ__PREFIX": prefix,
            "FLOWPLANE_DATABASE__URL": f"sqlite:///{Path(directory)}/bench.db",
            "FLOWPLANE_TASKS__SQLITE_PATH": f"{directory}/tasks.db", "FLOWPLANE_API__LOG_LEVEL": "warning",
            "FLOWPLANE_EVENTS__CRM_FAKE_PATH": f"{directory}/crm.db"})
        # A one-queue copy of the CRM subscription under its own exchange, for the second raw consumer
        side_settings = settings.model_copy(
            update={"rabbitmq": settings.rabbitmq.model_copy(update={"prefix": f"{prefix}side-"})})
        crm = next(spec for spec in CONSUMERS if spec.name == "crm")
        side_topology = build_topology(side_settings, [crm.binding])
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
            # record, batched ack). The side queue gets as many of the same messages, for raw multiple acks.
            _fill_side_queue(side_topology, 2 * count)
            prefetch = container.settings.events.prefetch
            raw_rate = raw_consume(container.topology.consumers["crm"].main, prefetch)
            raw_multiple_rate = raw_consume_multiple(side_topology.consumers["crm"].main, prefetch,
                                                     max(1, prefetch // 2))
            audit = next(spec for spec in CONSUMERS if spec.name == "audit")
            audit_rate = _consume(container, audit, services(settings))
            analytics = next(spec for spec in CONSUMERS if spec.name == "analytics")
            noop = replace(analytics, handler=lambda db, event, services: None,
                           batch_handler=lambda db, events, services: None)
            noop_rate = _consume(container, noop, services(settings))
        finally:  # whatever failed, the run's queues and exchanges go
            with Connection(RABBITMQ_URL) as connection:
                channel = connection.channel()
                container.topology.delete(channel)
                side_topology.delete(channel)
            container.close()
    return publish_rate, relay_rate, raw_rate, raw_multiple_rate, audit_rate, noop_rate
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
    every = max(1, prefetch // 2)
    runs = []
    for _ in range(rounds):  # alternating rounds, medians: one noisy second on a shared machine skews neither side
        runs.append((raw_publish(count), raw_publish_batched(count), *plane(count)))
    raw_pub, raw_batch, pub, relay, raw_con, raw_multi, audit, noop = (
        statistics.median(column) for column in zip(*runs, strict=True))

    def row(label: str, rate: float, note: str = "") -> None:
        print(f"  {label:<48} {rate:8.0f} msgs/s{'   ' + note if note else ''}")

    print(f"\nevents ({count} persistent messages, topic exchange, 3-queue fan-out; medians of {rounds} rounds):")
    print("  publishing (ratios: plane / raw one-at-a-time confirms, plane / raw batched confirms):")
    row("raw Kombu, confirmed one at a time", raw_pub)
    row(f"raw Kombu, {BATCH} per confirm (confirm_select)", raw_batch)
    row(f"plane publish_batch ({BATCH} per confirm)", pub,
        f"{pub / raw_pub:5.2f}x raw one-at-a-time   {pub / raw_batch:5.2f}x raw batched")
    row(f"plane relay, outbox -> broker ({BATCH} per confirm)", relay,
        f"{relay / raw_pub:5.2f}x raw one-at-a-time   {relay / raw_batch:5.2f}x raw batched")
    print(f"  consuming, prefetch {prefetch}, the plane's messages, {2 * count} per queue\n"
          "  (ratios: plane / raw per-message acks, plane / raw multiple acks):")
    row("raw Kombu consume, ack per message", raw_con)
    row(f"raw Kombu consume, multiple ack every {every} (+idle)", raw_multi,
        f"{raw_multi / raw_con:5.2f}x raw per-message acks")
    row("plane consumer, no-op handler", noop,
        f"{noop / raw_con:5.2f}x raw per-message   {noop / raw_multi:5.2f}x raw multiple   "
        "(dedupe record committed before the ack, SQLite)")
    row("plane audit consumer", audit,
        f"{audit / raw_con:5.2f}x raw per-message   {audit / raw_multi:5.2f}x raw multiple   "
        "(+ an audit row per event)")
