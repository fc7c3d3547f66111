"""Operator endpoints of the cron schedules: read with the operator role; trigger, pause, resume with admin."""

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import QueryParameter

from app.api.nul import PathText
from app.api.responses import OPERATOR, problems
from app.api.security import operators
from app.bootstrap import Container
from app.scheduling.catalogue import UnknownSchedule
from app.scheduling.service import fire_view
from app.scheduling.spec import Schedule
from app.scheduling.views import schedule_view

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
READ, CHANGE = [operators(change=False)], [operators(change=True)]


def _schedule(container: Container, name: str) -> Schedule:
    try:
        return container.schedules.get(name)
    except UnknownSchedule as exc:
        raise NotFoundException(detail=str(exc.args[0])) from None


class ScheduleRoutes(Controller):
    path = "/api/schedules"
    tags = ["schedules"]
    security = BEARER

    @get("/", guards=READ, sync_to_thread=True, summary="Every schedule: next fire, pause state, last outcome",
         responses=problems(*OPERATOR, 503))
    def list_schedules(self, container: NamedDependency[Container]) -> dict[str, Any]:
        return {"items": [schedule_view(schedule, container.scheduling) for schedule in container.schedules.all()],
                "rejected_edits": {file: [str(problem) for problem in rejected.problems]
                                   for file, rejected in container.schedules.rejected().items()}}

    @get("/{name:str}", guards=READ, sync_to_thread=True, summary="One schedule",
         responses=problems(*OPERATOR, 404, 503))
    def show(self, container: NamedDependency[Container], name: PathText) -> dict[str, Any]:
        return schedule_view(_schedule(container, name), container.scheduling)

    @get("/{name:str}/history", guards=READ, sync_to_thread=True, summary="Its latest fires, newest first",
         responses=problems(*OPERATOR, 404, 422, 503))
    def history(self, container: NamedDependency[Container], name: PathText,
                limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        return container.scheduling.history(_schedule(container, name).name, limit)

    @post("/{name:str}/trigger", guards=CHANGE, sync_to_thread=True, status_code=202,
          summary="Fire it now (pause and the overlap policy still apply)",
          responses=problems(*OPERATOR, 404, 409, 503, why={409: "This instant was fired already: try again"}))
    def trigger(self, container: NamedDependency[Container], name: PathText) -> dict[str, Any]:
        fire = container.scheduling.fire(_schedule(container, name), datetime.now(UTC), "manual")
        if fire is None:
            raise ClientException(status_code=409, detail="this instant was fired already; try again")
        return fire_view(fire)

    @post("/{name:str}/pause", guards=CHANGE, sync_to_thread=True, status_code=200, summary="Skip its ticks",
          responses=problems(*OPERATOR, 404, 503))
    def pause(self, container: NamedDependency[Container], name: PathText) -> dict[str, Any]:
        container.scheduling.set_paused(_schedule(container, name).name, True)
        return {"name": name, "paused": True}

    @post("/{name:str}/resume", guards=CHANGE, sync_to_thread=True, status_code=200, summary="Fire its ticks again",
          responses=problems(*OPERATOR, 404, 503))
    def resume(self, container: NamedDependency[Container], name: PathText) -> dict[str, Any]:
        container.scheduling.set_paused(_schedule(container, name).name, False)
        return {"name": name, "paused": False}
