"""The shape of a schedule file, as pydantic models: they check keys, types, enums and durations, and are
the source of the JSON Schema. What needs more than one key, or knowledge from outside the file (cron
fields, timezones, task and workflow names, exactly-one-of rules), is checked in ``app.scheduling.checks``."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.json_schema import SkipJsonSchema

from app.durations import format_duration
from app.scheduling.spec import Overlap, Schedule
from app.workflows.document import Duration, Name

# The JSON Schema's approximation of app.scheduling.cron.check, for editors: five fields, the last by name.
_DAYS = r"[A-Za-z]+(-[A-Za-z]+)?"
CRON_PATTERN = rf"^\s*(\S+\s+){{4}}(\*|{_DAYS}(,{_DAYS})*)\s*$"
DEFAULT_GRACE = format_duration(Schedule.misfire_grace)  # "5m"


class _Table(BaseModel):
    # strict: TOML values are typed already, so "true" must not pass for true
    model_config = ConfigDict(extra="forbid", strict=True)


class TargetSpec(_Table):
    """What each tick starts: a task, or a run of a workflow."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["task"]}, {"required": ["workflow"]}]})

    task: SkipJsonSchema[None] | str = Field(None, description="A registered task's name, e.g. 'sessions.cleanup'.")
    workflow: SkipJsonSchema[None] | str = Field(
        None, description="A workflow's name (the `name` in workflows/*.toml), e.g. 'user_registration'.")
    payload: dict[str, Any] = Field(
        {}, description="The task's payload, or the workflow run's input: plain values, sent as they are "
                        "({{ ... }} is not expanded).")


class ScheduleFile(_Table):
    """A schedule: a task or a workflow started on a cron expression or at an interval."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["cron"]}, {"required": ["every"]}]})

    name: Name = Field(description="The schedule's name, unique among the files in schedules/.")
    description: str = Field("", description="What the schedule is for, for people.")
    cron: SkipJsonSchema[None] | str = Field(
        None, description="Five fields: minute hour day-of-month month day-of-week, read in `timezone`. "
                          "Numbers, ranges (1-5), steps (*/15, 0-30/10) and lists (1,15); month may be a name "
                          "(jan); day-of-week must be names (mon-fri), since APScheduler 3 counts 0 as Monday "
                          "where cron counts it as Sunday. Restricting both day fields requires both to match.",
        json_schema_extra={"pattern": CRON_PATTERN})
    every: SkipJsonSchema[None] | Duration = Field(
        None, description="Or an interval between ticks, at least 1s, e.g. '10m'.")
    timezone: SkipJsonSchema[None] | str = Field(
        None, description="An IANA timezone name, e.g. 'Europe/Paris'; default: the settings' scheduler.timezone.")
    enabled: bool = Field(Schedule.enabled, description="false: the schedule is loaded but never fires.")
    misfire_grace: Duration = Field(
        DEFAULT_GRACE, description="A tick later than this (the scheduler was down or busy) is skipped, "
                                   "not caught up; more than 0.")
    coalesce: bool = Field(Schedule.coalesce, description="Several ticks missed within the grace fire once.")
    overlap: Annotated[Overlap, Strict(False)] = Field(
        Overlap.ALLOW, description="While the previous tick's run is unfinished: 'allow' starts another, "
                                   "'forbid' skips this tick, 'replace' cancels the previous run first.")
    target: TargetSpec = Field(description="What each tick starts: [target] with task = ... or workflow = ....")
