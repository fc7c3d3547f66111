"""Operator endpoints of workflows and their runs: read with the operator role, start and retry with admin."""

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel import Session

from app.api.paging import Limit
from app.api.security import operators
from app.bootstrap import Container
from app.workflows.catalogue import UnknownWorkflow
from app.workflows.engine import RunStatus
from app.workflows.inputs import InvalidInput
from app.workflows.runner import RunNotFound
from app.workflows.views import BadCursor, list_runs, run_detail, workflow_view

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
READ, CHANGE = [operators(change=False)], [operators(change=True)]
STATUSES = [status.value for status in RunStatus]


def _invalid_input(exc: InvalidInput) -> ValidationException:
    return ValidationException(detail="the run's input is invalid",
                               extra=[{"key": f"input.{name}", "message": message}
                                      for name, message in exc.problems.items()])


class WorkflowRoutes(Controller):
    path = "/api/workflows"
    tags = ["workflows"]
    security = BEARER

    @get("/", guards=READ, sync_to_thread=True, summary="Every workflow definition now serving")
    def list_workflows(self, container: NamedDependency[Container]) -> list[dict[str, Any]]:
        rejected = container.workflows.rejected()
        return [workflow_view(workflow, rejected.get(workflow.path)) for workflow in container.workflows.all()]

    @get("/{name:str}", guards=READ, sync_to_thread=True, summary="One definition: input, steps, version")
    def show(self, container: NamedDependency[Container], name: FromPath[str]) -> dict[str, Any]:
        try:
            workflow = container.workflows.get(name)
        except UnknownWorkflow as exc:
            raise NotFoundException(detail=str(exc.args[0])) from None
        return workflow_view(workflow, container.workflows.rejected().get(workflow.path))

    @post("/{name:str}/runs", guards=CHANGE, sync_to_thread=True, status_code=201, summary="Start a run")
    def start(self, container: NamedDependency[Container], db: NamedDependency[Session], name: FromPath[str],
              data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        try:
            with db.begin():
                started = container.runner.start(db, name, data)
        except UnknownWorkflow as exc:
            raise NotFoundException(detail=str(exc.args[0])) from None
        except InvalidInput as exc:
            raise _invalid_input(exc) from None
        return {"id": started.run_id, "workflow": started.workflow, "version": started.version}


class RunRoutes(Controller):
    path = "/api/runs"
    tags = ["workflows"]
    security = BEARER

    @get("/", guards=READ, sync_to_thread=True, summary="Runs, newest first, a page at a time")
    def list_runs(
        self, container: NamedDependency[Container],
        workflow: Annotated[str | None, QueryParameter(description="Only runs of this workflow")] = None,
        status: Annotated[str | None, QueryParameter(description=f"One of {', '.join(STATUSES)}")] = None,
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ValidationException(extra=[{"key": "status", "message": f"must be one of {', '.join(STATUSES)}"}])
        try:
            items, following = list_runs(container.engine, workflow=workflow, status=status, limit=limit,
                                         cursor=cursor)
        except BadCursor as exc:
            raise ValidationException(extra=[{"key": "cursor", "message": str(exc)}]) from None
        return {"items": items, "next_cursor": following}

    @get("/{run_id:str}", guards=READ, sync_to_thread=True, summary="A run and each of its steps")
    def show(self, container: NamedDependency[Container], run_id: FromPath[str]) -> dict[str, Any]:
        detail = run_detail(container.engine, run_id)
        if detail is None:
            raise NotFoundException(detail=f"no run {run_id}")
        return detail

    @post("/{run_id:str}/retry", guards=CHANGE, sync_to_thread=True, status_code=202,
          summary="Dispatch dead and cancelled steps again and resume the run")
    def retry(self, container: NamedDependency[Container], run_id: FromPath[str]) -> dict[str, Any]:
        try:
            steps = container.runner.retry(run_id)
        except RunNotFound:
            raise NotFoundException(detail=f"no run {run_id}") from None
        return {"id": run_id, "retried": steps}
