"""``flowplane consumers``: each consumer applies events in one DB transaction together with the
record that it did, then acks, so a redelivered message changes nothing. Deliveries that arrive
together (up to the prefetch) share one transaction; one that fails takes its own path while the
others are applied again without it. A failing message waits in its retry queue and comes back up
to ``events.max_retries`` times, then goes to its dead-letter queue with the reason; one that cannot
be decoded goes there at once. Nothing blocks a queue. A database that cannot be reached is no
message's fault: the deliveries wait, unacked and with their attempts uncounted, and the consumer
tries again after a pause that grows while the outage lasts."""

import json
import logging
import time
import traceback
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer
from kombu.mixins import ConsumerMixin
from sqlalchemy import Engine, bindparam, text
from sqlmodel import Session

from app import logs
from app.db.errors import unreachable
from app.db.types import UTCDateTime
from app.plane.envelope import Envelope
from app.plane.events.registry import ConsumerSpec
from app.plane.events.topology import ConsumerQueues, Topology
from app.plane.tasks.registry import PermanentError

log = logging.getLogger(__name__)
ATTEMPT = "x-flowplane-attempt"
ERROR = "x-flowplane-error"
# A retry or dead-letter republish tries a few reconnects, then the delivery goes back to its queue (requeue)
REPUBLISH_RETRIES = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
Item = tuple[ConsumerSpec, ConsumerQueues, Any, Any]  # a delivery waiting to be applied: (spec, queues, body, message)


class _DatabaseUnreachable(Exception):
    """The database did not answer: the delivery is no worse than before, and waits."""


def claim(db: Session, consumer: str, message_id: str) -> bool:
    """Record that ``consumer`` applies ``message_id``; False if it already had."""
    return message_id in claim_many(db, consumer, [message_id])


# One statement with three parameters whatever the batch's size: the ids travel as one JSON array (SQLite)
# or one text[] (PostgreSQL), so the per-message work is the database's, not Python's.
_CLAIM = {
    "sqlite": text("INSERT INTO consumed_messages (consumer, message_id, processed_at) "
                   "SELECT :consumer, value, :now FROM json_each(:ids) WHERE true "  # WHERE: SQLite's upsert syntax
                   "ON CONFLICT (consumer, message_id) DO NOTHING RETURNING message_id"),
    "postgresql": text("INSERT INTO consumed_messages (consumer, message_id, processed_at) "
                       "SELECT :consumer, unnest(CAST(:ids AS text[])), :now "
                       "ON CONFLICT (consumer, message_id) DO NOTHING RETURNING message_id"),
}
_CLAIM = {dialect: statement.bindparams(bindparam("now", type_=UTCDateTime())) for dialect, statement in _CLAIM.items()}


def claim_many(db: Session, consumer: str, message_ids: Sequence[str]) -> set[str]:
    """Record, in one statement, that ``consumer`` applies these messages; the ids it had not applied yet."""
    connection = db.connection()
    dialect = connection.dialect.name
    unique = list(dict.fromkeys(message_ids))
    ids: Any = json.dumps(unique) if dialect == "sqlite" else unique
    claimed = connection.execute(_CLAIM[dialect], {"consumer": consumer, "ids": ids, "now": datetime.now(UTC)})
    return set(claimed.scalars())


def _log_context(spec: ConsumerSpec, envelope: Envelope) -> AbstractContextManager[None]:
    return logs.context(consumer=spec.name, message_id=envelope.id, event_type=envelope.type,
                        correlation_id=envelope.correlation_id)


class EventConsumers(ConsumerMixin):
    def __init__(self, connection: Connection, topology: Topology, specs: Sequence[ConsumerSpec], engine: Engine,
                 services: Any, *, prefetch: int, max_retries: int) -> None:
        self.connection = connection
        self.topology = topology
        self.specs = list(specs)
        self.engine = engine
        self.services = services
        self.prefetch = prefetch
        # Apply a batch at half the prefetch: the broker keeps delivering the other half meanwhile
        self._batch_size = max(1, prefetch // 2)
        self.max_retries = max_retries
        self._producer: Producer | None = None
        self._pending: list[Item] = []
        self._arrived = False  # a delivery came in since the last look: more may be right behind it
        self._paused_until = 0.0  # while the database is unreachable, held deliveries wait until then
        self._stalls = 0  # flushes in a row the database could not take

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        # Wake every 10 ms: a batch is applied as soon as no delivery follows it that quickly.
        super().run(_tokens, safety_interval=0.01, **kwargs)

    def on_iteration(self) -> None:
        if self._pending and not self._arrived:
            self.flush()
        self._arrived = False

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        self.flush()

    def flush(self) -> None:
        if self._pending and time.monotonic() < self._paused_until:
            return  # the database is unreachable: deliveries wait here, unacked, until the pause ends
        pending, self._pending = self._pending, []
        by_consumer: dict[str, list[Item]] = {}
        for item in pending:
            by_consumer.setdefault(item[0].name, []).append(item)
        applied: list[Any] = []
        held: list[Item] = []
        for items in by_consumer.values():
            if held:  # the database went away during this flush: the rest waits too
                held.extend(items)
                continue
            done, held = self._apply(items)
            applied.extend(done)
        if held:
            self._pause(len(held))
            self._pending = held + self._pending
        elif self._stalls:
            log.warning("the database answers again; %d consumer(s) resume", len(self.specs))
            self._stalls = 0
        if applied and not self.topology.embedded and not self._pending:
            # One ack for the lot: every delivery on this channel up to the last one is settled by now
            # (applied here, or retried / dead-lettered / requeued one by one above).
            max(applied, key=lambda message: message.delivery_tag).ack(multiple=True)
        else:  # Kombu's virtual transports ignore ``multiple``; held deliveries must stay unacked
            for message in applied:
                message.ack()

    def _pause(self, waiting: int) -> None:
        """Wait before trying the held deliveries again: 0.5 s, doubling to 30 s while the outage lasts."""
        delay = min(30.0, 0.5 * 2 ** min(self._stalls, 6))
        self._stalls += 1
        self._paused_until = time.monotonic() + delay
        if self._stalls == 1:
            log.warning("the database is unreachable; %d delivery(ies) wait for it (not counted as attempts)",
                        waiting)

    def _apply(self, items: list[Item]) -> tuple[list[Any], list[Item]]:
        """Apply deliveries that arrived together in one transaction. Returns the messages applied (to ack)
        and the deliveries held back because the database is unreachable (to try again later)."""
        spec, queues = items[0][0], items[0][1]
        decoded: list[tuple[Envelope, Item]] = []
        for item in items:
            try:
                decoded.append((Envelope.from_dict(item[2] if isinstance(item[2], dict) else {}), item))
            except (ValueError, KeyError, TypeError) as exc:
                self._dead(queues, item[3], f"undecodable message: {type(exc).__name__}: {exc}")
        if spec.batch_handler is not None and len(decoded) > 1:
            try:
                with Session(self.engine) as db, db.begin():
                    fresh = claim_many(db, spec.name, [envelope.id for envelope, _ in decoded])
                    once = {envelope.id: envelope for envelope, _ in decoded if envelope.id in fresh}
                    spec.batch_handler(db, list(once.values()), self.services)
                return [item[3] for _, item in decoded], []
            except Exception as exc:
                if unreachable(exc):
                    return [], [item for _, item in decoded]
                log.info("%s: a batch of %d failed; applying its deliveries one by one", spec.name, len(decoded))
        return self._apply_together(spec, queues, decoded)

    def _apply_together(self, spec: ConsumerSpec, queues: ConsumerQueues,
                        decoded: list[tuple[Envelope, Item]]) -> tuple[list[Any], list[Item]]:
        """One transaction for all, the handler called per delivery; one that fails is taken out and the
        others applied again without it."""
        while len(decoded) > 1:
            failed_at = None
            try:
                with Session(self.engine) as db, db.begin():
                    fresh = claim_many(db, spec.name, [envelope.id for envelope, _ in decoded])
                    for index, (envelope, _) in enumerate(decoded):
                        failed_at = index
                        if envelope.id in fresh:
                            fresh.discard(envelope.id)  # a duplicate within the batch is applied once
                            with _log_context(spec, envelope):
                                spec.handler(db, envelope, self.services)
            except Exception as exc:
                if unreachable(exc):  # no fault of the messages': they wait, their attempts uncounted
                    return [], [item for _, item in decoded]
                if failed_at is None:
                    break  # the batch failed before any handler ran: each takes its own path below
                # The failing delivery takes its retry or dead-letter path; the others are applied again
                # without it (the rolled-back transaction undid their first application).
                _, (_, _, _, message) = decoded.pop(failed_at)
                self._failed(queues, message, exc)
                continue
            return [item[3] for _, item in decoded], []
        applied = []
        for index, (envelope, item) in enumerate(decoded):
            try:
                if self._handle_decoded(spec, queues, envelope, item[3]):
                    applied.append(item[3])
            except _DatabaseUnreachable:
                return applied, [later for _, later in decoded[index:]]
        return applied, []

    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Any]:
        self.topology.declare(channel)
        self._producer = Producer(self.connection.channel())
        return [consumer_class(queues=[self.topology.consumers[spec.name].main], callbacks=[self._callback(spec)],
                               on_decode_error=self._undecodable(spec), prefetch_count=self.prefetch,
                               accept=["json"]) for spec in self.specs]

    def _undecodable(self, spec: ConsumerSpec) -> Any:
        queues = self.topology.consumers[spec.name]

        def on_decode_error(message: Any, exc: Exception) -> None:
            self._dead(queues, message, f"undecodable message: {type(exc).__name__}: {exc}")

        return on_decode_error

    def on_connection_revived(self) -> None:
        # Before consuming starts (deliveries can arrive while the consumers are being set up): what a
        # lost channel delivered cannot be acked on the new one; the broker delivers it again.
        self._pending = []

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        log.info("consumers ready: %s", ", ".join(spec.name for spec in self.specs))

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        log.warning("event broker unreachable (%s); retrying in %.1f s", type(exc).__name__, interval)

    def _callback(self, spec: ConsumerSpec) -> Any:
        queues = self.topology.consumers[spec.name]

        def on_message(body: Any, message: Any) -> None:
            self._pending.append((spec, queues, body, message))
            self._arrived = True
            if len(self._pending) >= self._batch_size:
                self.flush()

        return on_message

    def handle(self, spec: ConsumerSpec, queues: ConsumerQueues, body: Any, message: Any) -> None:
        """Apply one delivery now (acked when applied); one the database cannot take now goes back to its queue."""
        try:
            envelope = Envelope.from_dict(body if isinstance(body, dict) else {})
        except (ValueError, KeyError, TypeError) as exc:
            self._dead(queues, message, f"undecodable message: {type(exc).__name__}: {exc}")
            return
        try:
            applied = self._handle_decoded(spec, queues, envelope, message)
        except _DatabaseUnreachable:
            message.requeue()
            return
        if applied:
            message.ack()

    def _handle_decoded(self, spec: ConsumerSpec, queues: ConsumerQueues, envelope: Envelope, message: Any) -> bool:
        """Apply one event; True when it is applied (now or before) and the message is to be acked.
        Raises _DatabaseUnreachable, leaving the message alone, when the database cannot be reached."""
        with _log_context(spec, envelope):
            try:
                with Session(self.engine) as db, db.begin():
                    if claim(db, spec.name, envelope.id):
                        spec.handler(db, envelope, self.services)
                    else:
                        log.info("%s already applied %s %s; acking the redelivery", spec.name, envelope.type,
                                 envelope.id)
            except Exception as exc:
                if unreachable(exc):
                    raise _DatabaseUnreachable from exc
                self._failed(queues, message, exc)
                return False
            return True

    def _failed(self, queues: ConsumerQueues, message: Any, exc: Exception) -> None:
        if isinstance(exc, PermanentError):
            self._dead(queues, message, f"PermanentError: {exc}")
            return
        attempt = int((message.headers or {}).get(ATTEMPT, 1))
        if attempt > self.max_retries:
            trace = "".join(traceback.format_exception(exc))
            self._dead(queues, message, f"{type(exc).__name__}: {exc}", trace=trace)
        else:
            self._retry(queues, message, attempt, exc)

    def _republish(self, message: Any, routing_key: str, exchange: Any, headers: dict[str, Any]) -> None:
        assert self._producer is not None
        self._producer.publish(
            message.body, exchange=exchange, routing_key=routing_key, content_type=message.content_type,
            content_encoding=message.content_encoding, delivery_mode=2,
            headers={**(message.headers or {}), **headers}, retry=True, retry_policy=REPUBLISH_RETRIES,
            message_id=message.properties.get("message_id"), type=message.properties.get("type"),
            correlation_id=message.properties.get("correlation_id"),
        )

    def _retry(self, queues: ConsumerQueues, message: Any, attempt: int, exc: Exception) -> None:
        # RabbitMQ: to the TTL queue that dead-letters back; embedded: straight back (it has no TTL queues)
        target = queues.main.name if self.topology.embedded else queues.retry.name
        log.warning("%s failed on attempt %d (%s: %s); retrying", queues.name, attempt, type(exc).__name__, exc)
        try:
            self._republish(message, target, "", {ATTEMPT: attempt + 1, ERROR: f"{type(exc).__name__}: {exc}"[:500]})
        except Exception:
            log.exception("could not schedule a retry; the message goes back to its queue")
            message.requeue()
            return
        message.ack()

    def _dead(self, queues: ConsumerQueues, message: Any, reason: str, trace: str = "") -> None:
        log.error("%s dead-letters message %s: %s", queues.name, message.properties.get("message_id"), reason)
        try:
            self._republish(message, queues.dead.routing_key, self.topology.dead_exchange,
                            {ERROR: reason[:1000], "x-flowplane-consumer": queues.name,
                             "x-flowplane-traceback": trace[-4000:]})
        except Exception:
            log.exception("could not dead-letter; the message goes back to its queue")
            message.requeue()
            return
        message.ack()
