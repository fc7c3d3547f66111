"""One DBOS Transact worker process for the workflow benchmark's DBOS peer (bench/dbos_peer.py starts two).

The registration shape as a DBOS workflow of three steps: `announce` publishes the `user.created` event to
RabbitMQ, persistent and confirmed, then the no-op steps `first` and `second`. The process launches DBOS
on the run's own system database with the executor id it is given, so two of them share the queue the
bench process enqueues on, and runs until SIGINT or SIGTERM.

Environment: BENCH_DBOS_URL (the system database), BENCH_DBOS_EXECUTOR (this executor's id),
BENCH_DBOS_PREFIX (the RabbitMQ names' prefix), BENCH_RABBITMQ_URL."""

import json
import os
import signal
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer

APP = "bench_dbos"
WORKFLOW = "bench_registration"
VERSION = "bench"  # pinned, so both executors run the same version and may take version-less (client) work
CONSUMERS = ("analytics", "crm", "audit")
USER_ID = "6f1c2a4e-8d3b-4f5a-9c7e-2b1d0a9e8f70"


def topology(prefix: str) -> tuple[Exchange, list[Queue]]:
    """The plane's event shape: a durable topic exchange, three durable queues taking every event."""
    exchange = Exchange(f"{prefix}events", type="topic", durable=True)
    return exchange, [Queue(f"{prefix}{name}", exchange, routing_key="#", durable=True) for name in CONSUMERS]


class Publisher:
    """One connection and producer for the process, behind a lock: Kombu channels are not thread-safe and
    the queue runs up to ten workflows at once in threads."""

    def __init__(self, url: str, prefix: str) -> None:
        self.exchange, _ = topology(prefix)  # declared by the bench process, which also deletes it
        self._lock = threading.Lock()
        self._returned: set[str] = set()
        self._connection = Connection(url, transport_options={"confirm_publish": True})
        self._producer = Producer(self._connection.channel(), exchange=self.exchange, auto_declare=False,
                                  on_return=self._on_return)

    def _on_return(self, exception: Exception, exchange: str, routing_key: str, message: Any) -> None:
        if message_id := getattr(message, "properties", {}).get("message_id"):
            self._returned.add(message_id)

    def publish(self, body: dict[str, Any]) -> None:
        """Returns once RabbitMQ confirmed it; mandatory, so an event no queue took raises (basic.return
        arrives before the confirm)."""
        with self._lock:
            self._producer.publish(json.dumps(body, separators=(",", ":")), routing_key=body["type"],
                                   content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                                   mandatory=True, message_id=body["id"], retry=False)
            if body["id"] in self._returned:
                self._returned.discard(body["id"])
                raise RuntimeError(f"event {body['id']} reached no queue")

    def close(self) -> None:
        with self._lock:
            self._connection.release()


_publisher: Publisher | None = None


@DBOS.step(name="announce")
def announce(n: int) -> None:
    assert _publisher is not None
    _publisher.publish({"kind": "event", "type": "user.created", "id": uuid.uuid4().hex, "version": 1,
                        "correlation_id": DBOS.workflow_id, "created_at": datetime.now(UTC).isoformat(),
                        "payload": {"user_id": USER_ID, "email": f"bench{n}@example.com", "name": f"Bench {n}"}})


@DBOS.step(name="first")
def first() -> None:
    """No-op, like the plane's `bench.wf_noop`."""


@DBOS.step(name="second")
def second() -> None:
    """No-op."""


@DBOS.workflow(name=WORKFLOW)
def registration(n: int) -> None:
    announce(n)
    first()
    second()


def main() -> None:
    global _publisher
    # Blocked before DBOS starts its threads, which inherit the mask: only sigwait below sees them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    _publisher = Publisher(os.environ["BENCH_RABBITMQ_URL"], os.environ["BENCH_DBOS_PREFIX"])
    DBOS(config={"name": APP, "system_database_url": os.environ["BENCH_DBOS_URL"],
                 "executor_id": os.environ["BENCH_DBOS_EXECUTOR"], "application_version": VERSION,
                 "run_migrations": False})  # the bench process migrated the database; two workers need not race
    try:
        DBOS.launch()
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        DBOS.destroy()
        _publisher.close()


if __name__ == "__main__":
    main()
