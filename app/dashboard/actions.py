"""What an admin can do from the dashboard: one table, action name -> what it does; each one recorded."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from app.audit import record_action
from app.auth.accounts import Principal
from app.bootstrap import Container
from app.db.models import OperatorAction
from app.plane.events.inspect import EventInspector, inspector_for
from app.plane.tasks.inspect import TaskInspector
from app.scheduling.catalogue import UnknownSchedule
from app.workflows.runner import RunNotFound
from app.workflows.waking import NotWaiting

log = logging.getLogger(__name__)
BULK_LIMIT = 500  # dead tasks retried per click: a bulk action must not hold a request for minutes


class ActionFailed(Exception):
    """The action could not be done; the message says why and is shown to the operator."""


def tasks(container: Container) -> TaskInspector:
    return TaskInspector(container.huey, container.plane, container.engine)


def events(container: Container) -> EventInspector:
    return inspector_for(container.settings, container.topology)


def _task_retry(container: Container, target: str) -> str:
    if not tasks(container).retry(target):
        raise ActionFailed(f"no dead, scheduled or retrying task {target}")
    return "enqueued again"


def _task_delete(container: Container, target: str) -> str:
    if not tasks(container).delete(target):
        raise ActionFailed(f"no dead, pending or scheduled task {target}")
    return "deleted"


def _dead_retry_all(container: Container, _: str) -> str:
    inspector = tasks(container)
    page = inspector.list("dead", limit=BULK_LIMIT)
    retried = sum(1 for view in page.items if inspector.retry(view.id))
    return f"{retried} dead task(s) enqueued again"


def _dead_purge(container: Container, _: str) -> str:
    return f"{tasks(container).purge_dead()} dead task(s) deleted"


def _queue_pause(container: Container, _: str) -> str:
    tasks(container).pause()
    return "workers stop taking tasks"


def _queue_resume(container: Container, _: str) -> str:
    tasks(container).resume()
    return "workers take tasks again"


def _run_retry(container: Container, target: str) -> str:
    try:
        steps = container.runner.retry(target)
    except RunNotFound:
        raise ActionFailed(f"no run {target}") from None
    return f"retried steps: {', '.join(steps) or 'none'}"


def _step_wake(container: Container, target: str) -> str:
    run_id, _, step_id = target.partition("/")
    if not run_id or not step_id:
        raise ActionFailed(f"expected RUN/STEP, got {target!r}")
    try:
        output = container.waits.wake(run_id, step_id)
    except RunNotFound:
        raise ActionFailed(f"no run {run_id}") from None
    except NotWaiting as exc:
        raise ActionFailed(str(exc)) from None
    return f"woken: {json.dumps(output)}"


def _consumer(container: Container, name: str) -> str:
    if name not in container.topology.consumers:
        raise ActionFailed(f"no consumer {name}")
    return name


def _broker(action: Callable[[], int]) -> int:
    try:
        return action()
    except (OSError, ConnectionError) as exc:
        raise ActionFailed(f"the event broker is unreachable ({type(exc).__name__})") from None


def _events_requeue(container: Container, target: str) -> str:
    consumer = _consumer(container, target)
    return f"{_broker(lambda: events(container).requeue_dead(consumer))} dead letter(s) requeued"


def _events_purge(container: Container, target: str) -> str:
    consumer = _consumer(container, target)
    return f"{_broker(lambda: events(container).purge_dead(consumer))} dead letter(s) purged"


def _schedule(container: Container, name: str) -> str:
    try:
        return container.schedules.get(name).name
    except UnknownSchedule:
        raise ActionFailed(f"no schedule {name}") from None


def _schedule_trigger(container: Container, target: str) -> str:
    fire = container.scheduling.fire(container.schedules.get(_schedule(container, target)), datetime.now(UTC),
                                     "manual")
    if fire is None:
        raise ActionFailed("this instant was fired already; try again")
    return f"{fire.outcome} {fire.dispatched_id or fire.detail or ''}".strip()


def _schedule_pause(container: Container, target: str) -> str:
    container.scheduling.set_paused(_schedule(container, target), True)
    return "paused"


def _schedule_resume(container: Container, target: str) -> str:
    container.scheduling.set_paused(_schedule(container, target), False)
    return "resumed"


Action = Callable[[Container, str], str]
ACTIONS: dict[str, Action] = {
    "task.retry": _task_retry,
    "task.delete": _task_delete,
    "tasks.retry_dead": _dead_retry_all,
    "tasks.purge_dead": _dead_purge,
    "queue.pause": _queue_pause,
    "queue.resume": _queue_resume,
    "run.retry": _run_retry,
    "step.wake": _step_wake,
    "consumer.requeue_dead": _events_requeue,
    "consumer.purge_dead": _events_purge,
    "schedule.trigger": _schedule_trigger,
    "schedule.pause": _schedule_pause,
    "schedule.resume": _schedule_resume,
}


@dataclass(frozen=True)
class Done:
    ok: bool
    detail: str


def perform(container: Container, principal: Principal, name: str, target: str) -> Done:
    """Do ``name`` on ``target`` and record it with who asked, whether it worked or not."""
    try:
        done = Done(True, ACTIONS[name](container, target))
    except ActionFailed as exc:
        done = Done(False, str(exc))
    except Exception as exc:  # recorded and shown; the traceback goes to the log only
        log.exception("dashboard action %s on %r failed", name, target)
        done = Done(False, f"unexpected error ({type(exc).__name__})")
    user = principal.user
    record_action(container.engine, user_id=user.id, email=user.email, action=name, target=target, ok=done.ok,
                  detail=done.detail)
    log.info("dashboard action %s on %r by %s: %s", name, target, user.email, "ok" if done.ok else "failed")
    return done


def recent(container: Container, limit: int = 20) -> list[OperatorAction]:
    with Session(container.engine) as db:
        return list(db.exec(select(OperatorAction).order_by(col(OperatorAction.at).desc(),
                                                            col(OperatorAction.id).desc()).limit(limit)).all())
