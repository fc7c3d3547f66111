"""The event topology, in one place: built from settings and the consumer table, declared
idempotently by every process at start, printed by `flowplane events topology`.

Per consumer ``C`` (names carry ``rabbitmq.prefix``):
  queue ``C``         bound to the events exchange; rejected or expired messages go to ``C.dead``
  queue ``C.retry``   a failing message waits here ``events.retry_delay``, then dead-letters back to ``C``
  queue ``C.dead``    messages that exhausted their retries or could not be decoded, with the reason
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kombu.entity import Exchange, Queue

from app.config import Settings
from app.plane.events.registry import ConsumerBinding


@dataclass(frozen=True)
class ConsumerQueues:
    name: str
    main: Queue
    retry: Queue
    dead: Queue


@dataclass(frozen=True)
class Topology:
    exchange: Exchange
    dead_exchange: Exchange
    consumers: dict[str, ConsumerQueues]
    embedded: bool

    def declare(self, channel: Any) -> None:
        """Idempotent: RabbitMQ accepts a re-declare with the same arguments."""
        self.exchange(channel).declare()
        self.dead_exchange(channel).declare()
        for queues in self.consumers.values():
            for queue in (queues.main, queues.retry, queues.dead):
                queue(channel).declare()

    def delete(self, channel: Any) -> None:
        """Remove every exchange and queue, messages included (tests and benchmarks clean up with it)."""
        for queues in self.consumers.values():
            for queue in (queues.main, queues.retry, queues.dead):
                channel.queue_delete(queue.name)
        channel.exchange_delete(self.exchange.name)
        channel.exchange_delete(self.dead_exchange.name)

    def describe(self) -> str:
        lines = [f"exchange {self.exchange.name} ({self.exchange.type}, durable)",
                 f"exchange {self.dead_exchange.name} (direct, durable): dead letters"]
        for queues in self.consumers.values():
            bindings: list[Any] = list(queues.main.bindings or [])
            routed = ", ".join(
                (f"headers {dict(b.arguments or {})}" if self.exchange.type == "headers" else f"key {b.routing_key!r}")
                for b in bindings
            ) or ("every event" if self.exchange.type == "fanout" else "")
            lines.append(f"queue {queues.main.name} <- {self.exchange.name} [{routed}] args "
                         f"{_arguments(queues.main)}")
            lines.append(f"queue {queues.retry.name} (waits, then back to {queues.main.name}) args "
                         f"{_arguments(queues.retry)}")
            lines.append(f"queue {queues.dead.name} <- {self.dead_exchange.name} [key {queues.dead.routing_key!r}]")
        return "\n".join(lines)


def build_topology(settings: Settings, bindings: Sequence[ConsumerBinding]) -> Topology:
    events, prefix = settings.events, settings.rabbitmq.prefix
    embedded = not settings.rabbitmq.url
    if embedded and events.exchange_type == "headers":
        raise ValueError("events.exchange_type = 'headers' needs RabbitMQ (rabbitmq.url); the embedded transport "
                         "routes topic, fanout and direct exchanges only")
    exchange = Exchange(f"{prefix}{events.exchange}", type=events.exchange_type, durable=True)
    dead_exchange = Exchange(f"{prefix}{events.exchange}.dead", type="direct", durable=True)
    consumers = {}
    for binding in bindings:
        name = f"{prefix}{binding.name}"
        arguments: dict[str, Any] = {}
        retry_arguments: dict[str, Any] = {}
        if not embedded:  # the embedded transport knows no queue arguments
            arguments = {"x-dead-letter-exchange": dead_exchange.name, "x-dead-letter-routing-key": name,
                         "x-queue-type": events.queue_type}
            if events.max_priority and events.queue_type == "classic":
                arguments["x-max-priority"] = events.max_priority
            if events.message_ttl is not None:
                arguments["x-message-ttl"] = int(events.message_ttl.total_seconds() * 1000)
            retry_arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name,
                               "x-message-ttl": int(events.retry_delay.total_seconds() * 1000),
                               "x-queue-type": events.queue_type}
        if events.exchange_type == "headers":
            main = Queue(name, exchange, durable=True, queue_arguments=arguments,
                         binding_arguments={"x-match": binding.match, **binding.headers})
        elif events.exchange_type == "fanout":
            main = Queue(name, exchange, durable=True, queue_arguments=arguments)
        else:
            from kombu.entity import binding as kombu_binding

            main = Queue(name, durable=True, queue_arguments=arguments,
                         bindings=[kombu_binding(exchange, routing_key=key) for key in binding.routing_keys])
        retry = Queue(f"{name}.retry", durable=True, queue_arguments=retry_arguments)
        dead = Queue(f"{name}.dead", dead_exchange, routing_key=name, durable=True)
        consumers[binding.name] = ConsumerQueues(binding.name, main, retry, dead)
    return Topology(exchange, dead_exchange, consumers, embedded)


def _arguments(queue: Queue) -> dict[str, Any]:
    return dict(getattr(queue, "queue_arguments", None) or {})


def transport_url(settings: Settings) -> str:
    """RabbitMQ when configured, else Kombu's SQLAlchemy transport on a local SQLite file."""
    return settings.rabbitmq.url or f"sqla+sqlite:///{settings.rabbitmq.embedded_path}"
