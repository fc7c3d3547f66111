"""Operator endpoints of workflows and their runs: read with the operator role; start, retry and wake with admin."""

import json
from typing import Annotated, Any, cast

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.params import JSONBody, QueryParameter
from sqlmodel import Session

from app.api.nul import NO_NUL, PathText
from app.api.paging import Limit
from app.api.responses import JSON_BODY, OPERATOR, problems
from app.api.schemas import EventWokenOut, RunOut, TimerWokenOut
from app.api.security import operators
from app.audit import record_action
from app.auth.accounts import Principal
from app.bootstrap import Container
from app.workflows.catalogue import UnknownWorkflow
from app.workflows.engine import RunStatus
from app.workflows.inputs import InvalidInput
from app.workflows.runner import RunNotFound
from app.workflows.views import BadCursor, list_runs, run_detail, workflow_view
from app.workflows.waking import NoSuchStep, NotWaiting

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

    @get("/", guards=READ, sync_to_thread=True, summary="Every workflow definition now serving",
         responses=problems(*OPERATOR, 503))
    def list_workflows(self, container: NamedDependency[Container]) -> list[dict[str, Any]]:
        rejected = container.workflows.rejected()
        return [workflow_view(workflow, rejected.get(workflow.path)) for workflow in container.workflows.all()]

    @get("/{name:str}", guards=READ, sync_to_thread=True, summary="One definition: input, steps, version",
         responses=problems(*OPERATOR, 404, 503))
    def show(self, container: NamedDependency[Container], name: PathText) -> dict[str, Any]:
        try:
            workflow = container.workflows.get(name)
        except UnknownWorkflow as exc:
            raise NotFoundException(detail=str(exc.args[0])) from None
        return workflow_view(workflow, container.workflows.rejected().get(workflow.path))

    @post("/{name:str}/runs", guards=CHANGE, sync_to_thread=True, status_code=201, summary="Start a run",
          description="The body is the run's input, as the definition's input declares it (GET "
                      "/api/workflows/{name}); 422 names each invalid field.",
          responses=problems(*OPERATOR, 404, *JSON_BODY, 503))
    def start(self, container: NamedDependency[Container], db: NamedDependency[Session], name: PathText,
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

    @get("/", guards=READ, sync_to_thread=True, summary="Runs, newest first, a page at a time",
         responses=problems(*OPERATOR, 422, 503))
    def list_runs(
        self, container: NamedDependency[Container],
        workflow: Annotated[str | None, QueryParameter(description="Only runs of this workflow", schema_extra=NO_NUL)]
        = None,
        status: Annotated[str | None, QueryParameter(description=f"One of {', '.join(STATUSES)}",
                                                     schema_extra={"enum": STATUSES})] = None,
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page: opaque",
                                                     schema_extra={"format": "cursor", **NO_NUL})] = None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ValidationException(extra=[{"key": "status", "message": f"must be one of {', '.join(STATUSES)}"}])
        try:
            items, following = list_runs(container.engine, workflow=workflow, status=status, limit=limit,
                                         cursor=cursor)
        except BadCursor as exc:
            raise ValidationException(extra=[{"key": "cursor", "message": str(exc)}]) from None
        return {"items": items, "next_cursor": following}

    @get("/{run_id:str}", guards=READ, sync_to_thread=True, summary="A run and each of its steps",
         description="A parked wait step is `waiting` with `waiting` set: `{until}` for a timer, or "
                     "`{event, match, timeout_at}` for an event wait (`match`: the payload values it waits for).",
         responses=problems(*OPERATOR, 404, 503))
    def show(self, container: NamedDependency[Container], run_id: PathText) -> RunOut:
        detail = run_detail(container.engine, run_id, container.runner.definition)
        if detail is None:
            raise NotFoundException(detail=f"no run {run_id}")
        return cast(RunOut, detail)

    @post("/{run_id:str}/steps/{step_id:str}/wake", guards=CHANGE, sync_to_thread=True, status_code=200,
          summary="Cut a parked wait short: a timer succeeds now, an event wait times out now",
          description="Answers the step's output; the run goes on at once. Recorded in the operator audit log.",
          responses=problems(*OPERATOR, 404, 409, 503, why={
              404: "No such run, or no such step in it", 409: "The step is not waiting: not started yet, or over"}))
    def wake(self, request: Request, container: NamedDependency[Container],  # type: ignore[type-arg]
             run_id: PathText, step_id: PathText) -> TimerWokenOut | EventWokenOut:
        principal: Principal = request.state.principal  # set by the guard

        def record(ok: bool, detail: str) -> None:
            record_action(container.engine, user_id=principal.user.id, email=principal.user.email,
                          action="step.wake", target=f"{run_id}/{step_id}", ok=ok, detail=detail)

        try:
            output = container.waits.wake(run_id, step_id)
        except (RunNotFound, NotWaiting) as exc:
            message = f"no run {run_id}" if isinstance(exc, RunNotFound) else str(exc)
            record(False, message)
            if isinstance(exc, NotWaiting) and not isinstance(exc, NoSuchStep):
                raise ClientException(status_code=409, detail=message) from None
            raise NotFoundException(detail=message) from None
        record(True, json.dumps(output))
        return cast(TimerWokenOut | EventWokenOut, output)

    @post("/{run_id:str}/retry", guards=CHANGE, sync_to_thread=True, status_code=202,
          summary="Dispatch dead and cancelled steps again and resume the run",
          responses=problems(*OPERATOR, 404, 503))
    def retry(self, container: NamedDependency[Container], run_id: PathText) -> dict[str, Any]:
        try:
            steps = container.runner.retry(run_id)
        except RunNotFound:
            raise NotFoundException(detail=f"no run {run_id}") from None
        return {"id": run_id, "retried": steps}
