"""The composition root: entry points call :func:`build` once with their settings."""

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from app.auth.passwords import Passwords
from app.clock import Clock, clock_from
from app.config import Settings
from app.db import migrate
from app.db.engine import make_engine
from app.domain.events import EVENTS, EventCatalogue
from app.files import private_dir, private_file
from app.handlers import Services
from app.handlers.catalogue import CONSUMERS, TASKS
from app.handlers.crm import FakeCrm
from app.mail import make_mailer
from app.metrics import FlowplaneCollector, make_collector
from app.plane.events.publisher import EventPublisher
from app.plane.events.registry import ConsumerSpec
from app.plane.events.topology import Topology, build_topology, transport_url
from app.plane.plane import Plane
from app.plane.tasks import dead
from app.plane.tasks.huey_plane import PlaneHuey
from app.plane.tasks.inspect import TaskInspector
from app.plane.tasks.redis_storage import LeasedRedisStorage
from app.plane.tasks.registry import TaskRegistry, TaskSpec
from app.plane.tasks.sqlite_storage import LeasedSqliteStorage
from app.plane.tasks.storage import LeasedStorage
from app.redaction import redact_url
from app.scheduling.catalogue import ScheduleCatalogue
from app.scheduling.service import ScheduleService
from app.workflows.catalogue import WorkflowCatalogue
from app.workflows.inflight import standing
from app.workflows.runner import WorkflowRunner
from app.workflows.waking import Waits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    passwords: Passwords
    registry: TaskRegistry
    huey: PlaneHuey
    plane: Plane
    topology: Topology
    publisher: EventPublisher
    consumers: list[ConsumerSpec]
    workflows: WorkflowCatalogue
    runner: WorkflowRunner
    waits: Waits
    schedules: ScheduleCatalogue
    scheduling: ScheduleService
    metrics: FlowplaneCollector
    clock: Clock

    @property
    def new_session(self) -> Callable[[], Session]:
        return lambda: Session(self.engine, expire_on_commit=False)

    def watch_definitions(self, *, workflows: bool = True, schedules: bool = True) -> None:
        """For the long-running processes: workflow and schedule edits are read and reported within about
        the reload interval, whether or not anything uses them meanwhile."""
        if workflows:
            self.workflows.watch()
        if schedules:
            self.schedules.watch()

    def close(self) -> None:
        self.workflows.stop_watching()
        self.schedules.stop_watching()
        self.plane.close()
        self.publisher.close()
        self.huey.leased.close()
        self.engine.dispose()
        self.metrics.engine.dispose()


def task_registry(settings: Settings) -> TaskRegistry:
    specs: list[TaskSpec] = list(TASKS)
    for module in settings.tasks.modules:
        specs.extend(importlib.import_module(module).TASKS)
    return TaskRegistry(specs)


def event_declarations(settings: Settings) -> tuple[EventCatalogue, list[ConsumerSpec]]:
    events, consumers = list(EVENTS), list(CONSUMERS)
    for name in settings.events.modules:
        module = importlib.import_module(name)
        events.extend(getattr(module, "EVENTS", []))
        consumers.extend(getattr(module, "CONSUMERS", []))
    return EventCatalogue(events), consumers


def task_storage(settings: Settings) -> LeasedStorage:
    """Huey on Redis when ``redis.url`` is set, else Huey on the embedded SQLite file."""
    lease = settings.tasks.lease.total_seconds()
    if settings.redis.url:
        redis = settings.redis
        return LeasedRedisStorage(f"{redis.key_prefix}{settings.tasks.queue}", redis.url, lease,
                                  connect_timeout=redis.connect_timeout.total_seconds(),
                                  timeout=redis.timeout.total_seconds(), backoff=redis.backoff.total_seconds())
    path = Path(settings.tasks.sqlite_path)
    private_file(path)
    return LeasedSqliteStorage(settings.tasks.queue, str(path), lease)


def make_local_files(settings: Settings) -> None:
    """The files and directories the embedded parts write, made private before anything else creates them."""
    if not settings.rabbitmq.url:
        private_file(Path(settings.rabbitmq.embedded_path))
    if settings.events.enabled:
        private_file(Path(settings.events.crm_fake_path))  # the crm consumer's stand-in CRM store
    if settings.email.backend == "file":
        private_dir(Path(settings.email.mail_dir))
    private_dir(Path(settings.scheduler.reports_dir))


def build(settings: Settings, *, migrate_database: bool | None = None, clock: Clock | None = None) -> Container:
    """Wire the application; migrate the database first when settings (or the caller) ask for it."""
    clock = clock or clock_from(os.environ)
    engine = make_engine(settings.database)
    make_local_files(settings)
    if settings.database.auto_migrate if migrate_database is None else migrate_database:
        log.info("applying database migrations to %s", redact_url(settings.database.url))
        migrating = make_engine(settings.database, query_timeout=0)  # DDL may take long; nothing waits on it
        try:
            migrate.upgrade(migrating)
        finally:
            migrating.dispose()
    registry = task_registry(settings)

    huey = PlaneHuey(task_storage(settings), registry, services=lambda: services(settings),
                     on_dead=lambda failure: dead.record(huey.services.get().engine, failure),
                     batch=settings.tasks.batch)
    catalogue, consumers = event_declarations(settings)
    topology = build_topology(settings, [spec.binding for spec in consumers])
    rabbitmq = settings.rabbitmq
    publisher = EventPublisher(transport_url(settings), topology, retries=settings.events.publish_retries,
                               connect_timeout=rabbitmq.connect_timeout.total_seconds(),
                               timeout=rabbitmq.timeout.total_seconds(), backoff=rabbitmq.backoff.total_seconds())
    plane = Plane(engine, registry, huey.send, settings.tasks.queue, catalogue=catalogue,
                  send_event=lambda event, options: publisher.publish(event, headers=options.get("headers"),
                                                                      priority=options.get("priority", 0)),
                  send_events=publisher.publish_batch, events_enabled=settings.events.enabled,
                  send_tasks=huey.send_many)
    workflows = WorkflowCatalogue(Path(settings.workflows.directory), tasks=registry.names,
                                  events=catalogue.fields,
                                  reload_interval=settings.workflows.reload_interval.total_seconds(),
                                  runs_on=lambda version: standing(engine, version))
    inspector = TaskInspector(huey, plane, engine)
    runner = WorkflowRunner(engine, plane, workflows, lease=settings.workflows.lease,
                            tasks_held=inspector.holding, clock=clock)
    waits = Waits(runner)
    plane.on_publish.append(waits.on_published)
    huey.steps = runner
    huey.at_process_stop.append(plane.close)
    schedules = ScheduleCatalogue(Path(settings.scheduler.directory), tasks=registry.names, workflows=workflows.names,
                                  default_timezone=settings.scheduler.timezone,
                                  reload_interval=settings.scheduler.reload_interval.total_seconds())
    scheduling = ScheduleService(engine, plane, runner, task_unfinished=lambda task_id: _unfinished(inspector, task_id),
                                 task_cancel=inspector.delete)
    return Container(settings=settings, engine=engine, passwords=Passwords(settings.auth), registry=registry,
                     huey=huey, plane=plane, topology=topology, publisher=publisher, consumers=consumers,
                     workflows=workflows, runner=runner, waits=waits, schedules=schedules, scheduling=scheduling,
                     metrics=make_collector(settings, huey.leased, topology, registry.names()), clock=clock)


def _unfinished(inspector: TaskInspector, task_id: str) -> bool:
    view = inspector.get(task_id)
    return view is not None and view.state != "dead"


def services(settings: Settings) -> Services:
    """What handlers use; built once in each worker or consumer process, after any fork."""
    engine = make_engine(settings.database, query_timeout=settings.database.handler_query_timeout.total_seconds())
    return Services(settings=settings, engine=engine, mailer=make_mailer(settings.email),
                    crm=FakeCrm(settings.events.crm_fake_path), clock=clock_from(os.environ))
