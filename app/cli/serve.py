"""The long-running processes: the API, the worker, the event consumers, and `up` for all of them."""

import contextlib
import logging
import sys
from typing import TYPE_CHECKING

import click

from app import logs
from app.cli.context import CliContext, pass_context
from app.config import Settings

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar


@click.command()
@click.option("--host", default=None, help="Override api.host.")
@click.option("--port", type=int, default=None, help="Override api.port.")
@pass_context
def api(ctx: CliContext, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (migrating the database first when database.auto_migrate is on)."""
    from concurrent.futures import ThreadPoolExecutor

    import uvicorn
    from litestar.concurrency import set_asyncio_executor

    from app.api.app import create_app
    from app.bootstrap import build

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    # Sync handlers run on threads: as many as the database pool lends connections (pool and overflow), rather
    # than asyncio's default of CPUs + 4, so requests wait for a connection under pool_timeout, not for a thread.
    set_asyncio_executor(ThreadPoolExecutor(max_workers=2 * settings.database.pool_size, thread_name_prefix="api"))
    container = build(settings)
    container.watch_definitions()
    try:
        server = uvicorn.Server(uvicorn_config(create_app(container), settings, host=host, port=port))
        server.run()
    finally:
        container.close()
    if not server.started:
        sys.exit(3)  # what uvicorn.run exits with when it cannot start (the port is taken)


def uvicorn_config(app: "Litestar", settings: Settings, *, host: str | None = None,
                   port: int | None = None) -> "uvicorn.Config":
    """How the API is served; tests serve it the same way."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host or settings.api.host,
        port=settings.api.port if port is None else port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.api.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


@click.command()
@pass_context
def up(ctx: CliContext) -> None:
    """Run every Flowplane process together: api, worker, scheduler, consumers (migrate once, then supervise;
    Ctrl-C stops all)."""
    import os

    from app import supervisor
    from app.bootstrap import build
    from app.cli import banner
    from app.db.engine import make_engine

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    build(settings).close()  # migrates once here, so the children need not race to do it
    env = {**os.environ, "FLOWPLANE_DATABASE__AUTO_MIGRATE": "false"}
    if ctx.config_path:
        env["FLOWPLANE_CONFIG"] = str(ctx.config_path.resolve())
    children = [supervisor.Child("api", supervisor.flowplane_command("api")),
                supervisor.Child("worker", supervisor.flowplane_command("worker")),
                supervisor.Child("scheduler", supervisor.flowplane_command("scheduler"))]
    if settings.events.enabled:
        children.append(supervisor.Child("consumers", supervisor.flowplane_command("consumers")))

    def has_admin() -> bool:
        engine = make_engine(settings.database)
        try:
            return banner.admins(engine) > 0
        finally:
            engine.dispose()

    banner.announce_when_serving(settings, has_admin)
    sys.exit(supervisor.run(children, env))


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 512), default=None, help="Override tasks.concurrency.")
@pass_context
def worker(ctx: CliContext, concurrency: int | None) -> None:
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
        relay=container.plane.relay, reconcile=container.runner.reconcile, timers=container.waits.fire_due,
        reconcile_interval=settings.workflows.reconcile_interval,
        periodic_chores=(lambda: dead.purge(container.engine, older_than=retention),
                         lambda: delete_expired_unique_keys(container.engine),
                         container.huey.leased.adopt_legacy_keys),
    )
    container.engine.dispose()  # children open their own connections after the fork
    container.watch_definitions(schedules=False)  # in this process; its forked workers leave the telling to it
    log = logging.getLogger("app.worker")
    log.info("worker started (%s, concurrency: %d)", _backend_label(settings), concurrency)
    consumer.run()
    log.info("worker stopped")


@click.command()
@pass_context
def scheduler(ctx: CliContext) -> None:
    """Fire the schedules in scheduler.directory: each tick once across every replica, through the plane."""
    from app.bootstrap import build
    from app.scheduling.scheduler import SchedulerProcess

    settings = ctx.settings
    logs.configure(settings.api.log_level)
    container = build(settings)
    process = SchedulerProcess(container.schedules, container.scheduling,
                               reload_interval=settings.scheduler.reload_interval.total_seconds())
    container.watch_definitions(workflows=False)
    try:
        process.run()
    finally:
        container.close()


def _backend_label(settings: Settings) -> str:
    if settings.redis.url:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.redis.url)
        return f"redis: {parts.hostname}:{parts.port or 6379}"
    return f"sqlite: {settings.tasks.sqlite_path}"


@click.command()
@click.argument("names", nargs=-1)
@pass_context
def consumers(ctx: CliContext, names: tuple[str, ...]) -> None:
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
    with contextlib.closing(container), Connection(transport_url(settings), heartbeat=30,
                                                           connect_timeout=settings.rabbitmq.connect_timeout.total_seconds()
                                                           ) as connection:
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
    log.info("consumers stopped")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}"
