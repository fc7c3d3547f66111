"""Publishing events: persistent, confirmed by the broker, ``mandatory`` so an event that reaches no
queue is reported rather than dropped. Every wait is bounded (connect, handshake, socket reads and
writes, the confirm); a connection reset is retried on a fresh connection a bounded number of times,
while a timeout — a broker that stopped answering would not answer a new connection either — or a
refused connection marks the broker unavailable for a short backoff: publishes fail at once meanwhile
and their events stay in the outbox."""

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer

from app.availability import Availability
from app.plane.envelope import Envelope
from app.plane.events.topology import Topology

log = logging.getLogger(__name__)


class UnroutableEvent(RuntimeError):
    """The broker confirmed the event but no queue was bound to receive it."""


def message_headers(envelope: Envelope, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        **(extra or {}),
        "type": envelope.type,
        "version": envelope.version,
        "occurred_at": envelope.created_at.isoformat(),
        "correlation_id": envelope.correlation_id or envelope.id,
    }


class EventPublisher:
    """One connection and channel per publisher, guarded by a lock: Kombu channels are not thread-safe."""

    def __init__(self, url: str, topology: Topology, *, retries: int = 3, connect_timeout: float = 1.0,
                 timeout: float = 1.0, backoff: float = 2.0) -> None:
        self._url = url
        self.topology = topology
        self._retries = retries
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self.availability = Availability("event broker", backoff)
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._returned: set[str] = set()
        self._batch_connection: Any = None
        self._batch_channel: Any = None
        self._batch_producer: Any = None
        self._batch_tag = self._confirmed = 0
        self._nacked: set[int] = set()

    def _connect(self, **options: Any) -> Connection:
        """A connection whose every wait is bounded (on RabbitMQ; the embedded transport is a local file)."""
        if not self.topology.embedded:
            options |= {"read_timeout": self._timeout, "write_timeout": self._timeout}
        connection = Connection(self._url, transport_options=options, connect_timeout=self._connect_timeout)
        connection.ensure_connection(max_retries=0, timeout=self._connect_timeout)  # one try; publish() retries
        return connection

    def _ensure(self) -> Producer:
        if self._producer is None:
            self._connection = self._connect(**({} if self.topology.embedded else {"confirm_publish": True}))
            channel = self._connection.channel()
            self.topology.declare(channel)
            on_return = None if self.topology.embedded else self._on_return  # embedded: no basic.return
            self._producer = Producer(channel, exchange=self.topology.exchange, on_return=on_return)
        return self._producer

    def _on_return(self, exception: Exception, exchange: str, routing_key: str, message: Any) -> None:
        message_id = getattr(message, "properties", {}).get("message_id")
        log.error("event %s (%s) reached no queue: %s", message_id, routing_key, exception)
        if message_id:
            self._returned.add(message_id)

    def publish(self, envelope: Envelope, *, headers: Mapping[str, Any] | None = None, priority: int = 0) -> None:
        """Publish and wait for the broker's confirm; UnroutableEvent if no queue took it."""
        with self._lock:
            self.availability.check()
            for attempt in range(self._retries + 1):
                fresh = self._producer is None
                try:
                    producer = self._ensure()
                    producer.publish(
                        envelope.to_json(), routing_key=envelope.type, content_type="application/json",
                        content_encoding="utf-8", delivery_mode=2, mandatory=not self.topology.embedded,
                        message_id=envelope.id, type=envelope.type, correlation_id=envelope.correlation_id,
                        headers=message_headers(envelope, headers), priority=priority, retry=False,
                        timeout=self._timeout, confirm_timeout=self._timeout,
                    )
                    break
                except Exception as exc:
                    self._drop()
                    if not _recoverable(exc):
                        raise
                    if _timed_out(exc) or (fresh and _refused(exc)) or attempt == self._retries:
                        self.availability.failed(type(exc).__name__)
                        raise
                    log.warning("publishing %s failed (%s); reconnecting", envelope.type, type(exc).__name__)
            self.availability.succeeded()
            if not self.topology.embedded and self._connection is not None:
                # basic.return arrives before the confirm; let the connection hand it over
                with contextlib.suppress(Exception):  # a timeout: nothing was returned
                    self._connection.drain_events(timeout=0)
            if envelope.id in self._returned:
                self._returned.discard(envelope.id)
                raise UnroutableEvent(f"event {envelope.type} {envelope.id} matched no queue binding")

    def publish_batch(self, batch: list[tuple[Envelope, dict[str, Any]]], *, timeout: float | None = None) -> set[str]:
        """Publish many events and wait for their confirms together: the broker confirms a batch about
        as fast as one message. Returns the ids the broker nacked or returned (they stay in the outbox).

        The embedded transport has no confirms: it publishes one by one."""
        if self.topology.embedded:
            failed = set()
            for envelope, options in batch:
                try:
                    self.publish(envelope, headers=options.get("headers"), priority=options.get("priority", 0))
                except Exception:
                    failed.add(envelope.id)
            return failed
        with self._lock:
            self.availability.check()
            try:
                # A batch's confirms come together, a moment after its last publish: a few answers' time
                failed = self._publish_batch(batch, 5 * self._timeout if timeout is None else timeout)
            except Exception as exc:
                self._close_batch(gracefully=False)
                if _recoverable(exc):
                    self.availability.failed(type(exc).__name__)
                raise
            self.availability.succeeded()
            return failed

    def _publish_batch(self, batch: list[tuple[Envelope, dict[str, Any]]], timeout: float) -> set[str]:
        if self._batch_channel is None:
            self._batch_connection = connection = self._connect()
            channel = connection.channel()
            self.topology.declare(channel)
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._batch_channel, self._batch_tag, self._confirmed = channel, 0, 0
            self._batch_producer = Producer(channel, exchange=self.topology.exchange, on_return=self._on_return)
        tags: dict[int, str] = {}
        for envelope, options in batch:
            self._batch_producer.publish(
                envelope.to_json(), routing_key=envelope.type, content_type="application/json",
                content_encoding="utf-8", delivery_mode=2, mandatory=True, message_id=envelope.id,
                type=envelope.type, correlation_id=envelope.correlation_id,
                headers=message_headers(envelope, options.get("headers")), priority=options.get("priority", 0),
                retry=False)
            self._batch_tag += 1
            tags[self._batch_tag] = envelope.id
        last, deadline = self._batch_tag, time.monotonic() + timeout
        while self._confirmed < last:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no confirm for {last - self._confirmed} event(s) within {timeout} s")
            self._batch_connection.drain_events(timeout=max(0.01, deadline - time.monotonic()))
        failed = {tags[tag] for tag in self._nacked if tag in tags}
        self._nacked -= set(tags)
        returned = {message_id for message_id in tags.values() if message_id in self._returned}
        self._returned -= returned
        return failed | returned

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._confirmed = max(self._confirmed, delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        start = self._confirmed + 1 if multiple else delivery_tag
        self._nacked.update(range(start, delivery_tag + 1))
        self._confirmed = max(self._confirmed, delivery_tag)

    def _close_batch(self, *, gracefully: bool = True) -> None:
        if self._batch_connection is not None:
            _let_go(self._batch_connection, gracefully)
        self._batch_connection = self._batch_channel = self._batch_producer = None
        self._confirmed = self._batch_tag = 0

    def _drop(self) -> None:
        """Forget a connection that failed, without the closing handshake a silent broker would not answer."""
        if self._connection is not None:
            _let_go(self._connection, gracefully=False)
        self._connection = self._producer = None

    def close(self) -> None:
        with self._lock:
            self._close_batch()
            if self._connection is not None:
                _let_go(self._connection, gracefully=True)
            self._connection = self._producer = None


def _let_go(connection: Connection, gracefully: bool) -> None:
    with contextlib.suppress(Exception):  # already gone
        if gracefully:
            connection.release()
        else:
            connection.collect()


def _timed_out(exc: BaseException) -> bool:
    return any(isinstance(cause, TimeoutError) for cause in _causes(exc))


def _refused(exc: BaseException) -> bool:
    return any(isinstance(cause, ConnectionRefusedError) for cause in _causes(exc))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _recoverable(exc: Exception) -> bool:
    import socket

    from amqp.exceptions import ConnectionError as AmqpConnectionError
    from amqp.exceptions import RecoverableChannelError, RecoverableConnectionError
    from kombu.exceptions import OperationalError

    return isinstance(exc, OSError | socket.timeout | AmqpConnectionError | RecoverableConnectionError |
                      RecoverableChannelError | OperationalError | ConnectionError)
