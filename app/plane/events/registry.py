"""Each consumer is declared once: its subscription and the handler it applies in a DB transaction."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from app.plane.envelope import Envelope


@dataclass(frozen=True)
class ConsumerBinding:
    """A consumer's subscription: routing-key patterns, or header matches on a headers exchange."""

    name: str
    routing_keys: Sequence[str] = ("#",)
    headers: Mapping[str, str] = field(default_factory=dict)
    match: str = "all"  # x-match for headers exchanges: all | any


# (transaction, event, services) -> None; raise PermanentError for a message no retry can fix
EventHandler = Callable[[Session, Envelope, Any], None]
# (transaction, events, services) -> None: the same effect for deliveries that arrive together, in fewer statements
BatchHandler = Callable[[Session, Sequence[Envelope], Any], None]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    handler: EventHandler
    routing_keys: Sequence[str] = ("#",)
    headers: Mapping[str, str] = field(default_factory=dict)  # used when events.exchange_type = "headers"
    description: str = ""
    batch_handler: BatchHandler | None = None  # must have the effect of ``handler`` applied to each event in turn

    @property
    def binding(self) -> ConsumerBinding:
        return ConsumerBinding(self.name, tuple(self.routing_keys), dict(self.headers))
