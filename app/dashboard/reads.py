"""What each page shows, gathered from the plane, the runner and the schedules; no HTTP here."""

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from app.bootstrap import Container
from app.dashboard import charts, dag_svg, timeline
from app.dashboard.actions import events, recent, tasks
from app.db.models import WorkflowRun
from app.handlers.effects import consumer_effects
from app.plane.tasks.inspect import SCAN_LIMIT, STATES
from app.scheduling.views import schedule_view
from app.workflows import waiting
from app.workflows.catalogue import Applied
from app.workflows.engine import RunStatus
from app.workflows.inflight import standing
from app.workflows.views import run_detail, run_summary, workflow_view

log = logging.getLogger(__name__)
PAGE = 50
SINCE = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
RUN_STATUSES = [status.value for status in RunStatus]


def event_stats(container: Container) -> tuple[dict[str, Any] | None, str | None]:
    """The broker's figures, or a notice saying why there are none (the page still renders)."""
    try:
        stats = events(container).stats()
    except Exception as exc:  # RabbitMQ down, a queue missing: show, don't fail
        log.info("event plane stats unavailable: %s", type(exc).__name__)
        return None, f"the event broker did not answer ({type(exc).__name__}); depths are unknown"
    wanted = container.settings.rabbitmq.management_url and not container.topology.embedded
    if wanted and stats.get("source") != "management":
        return stats, "the RabbitMQ management API did not answer: depths come from passive declares (no rates)"
    return stats, None


def queue_by_priority(container: Container, stats: dict[str, Any]) -> dict[str, int]:
    """Pending tasks per priority: from the storage's counts when it keeps them, else by scanning the queue."""
    if isinstance(stats["pending"], dict):
        return {str(name): int(count) for name, count in stats["pending"].items()}
    pending = tasks(container).list("pending", limit=SCAN_LIMIT).items
    return dict(sorted(Counter(view.priority for view in pending).items()))


def counts(stats: dict[str, Any]) -> dict[str, int]:
    """Tasks per state, whether the storage reports pending as one number or per priority."""
    return {state: sum(stats[state].values()) if isinstance(stats[state], dict) else int(stats[state])
            for state in STATES}


def failing_schedules(container: Container) -> list[dict[str, Any]]:
    views = (schedule_view(schedule, container.scheduling) for schedule in container.schedules.all())
    return [view for view in views if view["last_fire"] and view["last_fire"]["outcome"] == "failed"]


def overview(container: Container) -> dict[str, Any]:
    stats = tasks(container).stats()
    event, notice = event_stats(container)
    return {"stats": stats, "counts": counts(stats),
            "chart": charts.per_minute(stats["processed_per_minute"], stats["failed_per_minute"]),
            "priorities": queue_by_priority(container, stats), "events": event, "events_notice": notice,
            "failing": failing_schedules(container), "actions": recent(container)}


def task_page(container: Container, state: str, task: str | None, offset: int) -> dict[str, Any]:
    inspector = tasks(container)
    page = inspector.list(state, offset=offset, limit=PAGE, task=task or None)
    stats = inspector.stats()
    return {"states": STATES, "state": state, "task": task or "", "offset": offset, "limit": PAGE,
            "total": page.total, "items": page.items, "stats": stats, "counts": counts(stats),
            "names": container.registry.names()}


def runs_page(container: Container, workflow: str, status: str, since: str, offset: int) -> dict[str, Any]:
    query = select(WorkflowRun)
    if workflow:
        query = query.where(WorkflowRun.workflow == workflow)
    if status:
        query = query.where(WorkflowRun.status == status)
    if since in SINCE:
        query = query.where(col(WorkflowRun.created_at) >= datetime.now(UTC) - SINCE[since])
    with Session(container.engine) as db:
        total = db.exec(select(func.count()).select_from(query.subquery())).one()
        rows = db.exec(query.order_by(col(WorkflowRun.created_at).desc(), col(WorkflowRun.id).desc())
                       .offset(offset).limit(PAGE)).all()
    return {"runs": [run_summary(run) for run in rows], "total": total, "offset": offset, "limit": PAGE,
            "workflow": workflow, "status": status, "since": since, "statuses": RUN_STATUSES,
            "periods": list(SINCE), "workflows": container.workflows.names()}


def run_page(container: Container, run_id: str) -> dict[str, Any] | None:
    detail = run_detail(container.engine, run_id, container.runner.definition)
    if detail is None:
        return None
    now = container.clock.now()  # the time waits count to (tests move it)
    statuses = {step["id"]: step["status"] for step in detail["steps"]}
    parked = {step["id"]: waiting.describe(step["waiting"], now) for step in detail["steps"] if step["waiting"]}
    try:
        with Session(container.engine) as db:
            workflow = container.runner.definition(db, detail["version"])
        boxes = {step["id"]: (waiting.short(step["waiting"]), parked[step["id"]])
                 for step in detail["steps"] if step["waiting"]}
        dag: dag_svg.Dag | None = dag_svg.layout(workflow, statuses, boxes)
    except LookupError:
        dag = None
    return {"run": detail, "dag": dag, "timeline": timeline.lay_out(detail["steps"], now, parked), "parked": parked}


def workflows_page(container: Container) -> dict[str, Any]:
    rejected = container.workflows.rejected()
    applied = container.workflows.applied()
    serving = container.workflows.all()
    files = {workflow.path for workflow in serving}
    return {"workflows": [{**workflow_view(workflow, rejected.get(workflow.path)), "dag": dag_svg.layout(workflow),
                           "applied_edit": _applied(container, applied.get(workflow.path))}
                          for workflow in serving],
            "rejected_new": {file: [str(problem) for problem in entry.problems]
                             for file, entry in rejected.items() if file not in files}}


def _applied(container: Container, edit: Applied | None) -> dict[str, Any] | None:
    """The last edit applied to a workflow's file: what it changed, and where the runs pinned to the version it
    replaced stand (they finish on it)."""
    if edit is None:
        return None
    try:
        in_flight = standing(container.engine, edit.old)
    except Exception:  # the page shows the edit without them rather than failing
        in_flight = None
    return {"old": edit.old, "new": edit.new, "summary": list(edit.summary),
            "at": datetime.fromtimestamp(edit.at, UTC).isoformat(timespec="seconds"), "in_flight": in_flight}


def events_page(container: Container) -> dict[str, Any]:
    stats, notice = event_stats(container)
    topology = container.topology
    figures = (stats or {}).get("consumers", {})
    queues = [{"consumer": name, "main": q.main.name, "retry": q.retry.name, "dead": q.dead.name,
               "bindings": [_binding(topology.exchange.type, binding) for binding in (q.main.bindings or [])],
               "figures": figures.get(name)} for name, q in topology.consumers.items()]
    applied = consumer_effects(container.engine, list(topology.consumers), now=container.clock.now())
    return {"stats": stats, "notice": notice, "queues": queues, "embedded": topology.embedded, "applied": applied,
            "exchanges": [(topology.exchange.name, topology.exchange.type, "events"),
                          (topology.dead_exchange.name, topology.dead_exchange.type, "dead letters")]}


def _binding(exchange_type: str, binding: Any) -> str:
    if exchange_type == "headers":
        return f"headers {dict(binding.arguments or {})}"
    return f"key {binding.routing_key!r}" if exchange_type != "fanout" else "every event"


def schedules_page(container: Container) -> dict[str, Any]:
    return {"schedules": [schedule_view(schedule, container.scheduling) for schedule in container.schedules.all()],
            "rejected": {file: [str(problem) for problem in entry.problems]
                         for file, entry in container.schedules.rejected().items()}}


def schedule_page(container: Container, name: str) -> dict[str, Any]:
    schedule = container.schedules.get(name)
    return {"schedule": schedule_view(schedule, container.scheduling),
            "history": container.scheduling.history(schedule.name, 50)}
