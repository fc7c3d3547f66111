"""``flowplane workflows``: validate, show and run workflow definitions; list, inspect, retry and wake runs."""

import json
import sys
from pathlib import Path

import click

from app.cli.context import CliContext, echo_json, pass_context
from app.cli.replay import diff, export_scenario, replay
from app.cli.simulate import simulate, test


@click.group()
def workflows() -> None:
    """Workflow definitions and their runs."""


@workflows.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Also exit 1 on warnings.")
@pass_context
def validate(ctx: CliContext, paths: tuple[Path, ...], strict: bool) -> None:
    """Check workflow files (default: every file in workflows.directory); exit 1 on any problem. Warnings (an
    unreachable step, a wait for ever, an output no step produces, retries outlasting a wait) fail only --strict."""
    from app.cli.simulate import player
    from app.workflows.loader import validate_paths
    from app.workflows.warnings import retry_span, warnings

    known = player(ctx)
    found, problems = validate_paths(list(paths) or [Path(ctx.settings.workflows.directory)],
                                     tasks=known.registry.names(), events=known.catalogue.fields())
    span = retry_span(known.registry)
    cautions = [warning for workflow in found for warning in warnings(workflow, span)]
    for problem in [*problems, *cautions]:
        click.echo(str(problem), err=True)
    for workflow in found:
        click.echo(f"ok  {workflow.path}: {workflow.name} ({len(workflow.steps)} steps, {workflow.version[:12]})")
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
    if cautions:
        click.echo(f"{len(cautions)} warning(s)", err=True)
    if problems or (strict and cautions):
        sys.exit(1)


@workflows.command("list")
@pass_context
def list_workflows(ctx: CliContext) -> None:
    """Every workflow now serving, with its version and file."""

    catalogue = ctx.container.workflows
    for workflow in catalogue.all():
        click.echo(f"{workflow.name:<28} {workflow.version[:12]}  {len(workflow.steps):>2} steps  {workflow.path}")
    for rejected in catalogue.rejected().values():
        click.echo(f"rejected edit of {rejected.file}:", err=True)
        for problem in rejected.problems:
            click.echo(f"  {problem}", err=True)


@workflows.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The definition as JSON instead of a drawing.")
@pass_context
def show(ctx: CliContext, name: str, as_json: bool) -> None:
    """Draw NAME's steps and what each waits for."""
    from app.workflows.catalogue import UnknownWorkflow
    from app.workflows.draw import draw
    from app.workflows.views import workflow_view

    try:
        workflow = ctx.container.workflows.get(name)
    except UnknownWorkflow as exc:
        raise click.ClickException(str(exc.args[0])) from None
    if as_json:
        echo_json(workflow_view(workflow))
    else:
        click.echo(draw(workflow))


@workflows.command("run")
@click.argument("name")
@click.option("--input", "raw_input", default="{}", help="The run's input as a JSON object.")
@pass_context
def run(ctx: CliContext, name: str, raw_input: str) -> None:
    """Start a run of NAME; prints its id."""
    from app.workflows.catalogue import UnknownWorkflow
    from app.workflows.inputs import InvalidInput

    try:
        data = json.loads(raw_input)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--input") from None
    container = ctx.container
    try:
        with container.new_session() as db, db.begin():
            started = container.runner.start(db, name, data)
    except (UnknownWorkflow, InvalidInput) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, UnknownWorkflow) else exc)) from None
    click.echo(started.run_id)


@workflows.command("runs")
@click.option("--workflow", default=None, help="Only runs of this workflow.")
@click.option("--status", type=click.Choice(["running", "succeeded", "failed", "cancelled"]), default=None)
@click.option("--limit", type=click.IntRange(1, 500), default=20)
@pass_context
def runs(ctx: CliContext, workflow: str | None, status: str | None, limit: int) -> None:
    """The latest runs, newest first."""
    from app.workflows.views import list_runs

    items, _ = list_runs(ctx.container.engine, workflow=workflow, status=status, limit=limit)
    for item in items:
        click.echo(f"{item['id']}  {item['workflow']:<24} {item['status']:<10} {item['created_at']}")


@workflows.command("inspect")
@click.argument("run_id")
@pass_context
def inspect(ctx: CliContext, run_id: str) -> None:
    """A run as JSON: its steps' status, attempts, timestamps, errors, outputs and what parked waits wait for
    (also said in words on stderr)."""
    from app.workflows.views import run_detail
    from app.workflows.waiting import describe

    container = ctx.container
    detail = run_detail(container.engine, run_id, container.runner.definition)
    if detail is None:
        raise click.ClickException(f"no run {run_id}")
    echo_json(detail)
    now = container.clock.now()
    for step in detail["steps"]:
        if step["waiting"]:
            click.echo(f"{step['id']}: {describe(step['waiting'], now)}", err=True)


@workflows.command("wake")
@click.argument("run_id")
@click.argument("step_id")
@pass_context
def wake(ctx: CliContext, run_id: str, step_id: str) -> None:
    """Cut STEP_ID's wait short: a timer succeeds now, an event wait times out now; prints the step's output.
    Recorded in the operator audit log as cli:<your login>."""
    from app.audit import CLI_USER_ID, cli_email, record_action
    from app.workflows.runner import RunNotFound
    from app.workflows.waking import NotWaiting

    container = ctx.container

    def record(ok: bool, detail: str) -> None:
        record_action(container.engine, user_id=CLI_USER_ID, email=cli_email(), action="step.wake",
                      target=f"{run_id}/{step_id}", ok=ok, detail=detail)

    try:
        output = container.waits.wake(run_id, step_id)
    except (RunNotFound, NotWaiting) as exc:
        message = f"no run {run_id}" if isinstance(exc, RunNotFound) else str(exc)
        record(False, message)
        raise click.ClickException(message) from None
    record(True, json.dumps(output))
    echo_json(output)


@workflows.command("retry")
@click.argument("run_id")
@pass_context
def retry(ctx: CliContext, run_id: str) -> None:
    """Dispatch RUN_ID's dead and cancelled steps again and resume it."""
    from app.workflows.runner import RunNotFound

    container = ctx.container
    try:
        steps = container.runner.retry(run_id)
    except RunNotFound:
        raise click.ClickException(f"no run {run_id}") from None
    click.echo(f"retried: {', '.join(steps) or 'nothing was dead'}")


workflows.add_command(simulate)
workflows.add_command(test)
workflows.add_command(replay)
workflows.add_command(export_scenario)
workflows.add_command(diff)
