"""The workflow playground: edit a workflow's TOML in the browser, see the validator's located problems and the DAG
as you type, run a scenario on the simulator and watch it on the DAG, download both files. Read-only with respect
to the files on disk (they stay the source of truth, in git): nothing here writes, enqueues or publishes."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import JSONBody, QueryParameter
from litestar.response import Template

from app.bootstrap import Container
from app.dashboard import dag_svg
from app.dashboard.auth import Viewer
from app.dashboard.render import environment, page
from app.workflows.catalogue import UnknownWorkflow
from app.workflows.loader import load_text
from app.workflows.playing import scenario_files
from app.workflows.problems import WorkflowInvalid
from app.workflows.scenarios import check_against, load_scenario_text
from app.workflows.simulated import ScenarioError
from app.workflows.simulation import simulate as run_simulation
from app.workflows.spec import Workflow
from app.workflows.warnings import retry_span, warnings
from app.workflows.wording import describe, span

CSRF_HEADER = "X-CSRF-Token"
MAX_SHOWN = 2000  # timeline moves sent to the browser
STATUS_OF = {"enqueued": "ready", "published": "succeeded", "ok": "succeeded", "retrying": "retrying",
             "dead": "dead", "skipped": "skipped", "cancelled": "cancelled", "waiting": "waiting",
             "woke": "succeeded", "timed out": "succeeded"}
_DAG = environment().from_string('{% from "_macros.html" import dag_svg %}{{ dag_svg(dag, title) }}')


@dataclass
class Edited:
    source: str = ""
    scenario: str = ""
    name: str = "workflow"


class Playground(Controller):
    path = "/dashboard/playground"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def show(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container],
             workflow: Annotated[str, QueryParameter()] = "") -> Template:
        names = container.workflows.names()
        chosen = workflow or (names[0] if names else "")
        try:
            current = container.workflows.get(chosen)
        except UnknownWorkflow:
            raise NotFoundException(detail=f"no workflow {chosen}") from None
        return page("playground.html", viewer, "workflows", workflow=current, names=names,
                    scenario=_scenario_for(container, current), dag=dag_svg.layout(current))

    @post("/check", sync_to_thread=True, status_code=200)
    def check(self, request: Request, viewer: NamedDependency[Viewer],  # type: ignore[type-arg]
              container: NamedDependency[Container], data: JSONBody[Edited]) -> dict[str, Any]:
        _guard(request, viewer)
        workflow, problems = _load(container, data)
        if workflow is None:
            return {"problems": problems, "dag": None}
        return {"problems": problems, "dag": _dag(workflow)}

    @post("/simulate", sync_to_thread=True, status_code=200)
    def simulate(self, request: Request, viewer: NamedDependency[Viewer],  # type: ignore[type-arg]
                 container: NamedDependency[Container], data: JSONBody[Edited]) -> dict[str, Any]:
        _guard(request, viewer)
        workflow, problems = _load(container, data)
        if workflow is None or any(": warning: " not in problem for problem in problems):
            return {"problems": problems, "dag": None, "timeline": [], "status": None}
        registry, catalogue = _known(container)
        try:
            loaded = load_scenario_text(data.scenario, Path("scenario.toml"), names_workflow=False)
        except WorkflowInvalid as invalid:
            return {"problems": [str(problem) for problem in invalid.problems], "dag": _dag(workflow),
                    "timeline": [], "status": None}
        refused = [str(problem) for problem in check_against(loaded, workflow, catalogue.fields())]
        if refused:
            return {"problems": refused, "dag": _dag(workflow), "timeline": [], "status": None}
        try:
            result = run_simulation(workflow, loaded.scenario, registry, catalogue)
        except ScenarioError as error:
            return {"problems": [f"{loaded.where(error.path)}: {error}"], "dag": _dag(workflow), "timeline": [],
                    "status": None}
        timeline = [{"at": f"+{span(entry.at)}", "step": entry.step, "what": entry.what, "attempt": entry.attempt,
                     "status": STATUS_OF.get(entry.what), "text": describe(entry)}
                    for entry in result.timeline[:MAX_SHOWN]]
        if result.cut_short or len(result.timeline) > MAX_SHOWN:
            problems = [*problems, f"the run was cut short or its timeline shortened to {MAX_SHOWN} moves"]
        statuses = {step_id: row.status for step_id, row in result.steps.items()}
        return {"problems": problems, "timeline": timeline, "status": result.status, "statuses": statuses,
                "dag": _dag(workflow)}


def _guard(request: Request, viewer: Viewer) -> None:  # type: ignore[type-arg]
    # (A body over api.max_body_bytes never gets here: 413.)
    if request.headers.get(CSRF_HEADER) != viewer.csrf:
        raise PermissionDeniedException(detail="the page expired; open it again")


def _known(container: Container) -> tuple[Any, Any]:
    """The tasks and events this process serves: the plane's own, built once at start."""
    return container.plane.registry, container.plane.catalogue


def _load(container: Container, data: Edited) -> tuple[Workflow | None, list[str]]:
    registry, catalogue = _known(container)
    file = f"{Path(data.name).name or 'workflow'}.toml"
    try:
        workflow = load_text(data.source, file, tasks=registry.names(), events=catalogue.fields())
    except WorkflowInvalid as invalid:
        return None, [str(problem) for problem in invalid.problems]
    return workflow, [str(problem) for problem in warnings(workflow, retry_span(registry))]


def _dag(workflow: Workflow) -> str:
    return str(_DAG.render(dag=dag_svg.layout(workflow), title=workflow.name))


def _scenario_for(container: Container, workflow: Workflow) -> str:
    """A shipped scenario of this workflow (in its directory's tests), else one giving each input a value."""
    tests = Path(workflow.path).parent / "tests"
    for path in scenario_files([tests]) if tests.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        if Path(workflow.path).name in text or f'"{workflow.name}"' in text:
            return text
    inputs = ", ".join(f'{field.name} = ""' for field in workflow.inputs)
    return f'input = {{ {inputs} }}\n\n# [steps.some_task]\n# fail = 1\n\n[expect]\nstatus = "succeeded"\n'
