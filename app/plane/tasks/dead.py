"""Dead letters live in the database: kept with payload, error, traceback and attempts until an
operator retries, deletes or purges them, or the retention ends."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from app.db.models import DeadLetter
from app.plane.envelope import Envelope
from app.plane.plane import Plane
from app.plane.tasks.handling import Failure
from app.plane.tasks.policy import TaskOptions


def record(engine: Engine, failure: Failure) -> None:
    letter = DeadLetter(
        id=failure.envelope.id, queue=failure.options.queue, task=failure.envelope.type,
        envelope=failure.envelope.to_json(), options=failure.options.to_json(), error=failure.error[:10_000],
        traceback=failure.traceback[-50_000:], attempts=failure.attempts,
        first_enqueued_at=failure.envelope.created_at, failed_at=datetime.now(UTC),
    )
    with Session(engine) as session, session.begin():
        session.merge(letter)  # a redelivered final failure overwrites, never duplicates


def page(engine: Engine, *, task: str | None = None, offset: int = 0, limit: int = 50) -> tuple[int, list[DeadLetter]]:
    with Session(engine) as session:
        query = select(DeadLetter)
        total = select(func.count()).select_from(DeadLetter)
        if task:
            query, total = query.where(col(DeadLetter.task) == task), total.where(col(DeadLetter.task) == task)
        rows = session.execute(query.order_by(col(DeadLetter.failed_at).desc()).offset(offset).limit(limit))
        return int(session.execute(total).scalar_one()), list(rows.scalars())


def get(engine: Engine, task_id: str) -> DeadLetter | None:
    with Session(engine) as session:
        return session.get(DeadLetter, task_id)


def retry(engine: Engine, plane: Plane, task_id: str) -> bool:
    """Enqueue a fresh attempt (same task id, full retry budget) and drop the dead letter, atomically."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        letter = session.get(DeadLetter, task_id)
        if letter is None:
            return False
        envelope = Envelope.from_json(letter.envelope)
        options = TaskOptions.from_json(letter.options)
        session.delete(letter)
        plane.resend(session, replace(envelope, attempt=1), replace(options, eta=None))
    return True


def remove(engine: Engine, task_id: str) -> bool:
    with engine.begin() as connection:
        return bool(connection.execute(delete(DeadLetter).where(col(DeadLetter.id) == task_id)).rowcount)


def purge(engine: Engine, *, older_than: timedelta | None = None) -> int:
    statement = delete(DeadLetter)
    if older_than is not None:
        statement = statement.where(col(DeadLetter.failed_at) < datetime.now(UTC) - older_than)
    with engine.begin() as connection:
        return int(connection.execute(statement).rowcount)
