"""A recorded run written as a scenario file: its input, outcomes and events, and as expectations what it came
to, so that a surprise in production becomes a regression test (``flowplane workflows export-scenario``)."""

import json
from datetime import datetime
from typing import Any

from app.workflows.engine import StepStatus
from app.workflows.recorded import Recording
from app.workflows.simulated import Result, Scenario

_DEFAULT_SCRIPT = ("failures", 0), ("then", "ok"), ("output", None), ("error", "scripted failure")


def scenario_text(recording: Recording, scenario: Scenario, result: Result, workflow_file: str) -> str:
    """The scenario file for ``recording``; ``result`` is its simulation on the version it ran, whose rendered
    payloads become expectations too (the database keeps no payload once sent)."""
    run = recording.run
    lines = [f"# Run {run.id} of {run.workflow} (version {run.version[:12]}), recorded {_iso(scenario.start)}.",
             f"description = {_value(f'Recorded run {run.id}: {run.status}')}",
             f"file = {_value(workflow_file)}",
             f"start = {_iso(scenario.start)}",
             f"input = {_value(dict(scenario.input))}", ""]
    for step_id, script in scenario.steps.items():
        fields = {"fail": script.failures, "then": script.then, "output": script.output, "error": script.error}
        chosen = {key: value for (key, value), (_, default) in zip(fields.items(), _DEFAULT_SCRIPT, strict=True)
                  if value != default and value is not None}
        if chosen:
            lines += [f"[steps.{step_id}]", *(f"{key} = {_value(value)}" for key, value in chosen.items()), ""]
    for arrival in scenario.events:
        lines += ["[[events]]", f"at = {_value(_duration(arrival.at.total_seconds()))}",
                  f"type = {_value(arrival.type)}", f"payload = {_value(dict(arrival.payload))}", ""]
    lines += ["[expect]", f"status = {_value(result.status)}"]
    for name, status in (("ran", StepStatus.SUCCEEDED), ("skipped", StepStatus.SKIPPED), ("dead", StepStatus.DEAD),
                         ("cancelled", StepStatus.CANCELLED)):
        if ended := result.in_order(status):
            lines.append(f"{name} = {_value(ended)}")
    lines.append(f"published = {_value([event for event, _ in result.published])}")
    retried = {step_id: row.attempts for step_id, row in result.steps.items() if row.attempts > 1}
    if retried:
        lines.append(f"attempts = {_value(retried)}")
    if result.payloads:
        lines += ["", "[expect.payloads]"]
        lines += [f"{step_id} = {_value(payload)}" for step_id, payload in result.payloads.items()
                  if isinstance(payload, dict)]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    return f"{milliseconds}ms" if milliseconds % 1000 else f"{milliseconds // 1000}s"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _value(value: Any) -> str:
    """A TOML value: strings, numbers, booleans, arrays and inline tables (TOML has no null: left out)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value if item is not None) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(key), ensure_ascii=False)} = {_value(item)}"
                                for key, item in value.items() if item is not None) + " }"
    return json.dumps(str(value), ensure_ascii=False)
