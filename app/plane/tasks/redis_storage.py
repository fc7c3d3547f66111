"""Huey's priority Redis storage, made at-least-once: taking a task leases it instead of deleting it.

Every move between the queue, the in-flight set and the schedule is one Lua script, so no crash
between two commands can lose a task. A task id is held from the moment its task is queued or
scheduled until its lease is acked: sending the same id again meanwhile (the relay resending an
outbox row whose delete a crash cut short) adds nothing, so two copies of one task never wait or run
side by side. The hold (``<name>:ids``: task id -> the 8-byte stamp of the member holding it) moves
with the member; a retry puts a new member under the same id, and the old lease's ack leaves that hold.
"""

import contextlib
import logging
import struct
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from huey.storage import PriorityRedisStorage
from redis import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.availability import Availability
from app.plane.tasks.storage import Ack, QueueCounts, TaskTotals, total_fields

log = logging.getLogger(__name__)

# KEYS: queue, inflight, inflight scores, paused, totals, ids, then one stats counter per ack. ARGV: now, lease
# seconds, how many tasks to take (0 only acks), then six per ack: the member to ack, its task id, whether to count
# its outcome ('1'), and the three fields storage.total_fields names. Acking a worker's finished tasks, counting them
# and taking the next ones share a round trip.
TAKE = """
local acks = (#ARGV - 3) / 6
for i = 0, acks - 1 do
  local at = 4 + i * 6
  local member = ARGV[at]
  redis.call('ZREM', KEYS[2], member)
  redis.call('HDEL', KEYS[3], member)
  if ARGV[at + 1] ~= '' and redis.call('HGET', KEYS[6], ARGV[at + 1]) == string.sub(member, 1, 8) then
    redis.call('HDEL', KEYS[6], ARGV[at + 1])
  end
  if ARGV[at + 2] == '1' then
    redis.call('INCR', KEYS[7 + i])
    redis.call('EXPIRE', KEYS[7 + i], 7200)
    redis.call('HINCRBY', KEYS[5], ARGV[at + 3], 1)
    redis.call('HINCRBY', KEYS[5], ARGV[at + 4], ARGV[at + 5])
  end
end
local count = tonumber(ARGV[3])
if count == 0 or redis.call('EXISTS', KEYS[4]) == 1 then return {} end
local items = redis.call('ZPOPMIN', KEYS[1], count)
local taken = {}
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), items[i])
  redis.call('HSET', KEYS[3], items[i], items[i + 1])
  taken[#taken + 1] = items[i]
end
return taken
"""

# KEYS: inflight, inflight scores, queue, wake. ARGV: deadline (or -1 for this member only), member.
RETURN = """
local members
if ARGV[2] ~= '' then
  members = {ARGV[2]}
else
  members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
end
local moved = 0
for _, member in ipairs(members) do
  local score = redis.call('HGET', KEYS[2], member)
  if score and redis.call('ZREM', KEYS[1], member) == 1 then
    redis.call('ZADD', KEYS[3], score, member)
    redis.call('HDEL', KEYS[2], member)
    redis.call('LPUSH', KEYS[4], '1')
    moved = moved + 1
  end
end
redis.call('LTRIM', KEYS[4], 0, 1000)
return moved
"""

# KEYS: schedule, schedule scores, queue, wake. ARGV: now, limit.
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local score = redis.call('HGET', KEYS[2], member) or '0'
  redis.call('ZADD', KEYS[3], score, member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  redis.call('LPUSH', KEYS[4], '1')
end
redis.call('LTRIM', KEYS[4], 0, 1000)
return #due
"""

# KEYS: queue, wake, ids. ARGV: member, score, task id ('' holds nothing). 0 when the id is held already.
ENQUEUE = """
if ARGV[3] ~= '' and redis.call('HSETNX', KEYS[3], ARGV[3], string.sub(ARGV[1], 1, 8)) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('LPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], 0, 1000)
return 1
"""

# KEYS: inflight, inflight scores, ids, paused. ARGV: the lease's deadline, then three per task: member, priority
# score, task id. Each task goes straight to the caller's leases (the worker that dispatched it runs it) unless
# another copy holds its id or the queue is paused: 1 leased, 0 not.
LEASE = """
local leased = {}
local paused = redis.call('EXISTS', KEYS[4]) == 1
for i = 2, #ARGV, 3 do
  local member, id = ARGV[i], ARGV[i + 2]
  if paused or (id ~= '' and redis.call('HSETNX', KEYS[3], id, string.sub(member, 1, 8)) == 0) then
    leased[#leased + 1] = 0
  else
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), member)
    redis.call('HSET', KEYS[2], member, ARGV[i + 1])
    leased[#leased + 1] = 1
  end
end
return leased
"""

# KEYS: schedule, schedule scores, ids. ARGV: member, due, priority score, task id, '1' when the holder itself
# moves there (a retry: its lease is acked afterwards) else ''. 0 when the id is held by another member.
SCHEDULE = """
if ARGV[4] ~= '' then
  if ARGV[5] == '1' then
    redis.call('HSET', KEYS[3], ARGV[4], string.sub(ARGV[1], 1, 8))
  elseif redis.call('HSETNX', KEYS[3], ARGV[4], string.sub(ARGV[1], 1, 8)) == 0 then
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: a queue or schedule, schedule scores, ids. ARGV: member, task id.
REMOVE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if removed == 1 and ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == string.sub(ARGV[1], 1, 8) then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return removed
"""

EXTEND = "return redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[1], ARGV[2])"

# KEYS: pairs of (old key, new key). Moves each old sorted set's members into the new one.
ADOPT = """
local moved = 0
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    moved = moved + redis.call('ZCARD', KEYS[i])
    redis.call('ZUNIONSTORE', KEYS[i + 1], 2, KEYS[i + 1], KEYS[i], 'AGGREGATE', 'MIN')
    redis.call('DEL', KEYS[i])
  end
end
return moved
"""


def _stamp() -> bytes:
    # Huey's priority queue orders equal priorities by this big-endian microsecond prefix: FIFO.
    return struct.pack(">Q", int(time.time() * 1e6))


class LeasedRedisStorage(PriorityRedisStorage):  # type: ignore[misc]
    """Every key starts with ``<name>`` (the configured key prefix and the queue): the queue ``<name>:queue``,
    leases ``<name>:inflight``, delays ``<name>:schedule``, held ids ``<name>:ids``, counters and flags."""

    def __init__(self, name: str, url: str, lease_seconds: float, wake_timeout: float = 1.0, *,
                 connect_timeout: float = 1.0, timeout: float = 1.0, backoff: float = 2.0) -> None:
        # Every command is bounded (a Redis that stops answering fails within ``timeout``) and none is retried
        # by the client: a retry is the outbox's job, and the housekeeper's next pass.
        pool = ConnectionPool.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
        super().__init__(name=name, connection_pool=pool, blocking=True, read_timeout=wake_timeout, clean_name=False)
        # An idle worker's wait for work blocks on the server for ``wake_timeout``: its own, longer, socket timeout
        self._waiter = Redis(connection_pool=ConnectionPool.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=wake_timeout + timeout))
        self.availability = Availability("redis", backoff)
        # Huey names its keys huey.redis.<name> and huey.schedule.<name>: outside the prefix an operator
        # scopes ACLs, key-space listings and clean-ups by. Tasks a version that used those names left there
        # are moved over once.
        self._legacy = {f"huey.redis.{name}": f"{name}:queue", f"huey.schedule.{name}": f"{name}:schedule"}
        self.queue_key: str = f"{name}:queue"
        self.schedule_key: str = f"{name}:schedule"
        self.result_key, self.counter_key, self.notify_prefix = f"{name}:results", f"{name}:counters", f"{name}:notify."
        self._adopt = self.conn.register_script(ADOPT)
        self.adopt_legacy_keys()
        self.lease_seconds = lease_seconds
        self.inflight_key = f"{name}:inflight"
        self.inflight_scores_key = f"{name}:inflight:scores"
        self.schedule_scores_key = f"{name}:schedule:scores"
        self.paused_key = f"{name}:paused"
        self.wake_key = f"{name}:wake"
        self.stats_prefix = f"{name}:stats"
        self.totals_key = f"{name}:totals"  # a hash of all-time counters: see storage.total_fields
        self.ids_key = f"{name}:ids"
        self._take = self.conn.register_script(TAKE)
        self._enqueue = self.conn.register_script(ENQUEUE)
        self._lease = self.conn.register_script(LEASE)
        self._schedule = self.conn.register_script(SCHEDULE)
        self._remove = self.conn.register_script(REMOVE)
        self._return = self.conn.register_script(RETURN)
        self._promote = self.conn.register_script(PROMOTE)
        self._extend = self.conn.register_script(EXTEND)

    @property
    def redis(self) -> Redis:
        return self.conn  # type: ignore[no-any-return]

    # -- producing ---------------------------------------------------------------------------
    def adopt_legacy_keys(self) -> int:
        """Move tasks found under Huey's key names here: at start, and once a minute in the housekeeper while
        processes of an older version (which write there) may still run."""
        try:
            moved = int(self._adopt(keys=[key for pair in self._legacy.items() for key in pair]))
        except (RedisError, OSError) as exc:  # not there yet, or an ACL scoped to the prefix forbids those names
            log.debug("could not look for tasks under Huey's key names: %s", exc)
            return 0
        if moved:
            log.warning("moved %d task(s) from Huey's key names to %s", moved, ", ".join(self._legacy.values()))
        return moved

    @contextlib.contextmanager
    def _producing(self) -> Iterator[None]:
        """A producer's command: skipped at once while Redis is known to be down (the outbox keeps the task)."""
        self.availability.check()
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self.availability.failed(type(exc).__name__)
            raise
        self.availability.succeeded()

    def enqueue(self, data: bytes, priority: int | None = None, task_id: str = "") -> bool:
        """Queue a task; False (nothing added) while ``task_id`` is queued, scheduled or leased already."""
        with self._producing():
            return bool(self._enqueue(keys=[self.queue_key, self.wake_key, self.ids_key],
                                      args=[_stamp() + data, -(priority or 0), task_id]))

    def enqueue_many(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[bool]:
        """Queue several ``(data, priority, task id)`` in one round trip; for each, False when its id was held."""
        if len(tasks) == 1:
            return [self.enqueue(*tasks[0])]
        with self._producing():
            try:
                return self._enqueue_pipelined(tasks)
            except NoScriptError:  # the server lost its scripts (restarted, flushed): load it, once
                self.conn.script_load(ENQUEUE)
                return self._enqueue_pipelined(tasks)

    def _enqueue_pipelined(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[bool]:
        # EVALSHA by hand: a pipeline of Script calls first asks the server whether it has them, a round trip more
        with self.conn.pipeline(transaction=False) as pipe:
            for data, priority, task_id in tasks:
                pipe.evalsha(self._enqueue.sha, 3, self.queue_key, self.wake_key, self.ids_key,
                             _stamp() + data, -(priority or 0), task_id)
            return [bool(added) for added in pipe.execute()]

    def lease_many(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[bytes | None]:
        """Lease ``(data, priority, task id)`` tasks straight to the caller, which runs them itself, in one round trip:
        each one's handle, or None where another copy holds its id or the queue is paused (queue that one)."""
        members = [_stamp() + data for data, _, _ in tasks]
        args: list[Any] = [time.time() + self.lease_seconds]
        for member, (_, priority, task_id) in zip(members, tasks, strict=True):
            args += [member, -(priority or 0), task_id]
        with self._producing():
            leased = self._lease(keys=[self.inflight_key, self.inflight_scores_key, self.ids_key, self.paused_key],
                                 args=args)
        return [member if flag else None for member, flag in zip(members, leased, strict=True)]

    def add_to_schedule(self, data: bytes, ts: datetime, priority: int | None = None, task_id: str = "",
                        moving: bool = False) -> bool:
        """Schedule a task for ``ts``; False while another copy holds ``task_id``. ``moving``: the leased
        task itself is scheduled again (a retry), so its hold moves here."""
        keys = [self.schedule_key, self.schedule_scores_key, self.ids_key]
        args = [_stamp() + data, self.convert_ts(ts), -(priority or 0), task_id, "1" if moving else ""]
        if moving:  # a worker moving its own task: never skipped for a producer's backoff
            return bool(self._schedule(keys=keys, args=args))
        with self._producing():
            return bool(self._schedule(keys=keys, args=args))

    def promote_due(self, now: datetime, limit: int = 1000) -> int:
        keys = [self.schedule_key, self.schedule_scores_key, self.queue_key, self.wake_key]
        return int(self._promote(keys=keys, args=[self.convert_ts(now), limit]))

    def read_schedule(self, ts: datetime) -> list[bytes]:
        raise NotImplementedError("use promote_due(): popping and re-enqueueing separately can lose tasks")

    # -- consuming ---------------------------------------------------------------------------
    def take(self, ack: Ack | None = None) -> tuple[bytes, bytes] | None:
        """Ack ``ack`` and lease the next task: ``(handle, data)``; waits up to the wake timeout when idle."""
        taken = self.take_many([ack] if ack is not None else [], 1)
        return taken[0] if taken else None

    def take_many(self, acks: Sequence[Ack], count: int) -> list[tuple[bytes, bytes]]:
        """Ack ``acks`` and lease up to ``count`` tasks, in one round trip; waits up to the wake timeout when
        none is queued (``count`` 0 only acks)."""
        taken = self._take_now(acks, count)
        if not taken and count and self._waiter.blpop([self.wake_key], timeout=self.read_timeout):
            taken = self._take_now((), count)
        return taken

    def _take_now(self, acks: Sequence[Ack], count: int) -> list[tuple[bytes, bytes]]:
        keys = [self.queue_key, self.inflight_key, self.inflight_scores_key, self.paused_key, self.totals_key,
                self.ids_key]
        args: list[Any] = [time.time(), self.lease_seconds, count]
        for ack in acks:
            keys.append(f"{self.stats_prefix}:{ack.outcome}:{ack.minute}")
            counted = total_fields(ack.outcome, ack.task, ack.seconds) if ack.outcome else ("", "", 0)
            args += [ack.handle, ack.task_id, "1" if ack.outcome else "", *counted]
        return [(member, member[8:]) for member in self._take(keys=keys, args=args)]

    def dequeue(self) -> bytes | None:
        raise NotImplementedError("use take(): a dequeued task must be leased, then acked")

    def extend(self, handle: bytes) -> bool:
        return bool(self._extend(keys=[self.inflight_key], args=[time.time() + self.lease_seconds, handle]))

    def ack(self, handle: bytes, outcome: str | None = None, minute: int = 0, task: str = "",
            seconds: float = 0.0, task_id: str = "") -> None:
        """Drop the lease and the id's hold, counting the outcome (processed | failed) in the same round trip."""
        self._take_now([Ack(handle, outcome, minute, task, seconds, task_id)], 0)

    def release(self, handle: bytes) -> None:
        """Hand a leased task back to the queue now (worker shutting down)."""
        keys = [self.inflight_key, self.inflight_scores_key, self.queue_key, self.wake_key]
        self._return(keys=keys, args=[0, handle])

    def reap(self, now: float | None = None) -> int:
        """Return every task whose lease ran out (its worker died) to the queue."""
        keys = [self.inflight_key, self.inflight_scores_key, self.queue_key, self.wake_key]
        return int(self._return(keys=keys, args=[now if now is not None else time.time(), ""]))

    # -- operating ---------------------------------------------------------------------------
    def pause(self) -> None:
        self.conn.set(self.paused_key, "1")

    def resume(self) -> None:
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.delete(self.paused_key)
            pipe.lpush(self.wake_key, *(["1"] * 64))
            pipe.execute()

    def is_paused(self) -> bool:
        return bool(self.conn.exists(self.paused_key))

    def outcomes(self, outcome: str, minutes: list[int]) -> list[int]:
        values = self.conn.mget([f"{self.stats_prefix}:{outcome}:{minute}" for minute in minutes])
        return [int(value or 0) for value in values]

    def totals(self) -> TaskTotals:
        fields = self.conn.hgetall(self.totals_key)
        return TaskTotals.parse({name.decode(): int(value) for name, value in fields.items()})

    def counts(self) -> QueueCounts:
        with self.conn.pipeline(transaction=False) as pipe:
            for priority in (10, 5, 0):
                pipe.zcount(self.queue_key, -priority, -priority)
            pipe.zcard(self.queue_key)
            pipe.zcard(self.schedule_key)
            pipe.zcard(self.inflight_key)
            high, medium, low, total, scheduled, active = pipe.execute()
        return QueueCounts(pending={"high": high, "medium": medium, "low": low, "other": total - high - medium - low},
                           scheduled=scheduled, active=active, paused=self.is_paused())

    def members(self, state: str, offset: int, limit: int) -> list[tuple[bytes, float]]:
        """``(data, score)`` pages of one state: pending, scheduled or active."""
        key = {"pending": self.queue_key, "scheduled": self.schedule_key, "active": self.inflight_key}[state]
        rows = self.conn.zrange(key, offset, offset + limit - 1, withscores=True)
        return [(member[8:], float(score)) for member, score in rows]

    def remove(self, state: str, task_id_matches: Any, task_id: str = "") -> bool:
        """Delete the first pending or scheduled task whose data satisfies ``task_id_matches``."""
        key = {"pending": self.queue_key, "scheduled": self.schedule_key}[state]
        for member in self.conn.zrange(key, 0, -1):
            if task_id_matches(member[8:]):
                return bool(self._remove(keys=[key, self.schedule_scores_key, self.ids_key], args=[member, task_id]))
        return False

    def flush_all(self) -> None:
        super().flush_all()
        keys = [self.inflight_key, self.inflight_scores_key, self.schedule_scores_key, self.paused_key, self.wake_key,
                self.totals_key, self.ids_key]
        self.conn.delete(*keys)
        stats = list(self.conn.scan_iter(f"{self.stats_prefix}:*"))
        if stats:
            self.conn.delete(*stats)
