"""``flowplane``: the one command line for serving, operating and developing Flowplane."""

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app import logs
from app.config import ConfigError, Settings, load_settings, redact_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.plane.events.inspect import EventInspector
    from app.plane.tasks.inspect import TaskInspector


class _Context:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


pass_context = click.make_pass_decorator(_Context)


@click.group()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Settings file (default: $FLOWPLANE_CONFIG or ./config.toml).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Flowplane: declarative workflows on one message plane."""
    ctx.obj = _Context(config_path)


@cli.command()
@click.option("--host", default=None, help="Override api.host.")
@click.option("--port", type=int, default=None, help="Override api.port.")
@pass_context
def api(ctx: _Context, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (migrating the database first when database.auto_migrate is on)."""
    import uvicorn

    from app.api.app import create_app
    from app.bootstrap import build

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    container = build(settings)
    try:
        uvicorn.run(
            create_app(container),
            host=host or settings.api.host,
            port=port or settings.api.port,
            log_config=None,
            proxy_headers=True,
            forwarded_allow_ips=settings.api.forwarded_allow_ips,
            timeout_graceful_shutdown=10,
        )
    finally:
        container.close()


@cli.command()
@pass_context
def up(ctx: _Context) -> None:
    """Run every Flowplane process together (migrate once, then supervise; Ctrl-C stops all)."""
    import os

    from app import supervisor
    from app.bootstrap import build

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    build(settings).close()  # migrates once here, so the children need not race to do it
    env = {**os.environ, "FLOWPLANE_DATABASE__AUTO_MIGRATE": "false"}
    if ctx.config_path:
        env["FLOWPLANE_CONFIG"] = str(ctx.config_path.resolve())
    children = [supervisor.Child("api", supervisor.flowplane_command("api")),
                supervisor.Child("worker", supervisor.flowplane_command("worker"))]
    if settings.events.enabled:
        children.append(supervisor.Child("consumers", supervisor.flowplane_command("consumers")))
    sys.exit(supervisor.run(children, env))


@cli.command()
@click.option("--concurrency", type=click.IntRange(1, 512), default=None, help="Override tasks.concurrency.")
@pass_context
def worker(ctx: _Context, concurrency: int | None) -> None:
    """Run tasks: worker processes, lease heartbeats, the delay/retry schedule, the outbox relay."""
    from app.bootstrap import build
    from app.plane.plane import delete_expired_unique_keys
    from app.plane.tasks import dead
    from app.plane.tasks.worker import PlaneConsumer

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    container = build(settings)
    concurrency = concurrency or settings.tasks.concurrency
    retention = settings.tasks.dead_letter_retention
    consumer = PlaneConsumer(
        container.huey, concurrency=concurrency, grace=settings.tasks.shutdown_grace,
        relay=container.plane.relay,
        periodic_chores=(lambda: dead.purge(container.engine, older_than=retention),
                         lambda: delete_expired_unique_keys(container.engine)),
    )
    container.engine.dispose()  # children open their own connections after the fork
    log = logging.getLogger("app.worker")
    log.info("worker started (%s, concurrency: %d)", _backend_label(settings), concurrency)
    consumer.run()
    log.info("worker stopped")


def _backend_label(settings: Settings) -> str:
    if settings.redis.url:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.redis.url)
        return f"redis: {parts.hostname}:{parts.port or 6379}"
    return f"sqlite: {settings.tasks.sqlite_path}"


@cli.command()
@click.argument("names", nargs=-1)
@pass_context
def consumers(ctx: _Context, names: tuple[str, ...]) -> None:
    """Run the event consumers (analytics, crm, audit), or only NAMES."""
    import signal

    from kombu.connection import Connection

    from app.bootstrap import build, services
    from app.plane.events.consumer import EventConsumers
    from app.plane.events.topology import transport_url

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    log = logging.getLogger("app.consumers")
    if not settings.events.enabled:
        log.warning("events are disabled (events.enabled = false): no consumer runs")
        return
    container = build(settings)
    known = {spec.name for spec in container.consumers}
    if unknown := sorted(set(names) - known):
        raise click.ClickException(f"unknown consumer(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    specs = [spec for spec in container.consumers if not names or spec.name in names]
    with Connection(transport_url(settings), heartbeat=30) as connection:
        if container.topology.embedded:
            connection.transport.polling_interval = 0.1  # the embedded transport polls its SQLite file
        runner = EventConsumers(connection, container.topology, specs, container.engine, services(settings),
                                prefetch=settings.events.prefetch, max_retries=settings.events.max_retries)

        def stop(signum: int, _frame: object) -> None:
            runner.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        where = "embedded" if container.topology.embedded else _host(settings.rabbitmq.url)
        log.info("consumers started (%s: %s, consumers: %s, prefetch: %d)", "rabbitmq" if where != "embedded"
                 else "transport", where, ", ".join(spec.name for spec in specs), settings.events.prefetch)
        runner.run()
    container.close()
    log.info("consumers stopped")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}"


@cli.group()
def events() -> None:
    """Inspect and operate the event plane."""


def _events(ctx: _Context) -> "EventInspector":
    from app.bootstrap import build
    from app.plane.events.inspect import EventInspector
    from app.plane.events.topology import transport_url

    container = build(ctx.settings)
    return EventInspector(transport_url(ctx.settings), container.topology, ctx.settings.rabbitmq.management_url)


@events.command("topology")
@pass_context
def events_topology(ctx: _Context) -> None:
    """Print the exchanges, queues and bindings every process declares."""
    from app.bootstrap import build

    click.echo(build(ctx.settings).topology.describe())


@events.command("stats")
@pass_context
def events_stats(ctx: _Context) -> None:
    """Per consumer: queue depth, unacked, consumers, retrying, dead, rates."""
    _echo_json(_events(ctx).stats())


@events.command("requeue")
@click.argument("consumer")
@pass_context
def events_requeue(ctx: _Context, consumer: str) -> None:
    """Move CONSUMER's dead letters back to its queue."""
    inspector = _events(ctx)
    if consumer not in inspector.topology.consumers:
        raise click.ClickException(f"unknown consumer {consumer}")
    click.echo(f"requeued {inspector.requeue_dead(consumer)} message(s)")


@events.command("purge")
@click.argument("consumer")
@pass_context
def events_purge(ctx: _Context, consumer: str) -> None:
    """Delete CONSUMER's dead letters."""
    inspector = _events(ctx)
    if consumer not in inspector.topology.consumers:
        raise click.ClickException(f"unknown consumer {consumer}")
    click.echo(f"purged {inspector.purge_dead(consumer)} message(s)")


@cli.group()
def tasks() -> None:
    """Inspect and operate the task queue."""


def _inspector(ctx: _Context) -> "TaskInspector":
    from app.bootstrap import build
    from app.plane.tasks.inspect import TaskInspector

    container = build(ctx.settings)
    return TaskInspector(container.huey, container.plane, container.engine)


def _echo_json(value: object) -> None:
    import json

    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


@tasks.command("stats")
@pass_context
def tasks_stats(ctx: _Context) -> None:
    """Counts by state, and tasks processed and failed in the last hour."""
    stats = _inspector(ctx).stats()
    stats.pop("processed_per_minute")
    stats.pop("failed_per_minute")
    _echo_json(stats)


@tasks.command("list")
@click.argument("state", type=click.Choice(["pending", "scheduled", "retrying", "active", "dead"]))
@click.option("--task", default=None, help="Only tasks with this name.")
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--limit", type=click.IntRange(1, 500), default=20)
@pass_context
def tasks_list(ctx: _Context, state: str, task: str | None, offset: int, limit: int) -> None:
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
def tasks_show(ctx: _Context, task_id: str) -> None:
    """Everything about one task: payload, attempts, error and traceback."""
    from dataclasses import asdict

    view = _inspector(ctx).get(task_id)
    if view is None:
        raise click.ClickException(f"no task {task_id}")
    _echo_json(asdict(view))


@tasks.command("retry")
@click.argument("task_id")
@pass_context
def tasks_retry(ctx: _Context, task_id: str) -> None:
    """Give a dead task a new attempt, or run a scheduled one now."""
    if not _inspector(ctx).retry(task_id):
        raise click.ClickException(f"no dead, scheduled or retrying task {task_id}")
    click.echo(f"enqueued {task_id}")


@tasks.command("delete")
@click.argument("task_id")
@pass_context
def tasks_delete(ctx: _Context, task_id: str) -> None:
    """Delete a dead, pending or scheduled task."""
    if not _inspector(ctx).delete(task_id):
        raise click.ClickException(f"no dead, pending or scheduled task {task_id}")
    click.echo(f"deleted {task_id}")


@tasks.command("purge")
@pass_context
def tasks_purge(ctx: _Context) -> None:
    """Delete every dead task."""
    click.echo(f"deleted {_inspector(ctx).purge_dead()} dead task(s)")


@tasks.command("pause")
@pass_context
def tasks_pause(ctx: _Context) -> None:
    """Stop workers taking tasks from the queue (running ones finish)."""
    _inspector(ctx).pause()
    click.echo(f"queue {ctx.settings.tasks.queue} paused")


@tasks.command("resume")
@pass_context
def tasks_resume(ctx: _Context) -> None:
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
def tasks_enqueue(ctx: _Context, name: str, payload: str, priority: str | None, delay: str | None,
                  unique_key: str | None, unique_ttl: str | None) -> None:
    """Enqueue task NAME with a JSON PAYLOAD through the plane (outbox, then the queue)."""
    import json

    from app.bootstrap import build
    from app.durations import parse_duration

    try:
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("the payload must be a JSON object")
        container = build(ctx.settings)
        result = container.plane.enqueue(
            name, data, priority=priority, delay=parse_duration(delay) if delay else None, unique_key=unique_key,
            unique_ttl=parse_duration(unique_ttl) if unique_ttl else None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'enqueued' if result.created else 'already enqueued'} {result.id}")


@cli.group()
def db() -> None:
    """Database schema migrations."""


def _engine(ctx: _Context) -> "Engine":
    from app.db.engine import make_engine

    return make_engine(ctx.settings.database)


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_context
def db_upgrade(ctx: _Context, revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from app.db import migrate

    logs.configure("info")
    engine = _engine(ctx)
    migrate.upgrade(engine, revision)
    click.echo(f"{redact_url(ctx.settings.database.url)} is at revision {migrate.current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
@pass_context
def db_downgrade(ctx: _Context, revision: str) -> None:
    """Revert migrations down to REVISION ('base' empties the schema)."""
    from app.db import migrate

    logs.configure("info")
    migrate.downgrade(_engine(ctx), revision)


@db.command("current")
@pass_context
def db_current(ctx: _Context) -> None:
    """Print the applied revision and the newest one available."""
    from app.db import migrate

    current, head = migrate.current_revision(_engine(ctx)), migrate.head_revision()
    click.echo(f"current: {current or 'none'}  head: {head}")
    if current != head:
        sys.exit(1)


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes.")
@pass_context
def db_revision(ctx: _Context, message: str) -> None:
    """Autogenerate a migration from the difference between the models and the database."""
    from app.db import migrate

    migrate.new_revision(_engine(ctx), message)


@cli.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", default=None, help="Display name (default: the part of EMAIL before @).")
@click.option("--role", type=click.Choice(["user", "operator", "admin"]), default="user", show_default=True)
@pass_context
def users_create(ctx: _Context, email: str, name: str | None, role: str) -> None:
    """Create a user. The password is prompted for, or read from standard input when piped."""
    from app.auth.accounts import create_user
    from app.bootstrap import build
    from app.domain.errors import DomainError
    from app.domain.users import Role

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    container = build(ctx.settings)
    try:
        with container.new_session() as session, session.begin():
            user = create_user(session, container.passwords, email=email, name=name or email.split("@")[0],
                               password=password, role=Role(role))
        click.echo(f"created {user.role} {user.email} ({user.id})")
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()


@cli.group()
def sessions() -> None:
    """Login sessions."""


@sessions.command("cleanup")
@pass_context
def sessions_cleanup(ctx: _Context) -> None:
    """Delete expired sessions and say how many."""
    from app.auth.accounts import delete_expired_sessions
    from app.bootstrap import build

    container = build(ctx.settings)
    try:
        with container.new_session() as session:
            click.echo(f"deleted {delete_expired_sessions(session)} expired sessions")
    finally:
        container.close()


@cli.command("config")
@pass_context
def show_config(ctx: _Context) -> None:
    """Check the settings and print them as TOML, with passwords in URLs redacted."""
    for section, values in ctx.settings.model_dump(mode="json").items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            shown = redact_url(value) if isinstance(value, str) and key.endswith("url") else value
            click.echo(f"{key} = {_toml_value(shown)}")
        click.echo()


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"flowplane: {exc}", err=True)
        sys.exit(2)
