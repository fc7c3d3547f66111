"""Where the runs still in flight on one version of a workflow stand: the steps they are at, and the waits they
are parked in, counted. Each finishes on that version whatever the file says now (its runs are pinned to it).
At most LIMIT step rows are read: beyond that the counts are a lower bound, and say so."""

from collections import Counter

from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from app.db.models import StepRun, WorkflowRun, WorkflowVersion
from app.workflows.engine import IN_FLIGHT, StepStatus

LIMIT = 100_000


def standing(engine: Engine, version: str, limit: int = LIMIT) -> list[tuple[str, int]]:
    """(where, how many runs) for the running runs of ``version``, most first; a last ("(more not counted)", 0)
    when there were more than ``limit`` step rows to read."""
    parked = and_(col(StepRun.status) == StepStatus.WAITING.value,
                  or_(col(StepRun.due_at).is_not(None), col(StepRun.awaiting).is_not(None)))
    query = (select(StepRun.run_id, StepRun.step_id, StepRun.status, StepRun.awaiting)
             .join(WorkflowRun, col(WorkflowRun.id) == col(StepRun.run_id))
             .where(col(WorkflowRun.version) == version, col(WorkflowRun.status) == "running",
                    or_(col(StepRun.status).in_([status.value for status in IN_FLIGHT]), parked))
             .limit(limit + 1))
    places: dict[str, list[str]] = {}
    with Session(engine) as db:
        found = db.exec(query).all()
        for run_id, step_id, status, awaiting in found[:limit]:
            if status == StepStatus.WAITING.value:
                place = f"parked at {step_id} ({'waiting for ' + awaiting if awaiting else 'a timer'})"
            else:
                place = f"at {step_id} ({status})"
            places.setdefault(run_id, []).append(place)
    counted = Counter(" + ".join(sorted(where)) for where in places.values()).most_common()
    return counted + [("(more not counted)", 0)] if len(found) > limit else counted


def stored_version(engine: Engine, prefix: str) -> str | None:
    """The one stored version whose hash starts with ``prefix`` (None when none or several do)."""
    with Session(engine) as db:
        found = db.exec(select(WorkflowVersion.version).where(col(WorkflowVersion.version).startswith(prefix))
                        .limit(2)).all()
    return found[0] if len(found) == 1 else None
