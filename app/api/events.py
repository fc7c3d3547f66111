"""Operator endpoints of the event plane: read with the operator role, change with admin."""

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.params import FromPath

from app.api.security import operators
from app.bootstrap import Container
from app.plane.events.inspect import EventInspector, inspector_for

READ, CHANGE = [operators(change=False)], [operators(change=True)]


def _inspector(container: Container) -> EventInspector:
    return inspector_for(container.settings, container.topology)


def _consumer(container: Container, name: str) -> str:
    if name not in container.topology.consumers:
        raise NotFoundException(detail=f"no consumer {name}; known: {', '.join(container.topology.consumers)}")
    return name


def _broker(action: Any) -> Any:
    try:
        return action()
    except (OSError, ConnectionError) as exc:
        raise ServiceUnavailableException(detail=f"the event broker is unreachable ({type(exc).__name__})") from None


class EventRoutes(Controller):
    path = "/api/events"
    tags = ["events"]
    security = [{"bearer": []}]

    @get("/topology", guards=READ, sync_to_thread=False, summary="Exchanges, queues and bindings")
    def topology(self, container: NamedDependency[Container]) -> dict[str, str]:
        return {"topology": container.topology.describe()}

    @get("/stats", guards=READ, sync_to_thread=True, summary="Per consumer: depth, unacked, consumers, dead, rates")
    def stats(self, container: NamedDependency[Container]) -> dict[str, Any]:
        return dict(_broker(lambda: _inspector(container).stats()))

    @post("/consumers/{name:str}/dead/requeue", guards=CHANGE, sync_to_thread=True, status_code=200,
          summary="Move a consumer's dead letters back to its queue")
    def requeue(self, container: NamedDependency[Container], name: FromPath[str]) -> dict[str, int]:
        consumer = _consumer(container, name)
        return {"requeued": _broker(lambda: _inspector(container).requeue_dead(consumer))}

    @post("/consumers/{name:str}/dead/purge", guards=CHANGE, sync_to_thread=True, status_code=200,
          summary="Delete a consumer's dead letters")
    def purge(self, container: NamedDependency[Container], name: FromPath[str]) -> dict[str, int]:
        consumer = _consumer(container, name)
        return {"purged": _broker(lambda: _inspector(container).purge_dead(consumer))}
