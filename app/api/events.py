"""Operator endpoints of the event plane: read with the operator role, change with admin."""

import re
from functools import cache
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.params import JSONBody
from pydantic import BaseModel
from sqlmodel import Session

from app import audit
from app.api.nul import PathText
from app.api.responses import JSON_BODY, OPERATOR, problems
from app.api.schemas import DATE_TIME_PATTERN, PublishedOut, PublishEventRequest
from app.api.security import operators
from app.bootstrap import Container
from app.domain.errors import InvalidFields
from app.domain.events import InvalidEvent
from app.plane.events.inspect import EventInspector, inspector_for

READ, CHANGE = [operators(change=False)], [operators(change=True)]
_DATE_TIME = re.compile(DATE_TIME_PATTERN)


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


@cache
def _times(payload: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, field in payload.model_json_schema()["properties"].items()
                     if field.get("format") == "date-time")


def _untimely(payload: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    return {f"payload.{name}": "must be an RFC 3339 date-time with its offset" for name in _times(payload)
            if name in data and not (isinstance(data[name], str) and _DATE_TIME.fullmatch(data[name]))}


def _checked(container: Container, data: PublishEventRequest) -> dict[str, Any]:
    """The payload as the catalogue reads it; InvalidFields naming ``type`` or each ``payload.<field>``. A time
    must be an RFC 3339 string, as the document says: the catalogue's schema alone reads a Unix time too."""
    catalogue = container.plane.catalogue
    if data.type not in catalogue:
        raise InvalidFields({"type": f"unknown event type; known: {', '.join(catalogue.names())}"})
    problems = _untimely(catalogue[data.type].schema, data.payload)
    try:
        payload = catalogue.validate(data.type, data.payload)
    except InvalidEvent as exc:
        problems = {**{f"payload.{field}": message for field, message in exc.problems.items()}, **problems}
    if problems:
        raise InvalidFields(problems)
    return payload


class EventRoutes(Controller):
    path = "/api/events"
    tags = ["events"]
    security = [{"bearer": []}]

    @post("/", guards=CHANGE, sync_to_thread=True, status_code=201, summary="Publish an event by hand",
          description="Validated against the event catalogue (422 naming each bad field) and written through the "
                      "outbox, with a record in the operator audit log; message_id is null while events.enabled "
                      "is false (no consumer gets it).",
          responses=problems(*OPERATOR, *JSON_BODY, 503))
    def publish(self, data: JSONBody[PublishEventRequest], request: Request,  # type: ignore[type-arg]
                db: NamedDependency[Session], container: NamedDependency[Container]) -> PublishedOut:
        payload = _checked(container, data)
        with db.begin():  # the outbox row and its audit record: both or neither
            message_id = container.plane.publish(data.type, payload, session=db)
            detail = f"message {message_id}" if message_id else "events are off: sent to no consumer"
            user = request.state.principal.user
            audit.add_action(db, user_id=user.id, email=user.email, action="event.publish", target=data.type, ok=True,
                             detail=detail)
        return PublishedOut(message_id=message_id)

    @get("/topology", guards=READ, sync_to_thread=False, summary="Exchanges, queues and bindings",
         responses=problems(*OPERATOR, 503))
    def topology(self, container: NamedDependency[Container]) -> dict[str, str]:
        return {"topology": container.topology.describe()}

    @get("/stats", guards=READ, sync_to_thread=True, summary="Per consumer: depth, unacked, consumers, dead, rates",
         responses=problems(*OPERATOR, 503))
    def stats(self, container: NamedDependency[Container]) -> dict[str, Any]:
        return dict(_broker(lambda: _inspector(container).stats()))

    @post("/consumers/{name:str}/dead/requeue", guards=CHANGE, sync_to_thread=True, status_code=200,
          summary="Move a consumer's dead letters back to its queue", responses=problems(*OPERATOR, 404, 503))
    def requeue(self, container: NamedDependency[Container], name: PathText) -> dict[str, int]:
        consumer = _consumer(container, name)
        return {"requeued": _broker(lambda: _inspector(container).requeue_dead(consumer))}

    @post("/consumers/{name:str}/dead/purge", guards=CHANGE, sync_to_thread=True, status_code=200,
          summary="Delete a consumer's dead letters", responses=problems(*OPERATOR, 404, 503))
    def purge(self, container: NamedDependency[Container], name: PathText) -> dict[str, int]:
        consumer = _consumer(container, name)
        return {"purged": _broker(lambda: _inspector(container).purge_dead(consumer))}
