"""What /metrics reads, at scrape time, from the state every Flowplane process shares: the task queue's
storage (depths; all-time outcome and duration totals the workers write with each ack), the database (runs,
steps, dead letters, outbox, consumers' records, schedule fires) and the event broker. Nothing is counted in
the memory of the process that serves them: the api answers for every worker.

The sources come in three lanes (see :mod:`app.metrics.scrape`): the task queue, the database (read on an
engine of its own, :func:`reading_engine`) and the broker. A source that fails is posted as None: its series
are dropped and ``flowplane_metrics_source_up{source}`` reads 0 instead of the scrape failing."""

import logging
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.engine import make_url
from sqlmodel import col

from app.config import DatabaseSettings
from app.db.engine import make_engine
from app.db.models import (
    ConsumedMessage,
    DeadLetter,
    EventCount,
    OutboxMessage,
    ScheduleFire,
    StepRun,
    WorkflowRun,
)
from app.metrics.scrape import Lane, Post
from app.plane.tasks.storage import BUCKET_LABELS, LeasedStorage

log = logging.getLogger(__name__)


def _attempt(source: str, read: Callable[[], list[Metric]]) -> list[Metric] | None:
    try:
        return read()
    except Exception as exc:  # any failure only costs this source its series
        log.warning("metrics: %s unavailable: %s: %s", source, type(exc).__name__, exc)
        return None


def task_lane(storage: LeasedStorage, queue: str, names: list[str]) -> Lane:
    return Lane("task_queue", ("task_queue",),
                lambda post: post("task_queue", _attempt("task_queue", partial(_tasks, storage, queue, names))))


def database_lane(engine: Engine) -> Lane:
    """One connection for every table; a query that fails (a table not migrated yet) drops its source only."""

    def read(post: Post) -> None:
        with engine.connect() as connection:
            # Autocommit: on PostgreSQL a failed query would otherwise abort the ones after it.
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            for source, query in _QUERIES.items():
                post(source, _attempt(source, partial(query, connection)))

    return Lane("database", tuple(_QUERIES), read)


def broker_lane(stats: Callable[[], Mapping[str, Any]]) -> Lane:
    return Lane("event_broker", ("event_broker",),
                lambda post: post("event_broker", _attempt("event_broker", partial(_events, stats))))


def reading_engine(settings: DatabaseSettings, timeout: float) -> Engine:
    """The metrics' own engine, apart from the API's pool: one connection, no overflow, waited for ``timeout`` at
    most. On PostgreSQL the server cancels a statement after ``timeout`` (a lock must not hold the read), and the
    session is named ``flowplane-metrics/<pid>`` in pg_stat_activity."""
    url = make_url(settings.url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return make_engine(settings)  # a database private to each connection: nothing shared to bound
    if url.get_backend_name() == "sqlite":
        return make_engine(settings, pool_size=1, max_overflow=0, pool_timeout=timeout)
    # The server's cancel answers before the client's own deadline (for a server that stopped answering), so a
    # cancelled read keeps its connection and the engine is not marked down.
    engine = make_engine(settings, query_timeout=timeout + 1, pool_size=1, max_overflow=0, pool_timeout=timeout)
    statement_timeout = f"{math.ceil(timeout * 1000)}ms"

    @event.listens_for(engine, "connect")
    def _name_and_bound(connection: Any, _record: Any) -> None:
        with connection.cursor() as cursor:  # the pid at connect: after any fork
            cursor.execute("SELECT set_config('application_name', %s, false), set_config('statement_timeout', %s, "
                           "false)", (f"flowplane-metrics/{os.getpid()}", statement_timeout))
        connection.commit()

    return engine


# -- the task queue ------------------------------------------------------------------------------
def _tasks(storage: LeasedStorage, queue: str, names: list[str]) -> list[Metric]:
    counts, totals = storage.counts(), storage.totals()
    queued = GaugeMetricFamily("flowplane_tasks_queued", "Tasks in the queue by state: pending (waiting for a "
                               "worker), scheduled (delayed, or waiting to retry), active (leased by a worker)",
                               labels=["queue", "state"])
    queued.add_metric([queue, "pending"], sum(counts.pending.values()))
    queued.add_metric([queue, "scheduled"], counts.scheduled)
    queued.add_metric([queue, "active"], counts.active)
    pending = GaugeMetricFamily("flowplane_tasks_pending", "Pending tasks by priority", labels=["queue", "priority"])
    for priority, count in counts.pending.items():
        pending.add_metric([queue, priority], count)
    paused = GaugeMetricFamily("flowplane_task_queue_paused", "1 while workers are told to take no tasks",
                               labels=["queue"])
    paused.add_metric([queue], int(counts.paused))
    processed = CounterMetricFamily("flowplane_tasks_processed", "Task attempts that succeeded, counted by the "
                                    "workers with each ack", labels=["queue", "task"])
    failed = CounterMetricFamily("flowplane_tasks_failed", "Task attempts that failed (an error or a timeout; "
                                 "every attempt that is retried counts)", labels=["queue", "task"])
    duration = HistogramMetricFamily("flowplane_task_duration_seconds", "Time from a worker starting a task "
                                     "attempt to its outcome (the handler and the workflow step's bookkeeping)",
                                     labels=["queue", "task"])
    for task in sorted({*names, *totals.buckets, *(task for task, _ in totals.outcomes)}):
        processed.add_metric([queue, task], totals.outcomes.get((task, "processed"), 0))
        failed.add_metric([queue, task], totals.outcomes.get((task, "failed"), 0))
        own = totals.buckets.get(task, {})
        cumulative, buckets = 0, []
        for le in BUCKET_LABELS:  # the storage counts each bucket alone; Prometheus' buckets are cumulative
            cumulative += own.get(le, 0)
            buckets.append((le, float(cumulative)))
        duration.add_metric([queue, task], buckets, sum_value=totals.sums.get(task, 0.0))
    return [queued, pending, paused, processed, failed, duration]


# -- the database --------------------------------------------------------------------------------
def _workflows(db: Connection) -> list[Metric]:
    runs = GaugeMetricFamily("flowplane_workflow_runs", "Workflow runs by status (finished ones until "
                             "retention.finished_runs deletes them)", labels=["workflow", "status"])
    for workflow, status, count in db.execute(select(col(WorkflowRun.workflow), col(WorkflowRun.status), func.count())
                                              .group_by(col(WorkflowRun.workflow), col(WorkflowRun.status))):
        runs.add_metric([workflow, status], count)
    steps = GaugeMetricFamily("flowplane_workflow_steps", "Steps of the runs above by status",
                              labels=["workflow", "step", "status"])
    query = (select(col(WorkflowRun.workflow), col(StepRun.step_id), col(StepRun.status), func.count())
             .join(WorkflowRun, col(WorkflowRun.id) == col(StepRun.run_id))
             .group_by(col(WorkflowRun.workflow), col(StepRun.step_id), col(StepRun.status)))
    for workflow, step, status, count in db.execute(query):
        steps.add_metric([workflow, step, status], count)
    return [runs, steps]


def _dead_letters(db: Connection) -> list[Metric]:
    dead = GaugeMetricFamily("flowplane_tasks_dead", "Dead letters kept (until tasks.dead_letter_retention)",
                             labels=["queue", "task"])
    for queue, task, count in db.execute(select(col(DeadLetter.queue), col(DeadLetter.task), func.count())
                                         .group_by(col(DeadLetter.queue), col(DeadLetter.task))):
        dead.add_metric([queue, task], count)
    return [dead]


def _outbox(db: Connection) -> list[Metric]:
    pending = GaugeMetricFamily("flowplane_outbox_pending", "Tasks and events committed but not yet handed to "
                                "Redis or the broker", labels=["kind"])
    oldest = GaugeMetricFamily("flowplane_outbox_oldest_age_seconds", "Age of the oldest of them: grows while the "
                               "relay cannot send", labels=["kind"])
    now = datetime.now(UTC)
    rows = {kind: (count, first) for kind, count, first in db.execute(
        select(col(OutboxMessage.kind), func.count(), func.min(col(OutboxMessage.created_at)))
        .group_by(col(OutboxMessage.kind)))}
    for kind in sorted({"task", "event", *rows}):
        count, first = rows.get(kind, (0, None))
        pending.add_metric([kind], count)
        oldest.add_metric([kind], (now - first).total_seconds() if first is not None else 0.0)
    return [pending, oldest]


def _event_records(db: Connection) -> list[Metric]:
    consumed = GaugeMetricFamily("flowplane_events_consumed", "Events each consumer applied and still keeps a "
                                 "dedupe record of (retention.consumed_messages deletes older ones: not a counter)",
                                 labels=["consumer"])
    for consumer, count in db.execute(select(col(ConsumedMessage.consumer), func.count())
                                      .group_by(col(ConsumedMessage.consumer))):
        consumed.add_metric([consumer], count)
    counted = CounterMetricFamily("flowplane_events_counted", "Events by type as the analytics consumer counted "
                                  "them (event_counts): every published event once analytics applied it, so it lags "
                                  "publishing and stands still while analytics is not running",
                                  labels=["event_type"])
    for event_type, total in db.execute(select(col(EventCount.event_type), func.sum(col(EventCount.count)))
                                        .group_by(col(EventCount.event_type))):
        counted.add_metric([event_type], total or 0)
    return [consumed, counted]


def _schedules(db: Connection) -> list[Metric]:
    fires = GaugeMetricFamily("flowplane_schedule_fires", "Fire records by schedule and outcome (retention."
                              "schedule_history deletes older ones: not a counter)", labels=["schedule", "outcome"])
    last = GaugeMetricFamily("flowplane_schedule_last_fire_timestamp_seconds", "When the schedule last fired, "
                             "whatever the outcome (Unix time)", labels=["schedule"])
    latest: dict[str, datetime] = {}
    for schedule, outcome, count, fired in db.execute(
            select(col(ScheduleFire.schedule), col(ScheduleFire.outcome), func.count(),
                   func.max(col(ScheduleFire.fired_at)))
            .group_by(col(ScheduleFire.schedule), col(ScheduleFire.outcome))):
        fires.add_metric([schedule, outcome], count)
        latest[schedule] = max(fired, latest.get(schedule, fired))
    for schedule, fired in sorted(latest.items()):
        last.add_metric([schedule], fired.timestamp())
    return [fires, last]


_QUERIES = {"workflows": _workflows, "dead_letters": _dead_letters, "outbox": _outbox,
            "event_records": _event_records, "schedules": _schedules}


# -- the event broker ----------------------------------------------------------------------------
def _events(stats: Callable[[], Mapping[str, Any]]) -> list[Metric]:
    messages = GaugeMetricFamily("flowplane_event_queue_messages", "Messages in each consumer's queues: ready, "
                                 "unacked (delivered, not yet acked; known from the management API only), retrying "
                                 "(waiting in its retry queue), dead", labels=["consumer", "state"])
    consumers = GaugeMetricFamily("flowplane_event_consumers", "Consumers attached to each consumer's queue",
                                  labels=["consumer"])
    for name, queue in sorted(stats()["consumers"].items()):
        for state in ("ready", "unacked", "retrying", "dead"):
            if queue.get(state) is not None:
                messages.add_metric([name, state], queue[state])
        if queue["consumers"] is not None:  # unknown on the embedded transport: no sample rather than a 0
            consumers.add_metric([name], queue["consumers"])
    return [messages, consumers]
