"""A run and its steps as plain records, read and written with Core statements. Every outcome a worker
reports loads one run and writes a few of its rows: the ORM's identity map and unit of work cost more
than those statements do, so the runner keeps to these. The ORM models stay the schema's one source."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Executable, Table, and_, bindparam, insert, select, update

from app.db.models import StepRun, WorkflowRun
from app.db.pipeline import Params, fetch_all
from app.workflows.rows import RunRecord, StepRecord

RUNS: Table = WorkflowRun.__table__  # type: ignore[attr-defined]
STEPS: Table = StepRun.__table__  # type: ignore[attr-defined]


RUN_FIELDS = tuple(field.name for field in fields(RunRecord))
STEP_FIELDS = tuple(field.name for field in fields(StepRecord))
_RUN_CHANGES = ("status", "error", "updated_at", "finished_at")  # what the runner ever changes in a run
_STEP_CHANGES = tuple(name for name in STEP_FIELDS if name not in ("run_id", "step_id", "kind", "target"))

_LOCK = (update(RUNS).where(RUNS.c.id == bindparam("run_id")).values(updated_at=bindparam("now"))
         .returning(*(RUNS.c[name] for name in RUN_FIELDS)))
_STEPS = select(*(STEPS.c[name] for name in STEP_FIELDS)).where(STEPS.c.run_id == bindparam("run_id"))
_INSERT_RUN = insert(RUNS).values({name: bindparam(name) for name in RUN_FIELDS})
_INSERT_STEPS = insert(STEPS).values({name: bindparam(name) for name in STEP_FIELDS})
_SAVE_RUN = (update(RUNS).where(RUNS.c.id == bindparam("key_id"))
             .values({name: bindparam(f"v_{name}") for name in _RUN_CHANGES}))
_SAVE_STEP = (update(STEPS).where(and_(STEPS.c.run_id == bindparam("key_run_id"),
                                       STEPS.c.step_id == bindparam("key_step_id")))
              .values({name: bindparam(f"v_{name}") for name in _STEP_CHANGES}))


class Loaded:
    """A locked run, its steps, and what they were when read: saving writes only what changed since."""

    def __init__(self, run: RunRecord, steps: dict[str, StepRecord]) -> None:
        self.run = run
        self.steps = steps
        self._run_was = _values(run, _RUN_CHANGES)
        self._steps_were = {key: _values(step, _STEP_CHANGES) for key, step in steps.items()}

    def save(self, connection: Connection) -> None:
        save_all(connection, [self])

    def _changes(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """This run's row and its step rows that changed since read or saved, as the save statements' values;
        from now on they count as saved."""
        run_values = _values(self.run, _RUN_CHANGES)
        run = {"key_id": self.run.id, **_as_dict(self.run, _RUN_CHANGES, "v_")} if run_values != self._run_was else None
        steps = [{"key_run_id": step.run_id, "key_step_id": step.step_id, **_as_dict(step, _STEP_CHANGES, "v_")}
                 for key, step in self.steps.items() if _values(step, _STEP_CHANGES) != self._steps_were[key]]
        self._run_was = run_values
        self._steps_were = {key: _values(step, _STEP_CHANGES) for key, step in self.steps.items()}
        return run, steps


def save_all(connection: Connection, runs: Iterable[Loaded]) -> None:
    """Write what changed in ``runs``: one statement for the runs and one for the steps (executemany)."""
    for statement, rows in save_statements(runs):
        connection.execute(statement, rows)


def save_statements(runs: Iterable[Loaded]) -> list[tuple[Executable, Params]]:
    """What :func:`save_all` executes, for a caller that sends it with statements of its own."""
    run_rows: list[dict[str, Any]] = []
    step_rows: list[dict[str, Any]] = []
    for loaded in runs:
        run, steps = loaded._changes()
        run_rows += [run] if run else []
        step_rows += steps
    return [(statement, rows[0] if len(rows) == 1 else rows)
            for statement, rows in ((_SAVE_RUN, run_rows), (_SAVE_STEP, step_rows)) if rows]


def lock(connection: Connection, run_id: str, now: datetime) -> Loaded | None:
    """Touch the run's row first (a row lock on PostgreSQL, the write lock on SQLite: outcomes of one run
    are serialised), then read its steps; None when there is no such run. Two statements, not one with a
    join: that one would read the steps from a snapshot taken before it waited for the lock."""
    return lock_all(connection, [run_id], now).get(run_id)


def lock_all(connection: Connection, run_ids: Sequence[str], now: datetime) -> dict[str, Loaded]:
    """Lock and load each of ``run_ids`` as :func:`lock` does, in one round trip with the BEGIN on PostgreSQL;
    runs that do not exist are left out. Locks are taken in the order given: callers that lock several runs
    sort them, so two of them never wait for each other crosswise."""
    statements: list[tuple[Any, dict[str, Any]]] = []
    for run_id in run_ids:
        statements += [(_LOCK, {"run_id": run_id, "now": now}), (_STEPS, {"run_id": run_id})]
    results = fetch_all(connection, statements)
    loaded: dict[str, Loaded] = {}
    for locked, step_rows in zip(results[::2], results[1::2], strict=True):
        if locked:
            steps = {step.step_id: step for step in (StepRecord(*values) for values in step_rows)}
            run = RunRecord(*locked[0])
            loaded[run.id] = Loaded(run, steps)
    return loaded


def insert_statements(run: RunRecord, steps: Mapping[str, StepRecord]) -> list[tuple[Executable, Params]]:
    """A new run and its steps: two statements, for a caller that sends them with statements of its own."""
    return [(_INSERT_RUN, _as_dict(run, RUN_FIELDS)),
            (_INSERT_STEPS, [_as_dict(step, STEP_FIELDS) for step in steps.values()])]


_GETTERS = {names: attrgetter(*names) for names in (_RUN_CHANGES, _STEP_CHANGES)}  # a tuple of them, read in C


def _values(record: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_GETTERS[names](record))


def _as_dict(record: Any, names: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    return {prefix + name: getattr(record, name) for name in names}
