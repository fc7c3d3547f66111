"""Publishing events: persistent, confirmed by the broker, ``mandatory`` so an event that reaches no
queue is reported rather than dropped, and retried across reconnects a bounded number of times."""

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer

from app.plane.envelope import Envelope
from app.plane.events.topology import Topology

log = logging.getLogger(__name__)


class UnroutableEvent(RuntimeError):
    """The broker confirmed the event but no queue was bound to receive it."""


class BrokerUnavailable(RuntimeError):
    """The broker failed moments ago; callers leave the event in the outbox instead of waiting."""


BACKOFF_SECONDS = 5.0


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

    def __init__(self, url: str, topology: Topology, *, retries: int = 3) -> None:
        self._url = url
        self.topology = topology
        self._retries = retries
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._returned: set[str] = set()
        self._down_until = 0.0  # while the broker is down, fail at once rather than stall requests
        self._batch_connection: Any = None
        self._batch_channel: Any = None
        self._batch_producer: Any = None
        self._batch_tag = self._confirmed = 0
        self._nacked: set[int] = set()

    def _ensure(self) -> Producer:
        if self._producer is None:
            options = {} if self.topology.embedded else {"confirm_publish": True}
            self._connection = Connection(self._url, transport_options=options, connect_timeout=5)
            self._connection.ensure_connection(max_retries=1, interval_start=0.1, interval_step=0.2,
                                               interval_max=0.5)
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
            if time.monotonic() < self._down_until:
                raise BrokerUnavailable("the event broker was unreachable moments ago")
            for attempt in range(self._retries + 1):
                try:
                    producer = self._ensure()
                    producer.publish(
                        envelope.to_json(), routing_key=envelope.type, content_type="application/json",
                        content_encoding="utf-8", delivery_mode=2, mandatory=not self.topology.embedded,
                        message_id=envelope.id, type=envelope.type, correlation_id=envelope.correlation_id,
                        headers=message_headers(envelope, headers), priority=priority, retry=False,
                    )
                    break
                except Exception as exc:
                    self.close()
                    if not _recoverable(exc):
                        raise
                    if attempt == self._retries:
                        self._down_until = time.monotonic() + BACKOFF_SECONDS
                        raise
                    log.warning("publishing %s failed (%s); reconnecting", envelope.type, type(exc).__name__)
            if not self.topology.embedded and self._connection is not None:
                # basic.return arrives before the confirm; let the connection hand it over
                with contextlib.suppress(Exception):  # a timeout: nothing was returned
                    self._connection.drain_events(timeout=0)
            if envelope.id in self._returned:
                self._returned.discard(envelope.id)
                raise UnroutableEvent(f"event {envelope.type} {envelope.id} matched no queue binding")

    def publish_batch(self, batch: list[tuple[Envelope, dict[str, Any]]], *, timeout: float = 10.0) -> set[str]:
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
            if time.monotonic() < self._down_until:
                raise BrokerUnavailable("the event broker was unreachable moments ago")
            try:
                return self._publish_batch(batch, timeout)
            except Exception as exc:
                self._close_batch()
                if _recoverable(exc):
                    self._down_until = time.monotonic() + BACKOFF_SECONDS
                raise

    def _publish_batch(self, batch: list[tuple[Envelope, dict[str, Any]]], timeout: float) -> set[str]:
        if self._batch_channel is None:
            self._batch_connection = connection = Connection(self._url, connect_timeout=5)
            connection.ensure_connection(max_retries=1)
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

    def _close_batch(self) -> None:
        if self._batch_connection is not None:
            with contextlib.suppress(Exception):
                self._batch_connection.release()
        self._batch_connection = self._batch_channel = self._batch_producer = None
        self._confirmed = self._batch_tag = 0

    def close(self) -> None:
        self._close_batch()
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already gone
                self._connection.release()
        self._connection = self._producer = None


def _recoverable(exc: Exception) -> bool:
    import socket

    from amqp.exceptions import ConnectionError as AmqpConnectionError
    from amqp.exceptions import RecoverableChannelError, RecoverableConnectionError
    from kombu.exceptions import OperationalError

    return isinstance(exc, OSError | socket.timeout | AmqpConnectionError | RecoverableConnectionError |
                      RecoverableChannelError | OperationalError | ConnectionError)
