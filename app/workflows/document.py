"""The shape of a workflow file, as pydantic models: they check the structure (keys, types, enums,
durations) and are the source of the JSON Schema. What needs the whole file (step references, cycles,
templates) is checked afterwards, in ``app.workflows.checks``."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Strict, Tag
from pydantic.json_schema import SkipJsonSchema

from app.durations import parse_duration
from app.workflows.spec import CONTINUE, FAIL_RUN, InputType, Retry

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# The JSON Schema's approximation of app.durations.parse_duration, for editors; the loader uses the parser.
DURATION_PATTERN = r"^\s*([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+\s*$"
EVENT_PRIORITY_MAX = 255


def _duration(text: str) -> str:
    parse_duration(text)  # its ValueError names what was expected
    return text


Duration = Annotated[str, AfterValidator(_duration), Field(json_schema_extra={"pattern": DURATION_PATTERN})]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Template = Any  # a string with {{ path }} placeholders, or a table or array of them; any TOML value
# Union tags appear in pydantic's error locations; parenthesised, they cannot be mistaken for keys of the file.
NAMED, TABLE = "(type name)", "(table)"


class _Table(BaseModel):
    # strict: TOML values are typed already, so "3" must not pass for 3
    model_config = ConfigDict(extra="forbid", strict=True)


class InputSpec(_Table):
    """An input declared as a table."""

    type: Annotated[InputType, Strict(False)] = Field(description="The input's type.")
    required: bool = Field(True, description="Whether a run must be given this input.")
    default: Any = Field(None, description="The value used when the input is not required and not given.")


InputDeclaration = Annotated[
    Annotated[InputType, Strict(False), Tag(NAMED)] | Annotated[InputSpec, Tag(TABLE)],
    Discriminator(lambda value: NAMED if isinstance(value, str | InputType) else TABLE),
]


class RetrySpec(_Table):
    """How a failed task is tried again; each key defaults as shown."""

    attempts: int = Field(Retry.attempts, ge=1, description="How many times the task runs at most, first try included.")
    backoff: Literal["exponential", "fixed"] = Field(
        Retry.backoff, description="exponential: the wait doubles after each failure, from `first` up to `max`; "
                                   "fixed: always `first`.")
    first: Duration = Field("2s", description="The wait after the first failure.")
    max: Duration = Field("10m", description="The longest wait between two attempts; not less than `first`.")
    jitter: Literal["full", "none"] = Field(
        Retry.jitter, description="full: wait a random time up to the computed one, so retries spread out.")


class UniqueSpec(_Table):
    """At most one task with this key is queued or running within `ttl`."""

    key: str = Field(description="A template for the key, e.g. 'welcome:{{ input.user_id }}'.")
    ttl: Duration = Field(description="How long the key is held at most.")


class _StepBase(_Table):
    id: Name = Field(description="The step's id: lowercase letters, digits and '_', starting with a letter.")
    description: str = Field("", description="What the step is for.")
    after: list[str] = Field(
        [], description="Ids of the steps that must succeed (or be skipped) first; none: the step starts at once.")
    when: SkipJsonSchema[None] | str = Field(
        None, description="A condition on input.* and steps.<id>.output/status; false skips the step. "
                          "E.g. \"steps.check.output.score >= 0.5 and input.plan in ['pro', 'team']\".")
    on_failure: str = Field(
        FAIL_RUN, description=f"When the step dies: '{FAIL_RUN}' (the default), '{CONTINUE}', "
                              "or the id of a compensation step to run.")


class _MessageStep(_StepBase):
    payload: SkipJsonSchema[None] | dict[str, Template] = Field(
        None, description="The message body; strings may hold {{ input.<name> }} or {{ steps.<id>.output.<key> }}.")


class TaskStep(_MessageStep):
    """A step that runs a task on the task plane."""

    task: str = Field(description="The registered task's name, e.g. 'email.welcome'.")
    priority: SkipJsonSchema[None] | Literal["high", "medium", "low"] = Field(
        None, description="The task's queue priority; default: the task's own.")
    delay: SkipJsonSchema[None] | Duration = Field(None, description="Wait this long before the first attempt.")
    timeout: SkipJsonSchema[None] | Duration = Field(None, description="An attempt running longer than this fails.")
    retry: SkipJsonSchema[None] | RetrySpec = Field(None, description="Retry policy; default: the task's own.")
    unique: SkipJsonSchema[None] | UniqueSpec = Field(None, description="Keep at most one such task at a time.")


class EventStep(_MessageStep):
    """A step that publishes an event on the event plane."""

    event: str = Field(description="The event type (its routing key), e.g. 'user.created'.")
    headers: SkipJsonSchema[None] | dict[str, Template] = Field(
        None, description="Message headers; values may hold {{ path }} placeholders.")
    priority: int = Field(0, ge=0, le=EVENT_PRIORITY_MAX, description="The message priority, 0 to 255.")


class WaitStep(_StepBase):
    """A durable timer: the step waits, holding no worker or process, until `wait` has passed since it
    started or the time `until` names has come; then it succeeds."""

    wait: SkipJsonSchema[None] | Duration = Field(None, description="How long to wait, e.g. '3d'.")
    until: SkipJsonSchema[None] | str = Field(
        None, description="A template resolving to an ISO 8601 time with its offset, or to a duration, e.g. "
                          "'{{ input.trial_ends_at }}'.")


class WaitForStep(_StepBase):
    """The step parks until an event of type `wait_for` whose payload matches every `match` field is published,
    or until `timeout`. Its output: {"event": <payload>, "timed_out": false}, or {"timed_out": true}."""

    wait_for: str = Field(description="The event type to wait for, e.g. 'user.email_verified'.")
    match: SkipJsonSchema[None] | dict[str, Template] = Field(
        None, description="Payload fields the event must carry with these values, e.g. "
                          '{ user_id = "{{ input.user_id }}" }; none: any event of the type.')
    timeout: SkipJsonSchema[None] | Duration = Field(
        None, description="Stop waiting after this long; the output then says timed_out = true.")


StepKind = Literal["task", "event", "wait", "wait_for"]
KIND_KEYS: dict[StepKind, tuple[str, ...]] = {  # the keys that say which kind a step is
    "task": ("task",), "event": ("event",), "wait": ("wait", "until"), "wait_for": ("wait_for",)}
MODELS: dict[StepKind, type[_StepBase]] = {"task": TaskStep, "event": EventStep, "wait": WaitStep,
                                           "wait_for": WaitForStep}
# Keys only some kinds take, for "'x' applies to ... steps only"
OWN_KEYS: dict[str, tuple[StepKind, ...]] = {
    key: tuple(kind for kind, model in MODELS.items() if key in model.model_fields)
    for model in MODELS.values() for key in model.model_fields if key not in _StepBase.model_fields}
TASK_ONLY = frozenset(key for key, kinds in OWN_KEYS.items() if kinds == ("task",))
EVENT_ONLY = frozenset(key for key, kinds in OWN_KEYS.items() if kinds == ("event",))


def step_kinds(value: Any) -> list[StepKind]:
    """The kinds a step table's keys name (more than one is a mistake the checks report)."""
    if not isinstance(value, dict):
        return []
    return [kind for kind, keys in KIND_KEYS.items() if any(key in value for key in keys)]


def step_kind(value: Any) -> StepKind:
    """Which model checks a step: the key that names its kind, else the keys only one kind takes, else task."""
    for kind, model in MODELS.items():
        if isinstance(value, model):
            return kind
    named = step_kinds(value)
    if named:
        return named[0]
    if isinstance(value, dict):
        for key in value:
            kinds = OWN_KEYS.get(key, ())
            if len(kinds) == 1:
                return kinds[0]
    return "task"


StepDeclaration = Annotated[
    Annotated[TaskStep, Tag("(task step)")] | Annotated[EventStep, Tag("(event step)")]
    | Annotated[WaitStep, Tag("(wait step)")] | Annotated[WaitForStep, Tag("(wait_for step)")],
    Discriminator(lambda value: f"({step_kind(value)} step)")]


class WorkflowFile(_Table):
    """A workflow: named inputs, and steps that run tasks, publish events, wait for a time or wait for an event,
    once the steps they name in `after` are done."""

    name: Name = Field(description="The workflow's name, unique among the files in workflows/.")
    description: str = Field("", description="What the workflow does, for people.")
    input: dict[Name, InputDeclaration] = Field(
        {}, description="The run's inputs: name = type, or name = { type, required, default }.",
        json_schema_extra={"additionalProperties": False})  # names must match the pattern
    steps: list[StepDeclaration] = Field(min_length=1, description="The steps, each a [[steps]] table.")
