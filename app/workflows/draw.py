"""A workflow's DAG for the terminal: one column per depth, arrows naming what each step waits for."""

from collections.abc import Mapping

from app.durations import format_duration
from app.workflows.spec import Step, Workflow


def depths(workflow: Workflow) -> dict[str, int]:
    """Longest distance from a starting step; compensation steps sit beside the step that names them."""
    depth: dict[str, int] = {}

    def of(step_id: str, seen: frozenset[str] = frozenset()) -> int:
        if step_id in depth:
            return depth[step_id]
        step = workflow.step(step_id)
        value = 0 if not step.after else 1 + max(of(before, seen | {step_id}) for before in step.after
                                                 if before not in seen)
        depth[step_id] = value
        return value

    for step in workflow.steps:
        if step.id not in workflow.compensations:
            of(step.id)
    for step in workflow.steps:
        if step.on_failure in workflow.compensations:
            depth.setdefault(step.on_failure, depth.get(step.id, 0))
    return depth


def label(step: Step) -> str:
    """What a step does, in a few words: ``task email.welcome``, ``wait 3d``, ``until {{ input.ends_at }}``,
    ``wait_for user.email_verified (match user_id, timeout 48h)``."""
    if step.kind == "wait":
        # `until` keeps the template as written: what it renders to differs from run to run
        return f"wait {step.target}" if step.until is None else f"until {getattr(step.until, 'source', '…')}"
    if step.kind == "wait_for":
        terms = [f"match {', '.join(step.match_fields)}"] if step.match_fields else []
        terms += [f"timeout {format_duration(step.timeout)}"] if step.timeout is not None else []
        return f"wait_for {step.target}" + (f" ({', '.join(terms)})" if terms else "")
    return f"{step.kind} {step.target}"


def draw(workflow: Workflow, statuses: Mapping[str, str] | None = None) -> str:
    """Lines like ``[1] welcome_email  task email.welcome  <- announce`` grouped by depth."""
    levels = depths(workflow)
    lines = [f"{workflow.name}  (version {workflow.version[:12]})"]
    for level in range(max(levels.values(), default=-1) + 1):
        lines.append(f"  stage {level}")
        for step in workflow.steps:
            if levels.get(step.id) != level:
                continue
            status = f"  [{statuses[step.id]}]" if statuses and step.id in statuses else ""
            waits = f"  <- {', '.join(step.after)}" if step.after else ""
            condition = f"  if {step.when.source}" if step.when is not None else ""
            compensation = "  (compensation)" if step.id in workflow.compensations else ""
            failure = f"  on failure: {step.on_failure}" if step.on_failure != "fail_run" else ""
            lines.append(f"    {'└─' if step.after else '●─'} {step.id}  {label(step)}"
                         f"{waits}{condition}{compensation}{failure}{status}")
    return "\n".join(lines)
