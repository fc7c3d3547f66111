"""Operator endpoints of the task plane: read with the operator role, change with admin."""

from dataclasses import asdict
from typing import Annotated, Any

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import QueryParameter

from app.api.nul import NO_NUL, PathText
from app.api.paging import Limit, Offset
from app.api.responses import OPERATOR, problems
from app.api.security import operators
from app.bootstrap import Container
from app.plane.tasks.inspect import STATES, TaskInspector

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
READ, CHANGE = [operators(change=False)], [operators(change=True)]


def _inspector(container: Container) -> TaskInspector:
    return TaskInspector(container.huey, container.plane, container.engine)


class TaskRoutes(Controller):
    path = "/api/tasks"
    tags = ["tasks"]
    security = BEARER

    @get("/stats", guards=READ, sync_to_thread=True, summary="Counts by state and outcomes of the last hour",
         responses=problems(*OPERATOR, 503))
    def stats(self, container: NamedDependency[Container]) -> dict[str, Any]:
        return _inspector(container).stats()

    @get("/", guards=READ, sync_to_thread=True, summary="A page of tasks in one state",
         responses=problems(*OPERATOR, 422, 503))
    def list_tasks(
        self, container: NamedDependency[Container],
        in_state: Annotated[str, QueryParameter(name="state", description=f"One of {', '.join(STATES)}",
                                                schema_extra={"enum": list(STATES)})],
        task: Annotated[str | None, QueryParameter(description="Only tasks with this name", schema_extra=NO_NUL)]
        = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        if in_state not in STATES:
            raise ValidationException(extra=[{"key": "state", "message": f"must be one of {', '.join(STATES)}"}])
        page = _inspector(container).list(in_state, offset=offset, limit=limit, task=task)
        return {"total": page.total, "offset": offset, "limit": limit, "items": [asdict(v) for v in page.items]}

    @get("/{task_id:str}", guards=READ, sync_to_thread=True, summary="One task, wherever it is",
         responses=problems(*OPERATOR, 404, 503))
    def show(self, container: NamedDependency[Container], task_id: PathText) -> dict[str, Any]:
        view = _inspector(container).get(task_id)
        if view is None:
            raise NotFoundException(detail=f"no task {task_id}")
        return asdict(view)

    @post("/{task_id:str}/retry", guards=CHANGE, sync_to_thread=True, status_code=202,
          summary="Run a dead, scheduled or retrying task again now", responses=problems(*OPERATOR, 404, 503))
    def retry(self, container: NamedDependency[Container], task_id: PathText) -> dict[str, str]:
        if not _inspector(container).retry(task_id):
            raise NotFoundException(detail=f"no dead, scheduled or retrying task {task_id}")
        return {"id": task_id, "status": "enqueued"}

    @delete("/{task_id:str}", guards=CHANGE, sync_to_thread=True, summary="Delete a dead, pending or scheduled task",
            responses=problems(*OPERATOR, 404, 503))
    def remove(self, container: NamedDependency[Container], task_id: PathText) -> None:
        if not _inspector(container).delete(task_id):
            raise NotFoundException(detail=f"no dead, pending or scheduled task {task_id}")

    @post("/dead/purge", guards=CHANGE, sync_to_thread=True, status_code=200, summary="Delete every dead task",
          responses=problems(*OPERATOR, 503))
    def purge(self, container: NamedDependency[Container]) -> dict[str, int]:
        return {"deleted": _inspector(container).purge_dead()}

    @post("/queue/pause", guards=CHANGE, sync_to_thread=True, status_code=200, summary="Workers stop taking tasks",
          responses=problems(*OPERATOR, 503))
    def pause(self, container: NamedDependency[Container]) -> dict[str, Any]:
        _inspector(container).pause()
        return {"queue": container.plane.queue, "paused": True}

    @post("/queue/resume", guards=CHANGE, sync_to_thread=True, status_code=200, summary="Workers take tasks again",
          responses=problems(*OPERATOR, 503))
    def resume(self, container: NamedDependency[Container]) -> dict[str, Any]:
        _inspector(container).resume()
        return {"queue": container.plane.queue, "paused": False}
