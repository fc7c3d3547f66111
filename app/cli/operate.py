"""Inspecting and operating the task queue and the event plane."""

from typing import TYPE_CHECKING

import click

from app.cli.context import CliContext, echo_json, pass_context

if TYPE_CHECKING:
    from app.plane.events.inspect import EventInspector
    from app.plane.tasks.inspect import TaskInspector


@click.group()
def events() -> None:
    """Inspect and operate the event plane."""


def _events(ctx: CliContext) -> "EventInspector":
    from app.plane.events.inspect import inspector_for

    return inspector_for(ctx.settings, ctx.container.topology)


@events.command("topology")
@pass_context
def events_topology(ctx: CliContext) -> None:
    """Print the exchanges, queues and bindings every process declares."""

    click.echo(ctx.container.topology.describe())


@events.command("stats")
@pass_context
def events_stats(ctx: CliContext) -> None:
    """Per consumer: queue depth, unacked, consumers ("unknown" on the embedded transport), retrying, dead,
    rates."""
    stats = _events(ctx).stats()
    for figures in stats["consumers"].values():
        figures["consumers"] = "unknown" if figures["consumers"] is None else figures["consumers"]
    echo_json(stats)


@events.command("applied")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Audit entries and CRM contacts to show.")
@pass_context
def events_applied(ctx: CliContext, limit: int) -> None:
    """What the consumers applied: per consumer how many messages in the last day and when last, the analytics
    counts of the last 7 days, the latest audit entries and CRM contacts."""
    from app.bootstrap import services
    from app.handlers.effects import consumer_effects, crm_contacts

    container = ctx.container
    effects = consumer_effects(container.engine, [spec.name for spec in container.consumers],
                               now=container.clock.now(), limit=limit)
    echo_json({**effects, "crm_contacts": crm_contacts(services(ctx.settings).crm, limit=limit)})


@events.command("requeue")
@click.argument("consumer")
@pass_context
def events_requeue(ctx: CliContext, consumer: str) -> None:
    """Move CONSUMER's dead letters back to its queue."""
    inspector = _events(ctx)
    if consumer not in inspector.topology.consumers:
        raise click.ClickException(f"unknown consumer {consumer}")
    click.echo(f"requeued {inspector.requeue_dead(consumer)} message(s)")


@events.command("purge")
@click.argument("consumer")
@pass_context
def events_purge(ctx: CliContext, consumer: str) -> None:
    """Delete CONSUMER's dead letters."""
    inspector = _events(ctx)
    if consumer not in inspector.topology.consumers:
        raise click.ClickException(f"unknown consumer {consumer}")
    click.echo(f"purged {inspector.purge_dead(consumer)} message(s)")


@events.command("publish")
@click.argument("event_type", metavar="TYPE")
@click.argument("payload", metavar="JSON")
@pass_context
def events_publish(ctx: CliContext, event_type: str, payload: str) -> None:
    """Publish an event of TYPE with a JSON payload through the outbox; print its message id."""
    import json

    from app.domain.events import InvalidEvent

    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise click.ClickException(f"JSON is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException("JSON must be a JSON object")
    plane = ctx.container.plane
    if event_type not in plane.catalogue:
        raise click.ClickException(f"unknown event type {event_type!r}; known: {', '.join(plane.catalogue.names())}")
    try:
        message_id = plane.publish(event_type, data)
    except InvalidEvent as exc:
        problems = "\n".join(f"  payload.{field}: {message}" for field, message in exc.problems.items())
        raise click.ClickException(f"invalid {event_type} payload:\n{problems}") from None
    if message_id is None:
        click.echo("events are off (events.enabled = false): no consumer gets it", err=True)
    else:
        click.echo(message_id)


@click.group()
def tasks() -> None:
    """Inspect and operate the task queue."""


def _inspector(ctx: CliContext) -> "TaskInspector":
    from app.plane.tasks.inspect import TaskInspector

    container = ctx.container
    return TaskInspector(container.huey, container.plane, container.engine)


@tasks.command("stats")
@pass_context
def tasks_stats(ctx: CliContext) -> None:
    """Counts by state, and tasks processed and failed in the last hour."""
    stats = _inspector(ctx).stats()
    stats.pop("processed_per_minute")
    stats.pop("failed_per_minute")
    echo_json(stats)


@tasks.command("list")
@click.argument("state", type=click.Choice(["pending", "scheduled", "retrying", "active", "dead"]))
@click.option("--task", default=None, help="Only tasks with this name.")
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--limit", type=click.IntRange(1, 500), default=20)
@pass_context
def tasks_list(ctx: CliContext, state: str, task: str | None, offset: int, limit: int) -> None:
    """A page of tasks in STATE: id, name, attempt, priority, when."""
    page = _inspector(ctx).list(state, offset=offset, limit=limit, task=task)
    click.echo(f"{page.total} {state} task(s)")
    for view in page.items:
        when = view.failed_at or view.due_at or view.created_at
        error = f"  {view.error}" if view.error else ""
        click.echo(f"{view.id}  {view.task}  attempt {view.attempt}/{view.max_attempts}  {view.priority}  "
                   f"{when:%Y-%m-%d %H:%M:%S}{error}")


@tasks.command("show")
@click.argument("task_id")
@pass_context
def tasks_show(ctx: CliContext, task_id: str) -> None:
    """Everything about one task: payload, attempts, error and traceback."""
    from dataclasses import asdict

    view = _inspector(ctx).get(task_id)
    if view is None:
        raise click.ClickException(f"no task {task_id}")
    echo_json(asdict(view))


@tasks.command("retry")
@click.argument("task_id")
@pass_context
def tasks_retry(ctx: CliContext, task_id: str) -> None:
    """Give a dead task a new attempt, or run a scheduled one now."""
    if not _inspector(ctx).retry(task_id):
        raise click.ClickException(f"no dead, scheduled or retrying task {task_id}")
    click.echo(f"enqueued {task_id}")


@tasks.command("delete")
@click.argument("task_id")
@pass_context
def tasks_delete(ctx: CliContext, task_id: str) -> None:
    """Delete a dead, pending or scheduled task."""
    if not _inspector(ctx).delete(task_id):
        raise click.ClickException(f"no dead, pending or scheduled task {task_id}")
    click.echo(f"deleted {task_id}")


@tasks.command("purge")
@pass_context
def tasks_purge(ctx: CliContext) -> None:
    """Delete every dead task."""
    click.echo(f"deleted {_inspector(ctx).purge_dead()} dead task(s)")


@tasks.command("pause")
@pass_context
def tasks_pause(ctx: CliContext) -> None:
    """Stop workers taking tasks from the queue (running ones finish)."""
    _inspector(ctx).pause()
    click.echo(f"queue {ctx.settings.tasks.queue} paused")


@tasks.command("resume")
@pass_context
def tasks_resume(ctx: CliContext) -> None:
    """Let workers take tasks again."""
    _inspector(ctx).resume()
    click.echo(f"queue {ctx.settings.tasks.queue} resumed")


@tasks.command("enqueue")
@click.argument("name")
@click.argument("payload", default="{}")
@click.option("--priority", type=click.Choice(["high", "medium", "low"]), default=None)
@click.option("--delay", default=None, help="Run after this long, e.g. 30s.")
@click.option("--unique-key", default=None, help="Enqueue nothing if a task with this key is live.")
@click.option("--unique-ttl", default=None, help="How long the unique key holds, e.g. 1h.")
@pass_context
def tasks_enqueue(ctx: CliContext, name: str, payload: str, priority: str | None, delay: str | None,
                  unique_key: str | None, unique_ttl: str | None) -> None:
    """Enqueue task NAME with a JSON PAYLOAD through the plane (outbox, then the queue)."""
    import json

    from app.durations import parse_duration

    try:
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("the payload must be a JSON object")
        container = ctx.container
        result = container.plane.enqueue(
            name, data, priority=priority, delay=parse_duration(delay) if delay else None, unique_key=unique_key,
            unique_ttl=parse_duration(unique_ttl) if unique_ttl else None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'enqueued' if result.created else 'already enqueued'} {result.id}")
