"""Huey's SQLite storage, made at-least-once the same way as the Redis one, for the embedded default.

Every move is one ``BEGIN EXCLUSIVE`` transaction. It holds across processes on one machine (the
file is the queue); it does not serve workers on other machines. A task id is held (``plane_held``)
from queueing until its lease is acked, as on Redis; the hold names the data it belongs to by digest,
since the data is all that travels with a task between the tables.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from sqlite3 import Cursor

from huey.storage import SqliteStorage

from app.plane.tasks.storage import Ack, QueueCounts, TaskTotals, total_fields

EXTRA_DDL = [
    "create table if not exists plane_inflight (id integer primary key, queue text not null, "
    "data blob not null, priority real not null, deadline real not null)",
    "create index if not exists plane_inflight_deadline on plane_inflight (queue, deadline)",
    "create table if not exists plane_delayed (id integer primary key, queue text not null, "
    "data blob not null, priority real not null, due real not null)",
    "create index if not exists plane_delayed_due on plane_delayed (queue, due)",
    "create table if not exists plane_flags (queue text not null, name text not null, primary key (queue, name))",
    "create table if not exists plane_stats (queue text not null, outcome text not null, minute integer not null, "
    "count integer not null, primary key (queue, outcome, minute))",
    # all-time counters, named as storage.total_fields names them
    "create table if not exists plane_totals (queue text not null, name text not null, value integer not null, "
    "primary key (queue, name))",
    "create table if not exists plane_held (queue text not null, task_id text not null, holder blob not null, "
    "primary key (queue, task_id))",
]


def _holder(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class LeasedSqliteStorage(SqliteStorage):  # type: ignore[misc]
    def __init__(self, name: str, filename: str, lease_seconds: float) -> None:
        self.ddl = [*SqliteStorage.ddl, *EXTRA_DDL]
        super().__init__(name=name, filename=filename, timeout=30, strict_fifo=False)
        self.lease_seconds = lease_seconds

    def enqueue_many(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[bool]:
        return [self.enqueue(data, priority, task_id) for data, priority, task_id in tasks]

    def lease_many(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[int | None]:
        return [None for _ in tasks]  # queued as usual: one file, no hop to save

    def enqueue(self, data: bytes, priority: int | None = None, task_id: str = "") -> bool:
        with self.db(commit=True) as cursor:
            if not self._hold(cursor, task_id, data, moving=False):
                return False
            cursor.execute("insert into task (queue, data, priority) values (?, ?, ?)",
                           (self.name, self.to_blob(data), priority or 0))
            return True

    def add_to_schedule(self, data: bytes, ts: datetime, priority: int | None = None, task_id: str = "",
                        moving: bool = False) -> bool:
        with self.db(commit=True) as cursor:
            if not self._hold(cursor, task_id, data, moving=moving):
                return False
            cursor.execute("insert into plane_delayed (queue, data, priority, due) values (?, ?, ?, ?)",
                           (self.name, self.to_blob(data), priority or 0, ts.timestamp()))
            return True

    def _hold(self, cursor: Cursor, task_id: str, data: bytes, *, moving: bool) -> bool:
        """Hold ``task_id`` for ``data``; False when another copy holds it (``moving``: this task's own lease
        does, and hands its hold over)."""
        if not task_id:
            return True
        verb = "insert or replace" if moving else "insert or ignore"
        cursor.execute(f"{verb} into plane_held (queue, task_id, holder) values (?, ?, ?)",
                       (self.name, task_id, _holder(data)))
        return bool(cursor.rowcount == 1)

    def _release_hold(self, cursor: Cursor, task_id: str, data: bytes) -> None:
        if task_id:
            cursor.execute("delete from plane_held where queue = ? and task_id = ? and holder = ?",
                           (self.name, task_id, _holder(data)))

    def promote_due(self, now: datetime, limit: int = 1000) -> int:
        with self.db(commit=True) as cursor:
            cursor.execute("select id from plane_delayed where queue = ? and due <= ? order by due, id limit ?",
                           (self.name, now.timestamp(), limit))
            ids = [row[0] for row in cursor.fetchall()]
            for task_id in ids:
                cursor.execute("insert into task (queue, data, priority) select queue, data, priority "
                               "from plane_delayed where id = ?", (task_id,))
                cursor.execute("delete from plane_delayed where id = ?", (task_id,))
            return len(ids)

    def read_schedule(self, ts: datetime) -> list[bytes]:
        raise NotImplementedError("use promote_due(): popping and re-enqueueing separately can lose tasks")

    def take_many(self, acks: Sequence[Ack], count: int) -> list[tuple[int, bytes]]:
        for ack in acks:
            self.ack(*ack)
        taken: list[tuple[int, bytes]] = []
        while len(taken) < count and (leased := self.take()) is not None:
            taken.append(leased)
        return taken

    def take(self, ack: Ack | None = None) -> tuple[int, bytes] | None:
        if ack is not None:
            self.ack(*ack)
        if not self.sql("select 1 from task where queue = ? limit 1", (self.name,), results=True):
            return None
        with self.db(commit=True) as cursor:
            cursor.execute("select 1 from plane_flags where queue = ? and name = 'paused'", (self.name,))
            if cursor.fetchone():
                return None
            cursor.execute("select id, data, priority from task where queue = ? order by priority desc, id limit 1",
                           (self.name,))
            row = cursor.fetchone()
            if row is None:
                return None
            task_id, data, priority = row
            cursor.execute("delete from task where id = ?", (task_id,))
            cursor.execute("insert into plane_inflight (queue, data, priority, deadline) values (?, ?, ?, ?)",
                           (self.name, data, priority, time.time() + self.lease_seconds))
            return int(cursor.lastrowid or 0), bytes(data)

    def dequeue(self) -> bytes | None:
        raise NotImplementedError("use take(): a dequeued task must be leased, then acked")

    def extend(self, handle: int) -> bool:
        with self.db(commit=True) as cursor:
            cursor.execute("update plane_inflight set deadline = ? where id = ?",
                           (time.time() + self.lease_seconds, handle))
            return bool(cursor.rowcount == 1)

    def ack(self, handle: int, outcome: str | None = None, minute: int = 0, task: str = "",
            seconds: float = 0.0, task_id: str = "") -> None:
        """Drop the lease and the id's hold, and count the outcome, in one transaction."""
        with self.db(commit=True) as cursor:
            if task_id:
                cursor.execute("select data from plane_inflight where id = ?", (handle,))
                row = cursor.fetchone()
                if row is not None:
                    self._release_hold(cursor, task_id, bytes(row[0]))
            cursor.execute("delete from plane_inflight where id = ?", (handle,))
            if outcome:
                self._count(cursor, outcome, minute, task, seconds)

    def _return(self, where: str, params: tuple[object, ...]) -> int:
        with self.db(commit=True) as cursor:
            # `where` is one of two literals in this class, never caller input
            cursor.execute(f"select id from plane_inflight where queue = ? and {where}", (self.name, *params))  # noqa: S608
            ids = [row[0] for row in cursor.fetchall()]
            for lease_id in ids:
                cursor.execute("insert into task (queue, data, priority) select queue, data, priority "
                               "from plane_inflight where id = ?", (lease_id,))
                cursor.execute("delete from plane_inflight where id = ?", (lease_id,))
            return len(ids)

    def release(self, handle: int) -> None:
        self._return("id = ?", (handle,))

    def reap(self, now: float | None = None) -> int:
        return self._return("deadline <= ?", (now if now is not None else time.time(),))

    def pause(self) -> None:
        self.sql("insert or ignore into plane_flags (queue, name) values (?, 'paused')", (self.name,), commit=True)

    def resume(self) -> None:
        self.sql("delete from plane_flags where queue = ? and name = 'paused'", (self.name,), commit=True)

    def is_paused(self) -> bool:
        return bool(self.sql("select 1 from plane_flags where queue = ? and name = 'paused'", (self.name,),
                             results=True))

    def _count(self, cursor: Cursor, outcome: str, minute: int, task: str, seconds: float) -> None:
        cursor.execute("insert into plane_stats (queue, outcome, minute, count) values (?, ?, ?, 1) "
                       "on conflict (queue, outcome, minute) do update set count = count + 1",
                       (self.name, outcome, minute))
        cursor.execute("delete from plane_stats where queue = ? and minute < ?", (self.name, minute - 120))
        count_field, sum_field, micros = total_fields(outcome, task, seconds)
        cursor.executemany("insert into plane_totals (queue, name, value) values (?, ?, ?) "
                           "on conflict (queue, name) do update set value = value + excluded.value",
                           [(self.name, count_field, 1), (self.name, sum_field, micros)])

    def outcomes(self, outcome: str, minutes: list[int]) -> list[int]:
        rows = dict(self.sql("select minute, count from plane_stats where queue = ? and outcome = ? "
                             "and minute between ? and ?", (self.name, outcome, min(minutes), max(minutes)),
                             results=True))
        return [int(rows.get(minute, 0)) for minute in minutes]

    def totals(self) -> TaskTotals:
        return TaskTotals.parse(dict(self.sql("select name, value from plane_totals where queue = ?", (self.name,),
                                              results=True)))

    def counts(self) -> QueueCounts:
        pending = dict(self.sql("select priority, count(*) from task where queue = ? group by priority",
                                (self.name,), results=True))
        named = {"high": int(pending.pop(10.0, 0)), "medium": int(pending.pop(5.0, 0)),
                 "low": int(pending.pop(0.0, 0))}
        named["other"] = int(sum(pending.values()))
        scheduled = self.sql("select count(*) from plane_delayed where queue = ?", (self.name,), results=True)[0][0]
        active = self.sql("select count(*) from plane_inflight where queue = ?", (self.name,), results=True)[0][0]
        return QueueCounts(pending=named, scheduled=int(scheduled), active=int(active), paused=self.is_paused())

    def members(self, state: str, offset: int, limit: int) -> list[tuple[bytes, float]]:
        query = {
            "pending": "select data, -priority from task where queue = ? order by priority desc, id limit ? offset ?",
            "scheduled": "select data, due from plane_delayed where queue = ? order by due, id limit ? offset ?",
            "active": "select data, deadline from plane_inflight where queue = ? order by deadline limit ? offset ?",
        }[state]
        return [(bytes(data), float(score)) for data, score in self.sql(query, (self.name, limit, offset),
                                                                         results=True)]

    def remove(self, state: str, task_id_matches: Callable[[bytes], bool], task_id: str = "") -> bool:
        table = {"pending": "task", "scheduled": "plane_delayed"}[state]
        for row_id, data in self.sql(f"select id, data from {table} where queue = ?", (self.name,),  # noqa: S608
                                     results=True):
            if task_id_matches(bytes(data)):
                with self.db(commit=True) as cursor:
                    cursor.execute(f"delete from {table} where id = ?", (row_id,))  # noqa: S608
                    if cursor.rowcount:
                        self._release_hold(cursor, task_id, bytes(data))
                    return bool(cursor.rowcount)
        return False

    def adopt_legacy_keys(self) -> int:
        return 0  # the embedded queue's tables never had other names

    def flush_all(self) -> None:
        super().flush_all()
        for table in ("plane_inflight", "plane_delayed", "plane_flags", "plane_stats", "plane_totals", "plane_held"):
            self.sql(f"delete from {table} where queue = ?", (self.name,), commit=True)  # noqa: S608
