"""What operators see of the event plane, per consumer: depth, unacked, consumers, retry and dead depth,
rates — from RabbitMQ's management API when it answers, else from passive declares. And the two
actions on a dead-letter queue: requeue everything, or purge it."""

import base64
import contextlib
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.connection import Connection
from kombu.exceptions import OperationalError
from kombu.messaging import Producer

from app.availability import Unavailable
from app.config import Settings
from app.plane.events.consumer import ATTEMPT
from app.plane.events.topology import Topology, transport_url

log = logging.getLogger(__name__)


class EventInspector:
    def __init__(self, url: str, topology: Topology, management_url: str = "", timeout: float = 2.0) -> None:
        self.url = url
        self.topology = topology
        self.management_url = management_url
        self.timeout = timeout  # each connect, read and write: a silent broker fails the call within it

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection for one call; a broker that refuses or stays silent is Unavailable (503 to a client)."""
        options = {} if self.topology.embedded else {"read_timeout": self.timeout, "write_timeout": self.timeout}
        try:
            with Connection(self.url, connect_timeout=self.timeout, transport_options=options) as connection:
                connection.ensure_connection(max_retries=0, timeout=self.timeout)  # one try; kombu waits 2 s
                yield connection
        except (OSError, OperationalError, AmqpConnectionError) as exc:
            raise Unavailable("event broker", 2 * self.timeout, type(exc).__name__) from exc

    def stats(self) -> dict[str, Any]:
        management = self._from_management()
        with self._connection() as connection:
            channel = connection.channel()
            self.topology.declare(channel)
            consumers = {}
            for name, queues in self.topology.consumers.items():
                main = management.get(queues.main.name) or _passive(channel, queues.main.name)
                consumers[name] = {
                    "queue": queues.main.name,
                    "ready": main["ready"],
                    "unacked": main["unacked"],
                    # The embedded transport keeps no count of its consumers: None ("unknown"), never a false 0
                    "consumers": None if self.topology.embedded else main["consumers"],
                    "retrying": _passive(channel, queues.retry.name)["ready"],
                    "dead": _passive(channel, queues.dead.name)["ready"],
                    "publish_rate": main.get("publish_rate"),
                    "deliver_rate": main.get("deliver_rate"),
                }
        return {"exchange": self.topology.exchange.name, "exchange_type": self.topology.exchange.type,
                "source": "management" if management else "passive declare", "consumers": consumers}

    def _from_management(self) -> dict[str, dict[str, Any]]:
        if not self.management_url or self.topology.embedded:
            return {}
        parts = urllib.parse.urlsplit(self.management_url)
        amqp = urllib.parse.urlsplit(self.url)
        vhost = urllib.parse.unquote(amqp.path[1:]) if len(amqp.path) > 1 else "/"
        user, password = parts.username or amqp.username or "guest", parts.password or amqp.password or "guest"
        base = urllib.parse.urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port or 15672}", "", "", ""))
        if parts.scheme not in ("http", "https"):
            return {}
        request = urllib.request.Request(f"{base}/api/queues/{urllib.parse.quote(vhost, safe='')}")  # noqa: S310
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (operator-set URL)
                rows = json.load(response)
        except Exception as exc:  # the plugin is off or unreachable: passive declares still answer
            log.info("management API unavailable (%s); using passive declares", type(exc).__name__)
            return {}
        result = {}
        for row in rows:
            stats = row.get("message_stats", {})
            result[row["name"]] = {
                "ready": row.get("messages_ready", 0), "unacked": row.get("messages_unacknowledged", 0),
                "consumers": row.get("consumers", 0),
                "publish_rate": stats.get("publish_details", {}).get("rate", 0.0),
                "deliver_rate": stats.get("deliver_get_details", {}).get("rate", 0.0),
            }
        return result

    def requeue_dead(self, consumer: str) -> int:
        """Move every dead letter of ``consumer`` back to its queue with a fresh retry budget."""
        queues = self.topology.consumers[consumer]
        moved = 0
        with self._connection() as connection:
            channel = connection.channel()
            producer = Producer(connection.channel())
            while (message := queues.dead(channel).get(no_ack=False)) is not None:
                headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-flowplane-")}
                headers[ATTEMPT] = 1
                producer.publish(message.body, exchange="", routing_key=queues.main.name, headers=headers,
                                 content_type=message.content_type, content_encoding=message.content_encoding,
                                 delivery_mode=2, message_id=message.properties.get("message_id"),
                                 type=message.properties.get("type"), retry=True)
                message.ack()
                moved += 1
        return moved

    def purge_dead(self, consumer: str) -> int:
        with self._connection() as connection:
            return int(self.topology.consumers[consumer].dead(connection.channel()).purge() or 0)


def inspector_for(settings: Settings, topology: Topology) -> EventInspector:
    """The inspector of the broker the settings name, each call bounded by their RabbitMQ timeouts."""
    rabbitmq = settings.rabbitmq
    return EventInspector(transport_url(settings), topology, rabbitmq.management_url,
                          timeout=(rabbitmq.connect_timeout + rabbitmq.timeout).total_seconds())


def _passive(channel: Any, name: str) -> dict[str, Any]:
    declared = channel.queue_declare(queue=name, passive=True)
    return {"ready": declared.message_count, "unacked": None, "consumers": declared.consumer_count}
