"""The dashboard's pages: thin GET handlers that gather a page's data and render its template."""

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from app.bootstrap import Container
from app.dashboard import reads
from app.dashboard.actions import tasks
from app.dashboard.auth import Viewer
from app.dashboard.render import page
from app.plane.tasks.inspect import STATES
from app.scheduling.catalogue import UnknownSchedule

MAX_OFFSET = 1_000_000_000  # as in the API (app/api/paging.py): beyond it, a 400 page rather than an overflow
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)]


class Pages(Controller):
    path = "/dashboard"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def overview(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container]) -> Template:
        return page("overview.html", viewer, "overview", **reads.overview(container))

    @get("/tasks", sync_to_thread=True)
    def tasks(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container],
              in_state: Annotated[str, QueryParameter(name="state")] = "dead",
              task: Annotated[str, QueryParameter()] = "", offset: Offset = 0) -> Template:
        if in_state not in STATES:
            raise NotFoundException(detail=f"no task state {in_state}")
        return page("tasks.html", viewer, "tasks", **reads.task_page(container, in_state, task, offset))

    @get("/tasks/{task_id:str}", sync_to_thread=True)
    def task(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container],
             task_id: FromPath[str]) -> Template:
        view = tasks(container).get(task_id)
        if view is None:
            raise NotFoundException(detail=f"no task {task_id}: it finished, or never existed")
        return page("task.html", viewer, "tasks", task=view)

    @get("/runs", sync_to_thread=True)
    def runs(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container],
             workflow: Annotated[str, QueryParameter()] = "", status: Annotated[str, QueryParameter()] = "",
             since: Annotated[str, QueryParameter()] = "", offset: Offset = 0) -> Template:
        return page("runs.html", viewer, "runs", **reads.runs_page(container, workflow, status, since, offset))

    @get("/runs/{run_id:str}", sync_to_thread=True)
    def run(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container],
            run_id: FromPath[str]) -> Template:
        context = reads.run_page(container, run_id)
        if context is None:
            raise NotFoundException(detail=f"no run {run_id}")
        return page("run.html", viewer, "runs", **context)

    @get("/workflows", sync_to_thread=True)
    def workflows(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container]) -> Template:
        return page("workflows.html", viewer, "workflows", **reads.workflows_page(container))

    @get("/events", sync_to_thread=True)
    def events(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container]) -> Template:
        return page("events.html", viewer, "events", **reads.events_page(container))

    @get("/schedules", sync_to_thread=True)
    def schedules(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container]) -> Template:
        return page("schedules.html", viewer, "schedules", **reads.schedules_page(container))

    @get("/schedules/{name:str}", sync_to_thread=True)
    def schedule(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container],
                 name: FromPath[str]) -> Template:
        try:
            context = reads.schedule_page(container, name)
        except UnknownSchedule:
            raise NotFoundException(detail=f"no schedule {name}") from None
        return page("schedule.html", viewer, "schedules", **context)
