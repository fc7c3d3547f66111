"""``flowplane schedules``: validate, list, history, trigger, pause and resume cron schedules."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli.context import CliContext, echo_json, pass_context

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.scheduling.spec import Schedule


@click.group()
def schedules() -> None:
    """Cron schedules and their history."""


def _container(ctx: CliContext) -> "Container":

    return ctx.container


def _schedule(container: "Container", name: str) -> "Schedule":
    from app.scheduling.catalogue import UnknownSchedule

    try:
        return container.schedules.get(name)
    except UnknownSchedule as exc:
        raise click.ClickException(str(exc.args[0])) from None


@schedules.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@pass_context
def validate(ctx: CliContext, paths: tuple[Path, ...]) -> None:
    """Check schedule files (default: every file in scheduler.directory); exit 1 on any problem."""
    from app.bootstrap import event_declarations, task_registry
    from app.scheduling.loader import validate_paths
    from app.workflows.catalogue import WorkflowCatalogue

    settings = ctx.settings
    tasks, events = task_registry(settings).names(), event_declarations(settings)[0].names()
    workflows = WorkflowCatalogue(Path(settings.workflows.directory), tasks=lambda: tasks, events=lambda: events,
                                  reload_interval=0)  # a broken workflow file is `workflows validate`'s to report
    found, problems = validate_paths(list(paths) or [Path(settings.scheduler.directory)], tasks=tasks,
                                     workflows=workflows.names(), default_timezone=settings.scheduler.timezone)
    for problem in problems:
        click.echo(str(problem), err=True)
    for schedule in found:
        click.echo(f"ok  {schedule.path}: {schedule.name} ({schedule.cron or schedule.every}, {schedule.timezone})")
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)


@schedules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Everything, as JSON.")
@pass_context
def list_schedules(ctx: CliContext, as_json: bool) -> None:
    """Every schedule with its next fire time, pause state and last outcome."""
    from app.scheduling.views import schedule_view

    container = _container(ctx)
    views = [schedule_view(schedule, container.scheduling) for schedule in container.schedules.all()]
    if as_json:
        echo_json(views)
        return
    for view in views:
        state = "disabled" if not view["enabled"] else "paused" if view["paused"] else f"next {view['next_fire']}"
        last = view["last_fire"]
        click.echo(f"{view['name']:<28} {view['cron'] or 'every ' + view['every']:<16} {view['timezone']:<16} "
                   f"{state:<36} last: {last['outcome'] + ' ' + last['scheduled_at'] if last else '-'}")
    for rejected in container.schedules.rejected().values():
        click.echo(f"rejected edit of {rejected.file}:", err=True)
        for problem in rejected.problems:
            click.echo(f"  {problem}", err=True)


@schedules.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=20)
@pass_context
def history(ctx: CliContext, name: str, limit: int) -> None:
    """NAME's latest fires: scheduled and actual time, replica, outcome, duration, what it started."""
    container = _container(ctx)
    _schedule(container, name)
    echo_json(container.scheduling.history(name, limit))


@schedules.command("trigger")
@click.argument("name")
@pass_context
def trigger(ctx: CliContext, name: str) -> None:
    """Fire NAME now, whatever its schedule says (pause and overlap still apply)."""
    from datetime import UTC, datetime

    from app.scheduling.service import fire_view

    container = _container(ctx)
    fire = container.scheduling.fire(_schedule(container, name), datetime.now(UTC), "manual")
    if fire is None:
        raise click.ClickException("the tick was taken by another replica")
    echo_json(fire_view(fire))


@schedules.command("pause")
@click.argument("name")
@pass_context
def pause(ctx: CliContext, name: str) -> None:
    """Skip NAME's ticks on every replica until it is resumed."""
    container = _container(ctx)
    container.scheduling.set_paused(_schedule(container, name).name, True)
    click.echo(f"paused {name}")


@schedules.command("resume")
@click.argument("name")
@pass_context
def resume(ctx: CliContext, name: str) -> None:
    """Fire NAME's ticks again."""
    container = _container(ctx)
    container.scheduling.set_paused(_schedule(container, name).name, False)
    click.echo(f"resumed {name}")
