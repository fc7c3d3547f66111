"""Scenario files: a simulated run's input, its task steps' outcomes, the events that arrive, and what the run
must come to. Problems are reported like a workflow file's: ``file:line:col: field: what was expected``.

    workflow = "user_registration"        # or: file = "../user_registration.toml"
    input = { user_id = "...", email = "ada@example.com", name = "Ada" }

    [steps.welcome_email]                 # a task step's attempts: `fail` failures, then `then`
    fail = 2
    output = { message_id = "<m1@example.com>" }

    [[events]]                            # published by someone else, this long after the start
    at = "30h"
    type = "user.email_verified"
    payload = { user_id = "...", email = "ada@example.com", verified_at = "2026-01-02T06:00:00Z" }

    [expect]
    status = "succeeded"
    ran = ["announce", "welcome_email", "await_verification", "announce_verified", "record_onboarding"]
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from app.durations import parse_duration
from app.workflows.locate import Key, Locator
from app.workflows.problems import Problem, Report, WorkflowInvalid, suggest, toml_type
from app.workflows.simulated import START, Arrival, Scenario, StepScript
from app.workflows.spec import Workflow
from app.workflows.tomlfiles import parse_toml, read_text


def _duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[str, AfterValidator(_duration)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ScriptSpec(_Table):
    fail: int = Field(0, ge=0, description="Attempts that fail (retryable) before `then`.")
    then: Literal["ok", "fail", "permanent"] = Field("ok", description="ok: succeeds; fail: keeps failing, "
                                                     "retried until its policy gives up; permanent: dead at once.")
    output: dict[str, Any] | None = Field(None, description="What a successful attempt returns.")
    error: str = Field("scripted failure", description="The failures' message.")


class EventSpec(_Table):
    at: Duration = Field(description="How long after the run's start the event is published, e.g. '30h'.")
    type: str = Field(description="The event type, e.g. user.email_verified.")
    payload: dict[str, Any] = Field(default_factory=dict, description="The event's payload.")


class ExpectSpec(_Table):
    status: Literal["succeeded", "failed", "running"] | None = Field(
        None, description="The run's status at the end (running: still waiting when nothing more was due).")
    ran: list[str] | None = Field(None, description="The steps that succeeded, in the order they ended.")
    skipped: list[str] | None = Field(None, description="The steps skipped, in the order they were.")
    dead: list[str] | None = Field(None, description="The steps that died, in the order they did.")
    cancelled: list[str] | None = Field(None, description="The steps cancelled when the run failed.")
    published: list[str] | None = Field(None, description="The event types the run published, in order.")
    payloads: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per step, values its rendered "
                                                                                  "payload must hold.")
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per step, values its output "
                                                                                 "must hold.")
    attempts: dict[str, int] = Field(default_factory=dict, description="Per task step, the attempts it took.")


class ScenarioFile(_Table):
    description: str = ""
    workflow: str | None = Field(None, description="The workflow's name, looked up in workflows.directory.")
    file: str | None = Field(None, description="Or the workflow file, relative to this one.")
    start: datetime | None = Field(None, description="When the simulated run starts (default 2026-01-01Z).")
    events_enabled: bool = True
    input: dict[str, Any] = Field(default_factory=dict, description="The run's input.")
    steps: dict[str, ScriptSpec] = Field(default_factory=dict, description="Task steps' scripted outcomes; "
                                                                           "others succeed with no output.")
    events: list[EventSpec] = Field(default_factory=list, description="Events that arrive during the run.")
    expect: ExpectSpec | None = None


@dataclass(frozen=True)
class LoadedScenario:
    path: Path
    spec: ScenarioFile
    scenario: Scenario
    locator: Locator = field(repr=False)
    name: str = ""

    def workflow_file(self) -> Path | None:
        return (self.path.parent / self.spec.file).resolve() if self.spec.file else None

    def where(self, path: Key) -> str:
        """``file:line:col: field`` of a key, for a failed expectation."""
        line, column = self.locator.find(path)
        return f"{self.path}:{line}:{column}: {_field(path)}"

    def problem(self, path: Key, message: str) -> Problem:
        line, column = self.locator.find(path)
        return Problem(str(self.path), line, column, _field(path), message)


def _field(path: Key) -> str:
    """events[0].type, expect.ran[2]: as a workflow file's problems name fields."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else part
    return name or "(file)"


def load_scenario(path: Path) -> LoadedScenario:
    """The scenario in ``path``; WorkflowInvalid with every problem found."""
    return load_scenario_text(read_text(path), path)


def load_scenario_text(text: str, path: Path, *, names_workflow: bool = True) -> LoadedScenario:
    """The scenario in ``text`` (``path`` names it in messages); ``names_workflow`` False when the workflow is given
    beside it (the dashboard's playground)."""
    data = parse_toml(text, str(path))
    locator = Locator(text)
    report = Report(str(path), locator)
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as invalid:
        for error in invalid.errors():
            _describe(error, report)
        raise WorkflowInvalid(report.sorted()) from None
    if names_workflow and spec.workflow is None and spec.file is None:
        report.at_key((), 'a scenario names its workflow: workflow = "name" or file = "path/to/it.toml"')
    if spec.workflow is not None and spec.file is not None:
        report.at_key(("file",), "give workflow or file, not both")
    if spec.start is not None and spec.start.tzinfo is None:
        report.at_value(("start",), "expected a date-time with its offset, e.g. 2026-01-01T00:00:00Z")
    if report.problems:
        raise WorkflowInvalid(report.sorted())
    scripts = {step_id: StepScript(failures=script.fail, then=script.then, output=script.output, error=script.error)
               for step_id, script in spec.steps.items()}
    arrivals = tuple(Arrival(parse_duration(event.at), event.type, event.payload) for event in spec.events)
    scenario = Scenario(input=spec.input, steps=scripts, events=arrivals, events_enabled=spec.events_enabled,
                        start=(spec.start or START).astimezone(UTC))
    return LoadedScenario(path, spec, scenario, locator, name=path.stem)


def check_against(loaded: LoadedScenario, workflow: Workflow, event_types: Collection[str]) -> list[Problem]:
    """What in the scenario names something the workflow or the event catalogue does not have."""
    steps = {step.id: step for step in workflow.steps}
    task_steps = [step_id for step_id, step in steps.items() if step.kind == "task"]
    problems = [loaded.problem(("steps", step_id),
                               f"{_named(step_id, steps)}: only task steps take scripted outcomes; {workflow.name}'s "
                               f"task steps are {', '.join(task_steps) or 'none'}{suggest(step_id, task_steps)}")
                for step_id in loaded.spec.steps if step_id not in task_steps]
    named_steps: list[tuple[Key, str]] = []
    named_events: list[tuple[Key, str]] = [(("events", index, "type"), event.type)
                                           for index, event in enumerate(loaded.spec.events)]
    if (expect := loaded.spec.expect) is not None:
        for name in ("ran", "skipped", "dead", "cancelled"):
            named_steps += [(("expect", name, index), step_id)
                            for index, step_id in enumerate(getattr(expect, name) or [])]
        for name in ("payloads", "outputs", "attempts"):
            named_steps += [(("expect", name, step_id), step_id) for step_id in getattr(expect, name)]
        named_events += [(("expect", "published", index), event) for index, event in enumerate(expect.published or [])]
    problems += [loaded.problem(path, f"no step {step_id!r} in {workflow.name}{suggest(step_id, steps)}")
                 for path, step_id in named_steps if step_id not in steps]
    problems += [loaded.problem(path, f"unknown event type {event!r}{suggest(event, event_types)}")
                 for path, event in named_events if event not in event_types]
    return sorted(problems, key=lambda problem: (problem.line, problem.column))


def _named(step_id: str, steps: Mapping[str, Any]) -> str:
    return f"step {step_id!r} is a {steps[step_id].kind} step" if step_id in steps else f"no step {step_id!r}"


def _describe(error: ErrorDetails, report: Report) -> None:
    path: Key = tuple(part for part in error["loc"] if isinstance(part, int | str))
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx", {})
    if kind == "missing":
        report.at_key(path, f"missing required key {path[-1]!r}")
    elif kind == "extra_forbidden":
        known = _known_keys(path[:-1])
        report.at_key(path, f"unknown key {path[-1]!r}, expected one of {', '.join(known)}"
                            f"{suggest(str(path[-1]), known)}")
    elif kind == "value_error":
        report.at_value(path, str(ctx.get("error", error["msg"])))
    elif kind == "literal_error":
        report.at_value(path, f"expected {ctx.get('expected')}, got {value!r}")
    elif kind == "greater_than_equal":
        report.at_value(path, f"expected an integer >= {ctx.get('ge')}, got {value!r}")
    elif kind.endswith("_type") or kind == "model_type":
        expected = {"int_type": "an integer", "string_type": "a string", "bool_type": "true or false",
                    "list_type": "an array", "dict_type": "a table", "model_type": "a table",
                    "datetime_type": "a date-time such as 2026-01-01T00:00:00Z"}.get(kind, kind)
        report.at_value(path, f"expected {expected}, got {toml_type(value)}")
    else:
        report.at_value(path, str(error["msg"]))


def _known_keys(path: Key) -> list[str]:
    models: Mapping[Key, type[BaseModel]] = {(): ScenarioFile, ("expect",): ExpectSpec}
    if len(path) == 2 and path[0] == "steps":
        return list(ScriptSpec.model_fields)
    if len(path) == 2 and path[0] == "events":
        return list(EventSpec.model_fields)
    model = models.get(path)
    return list(model.model_fields) if model else []
