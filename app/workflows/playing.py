"""Scenario files played: each file's workflow found and loaded, the run simulated, its expectations checked."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from app.domain.events import EventCatalogue
from app.plane.tasks.registry import TaskRegistry
from app.workflows.expectations import unmet
from app.workflows.loader import load_file, validate_paths
from app.workflows.problems import WorkflowInvalid
from app.workflows.scenarios import LoadedScenario, check_against, load_scenario
from app.workflows.simulated import Result, ScenarioError
from app.workflows.simulation import simulate
from app.workflows.spec import Workflow
from app.workflows.tomlfiles import toml_files


@dataclass
class Played:
    path: Path
    loaded: LoadedScenario | None = None
    workflow: Workflow | None = None
    result: Result | None = None
    problems: list[str] = field(default_factory=list)  # the scenario or its workflow could not be played
    failures: list[str] = field(default_factory=list)  # expectations the run did not meet

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failures


class Player:
    """Plays scenario files against the workflows they name, with the app's tasks and events."""

    def __init__(self, registry: TaskRegistry, catalogue: EventCatalogue, workflows_directory: Path) -> None:
        self.registry, self.catalogue = registry, catalogue
        self.directory = workflows_directory
        self._by_name: dict[str, Workflow] | None = None

    def play(self, path: Path, *, workflow: Workflow | None = None) -> Played:
        """Play ``path``; ``workflow`` (already loaded) stands in for the one the scenario names."""
        played = Played(path)
        try:
            played.loaded = loaded = load_scenario(path)
            played.workflow = workflow = workflow or self.workflow_of(loaded)
        except WorkflowInvalid as invalid:
            played.problems = [str(problem) for problem in invalid.problems]
            return played
        except LookupError as missing:
            played.problems = [str(missing.args[0])]
            return played
        played.problems = [str(problem) for problem in check_against(loaded, workflow, self.catalogue.fields())]
        if played.problems:
            return played
        try:
            played.result = simulate(workflow, loaded.scenario, self.registry, self.catalogue)
        except ScenarioError as error:
            played.problems = [f"{loaded.where(error.path)}: {error}"]
            return played
        played.failures = unmet(loaded, played.result)
        return played

    def workflow_of(self, loaded: LoadedScenario) -> Workflow:
        events = self.catalogue.fields()
        if (file := loaded.workflow_file()) is not None:
            return load_file(file, tasks=self.registry.names(), events=events)
        if self._by_name is None:
            found, _ = validate_paths([self.directory], tasks=self.registry.names(), events=events)
            self._by_name = {workflow.name: workflow for workflow in found}
        name = loaded.spec.workflow or ""
        if name not in self._by_name:
            raise LookupError(f"{loaded.where(('workflow',))}: no valid workflow {name!r} in {self.directory}")
        return self._by_name[name]


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    return list(toml_files(paths))
