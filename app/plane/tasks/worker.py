"""``flowplane worker``: Huey's process consumer, with lease heartbeats in each worker process and a
scheduler process that also promotes due tasks, reaps expired leases and relays the outbox."""

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from huey.consumer import Consumer, ProcessEnvironment, Scheduler, Worker

from app.plane.tasks.huey_plane import PlaneHuey

log = logging.getLogger(__name__)
EXIT_STUCK = 70  # EX_SOFTWARE: a task stuck past its timeout; the consumer starts another process
SAME_STOP_SECONDS = 2.0  # stop signals this close together are one request (a group kill and a supervisor's)


class LeasedWorker(Worker):  # type: ignore[misc]
    """A worker process that keeps the lease of its running task alive, so a healthy long task is
    never delivered twice, and lets it lapse only when the process dies.

    A task that outlives its timeout by a lease more is stuck where the timeout's interrupt could not reach
    it (swallowed by a handler's ``except Exception``, or a wait that retries): extending its lease would
    hold it for ever. The process then logs where it was stuck, ends the attempt as timed out (retried per
    the task's policy, or a dead letter) and exits; the consumer starts another process."""

    huey: PlaneHuey

    def initialize(self) -> None:
        super().initialize()
        interval = max(0.2, self.huey.leased.lease_seconds / 3)
        threading.Thread(target=self._heartbeat, args=(interval,), name="lease-heartbeat", daemon=True).start()

    def shutdown(self) -> None:
        try:
            self.huey.flush_ack()
        except Exception as exc:  # the lease lapses and the finished task runs once more: never lost
            log.warning("could not ack the last task: %s", exc)
        _run_stop_hooks(self.huey)
        super().shutdown()

    def _heartbeat(self, interval: float) -> None:
        while True:
            if self.stop_flag.is_set():  # the flag's wait returns at once now: pace the beats by hand
                time.sleep(interval)
                stopping = True
            else:
                stopping = self.stop_flag.wait(interval)
            self._exit_if_stuck()
            handles = self.huey.held_leases()
            if not handles:
                if stopping:
                    return
                continue  # a task still running through the shutdown grace keeps its lease
            try:
                for handle in handles:
                    self.huey.leased.extend(handle)
            except Exception as exc:  # the lease may lapse; the task then runs again elsewhere
                log.warning("could not extend a task lease: %s", exc)


    def _exit_if_stuck(self) -> None:
        current = self.huey.current_task
        if current is None:
            return
        task, timed_out_at = current
        late = time.monotonic() - timed_out_at
        if late < self.huey.leased.lease_seconds:
            return
        stack = "".join(traceback.format_stack(sys._current_frames().get(threading.main_thread().ident or 0)))
        log.error("task %s is still running %.0f s after its timeout and ignored the interrupt; this worker "
                  "process ends its attempt and exits. Where it was stuck:\n%s", task.id, late, stack,
                  extra={"task_id": task.id})
        if self.huey.current_task is not current:
            return  # it ended while we looked
        try:
            self.huey.give_up(task, f"TaskTimeout: ignored its interrupt, still running {late:.0f} s after its "
                                    f"timeout of {task.timeout} s", task.timeout + late)
        except Exception:  # the lease lapses and it runs again as the same attempt
            log.warning("could not end the attempt of stuck task %s", task.id, exc_info=True)
        logging.shutdown()  # flushed: os._exit skips it
        os._exit(EXIT_STUCK)


def _run_stop_hooks(huey: PlaneHuey) -> None:
    for hook in huey.at_process_stop:
        try:
            hook()
        except Exception:
            log.warning("a stop hook failed", exc_info=True)


class Housekeeper(Scheduler):  # type: ignore[misc]
    """Once a second: due delayed/retrying tasks to the queue, expired leases back to it, outbox rows
    the fast path missed to Huey, workflow waits whose time has come; once a minute, the chores passed in
    ``periodic``."""

    huey: PlaneHuey
    relay: Callable[[], int] = staticmethod(lambda: 0)
    timers: Callable[[], int] = staticmethod(lambda: 0)
    reconcile: Callable[[], int] = staticmethod(lambda: 0)
    reconcile_interval: float = 15.0
    periodic_chores: tuple[Callable[[], Any], ...] = ()

    def loop(self, now: datetime | None = None) -> None:
        started = time.monotonic()
        storage = self.huey.leased
        for name, chore in (("promote", lambda: storage.promote_due(datetime.now(UTC).replace(tzinfo=None))),
                            ("reap", storage.reap), ("relay", self.relay), ("timers", self.timers)):
            try:
                moved = chore()  # type: ignore[no-untyped-call]
                if moved and name == "reap":
                    log.warning("returned %d task(s) whose worker stopped renewing its lease", moved)
            except Exception as exc:
                log.warning("%s failed: %s: %s", name, type(exc).__name__, exc)
        if time.monotonic() >= getattr(self, "_next_reconcile", 0.0):
            self._next_reconcile = time.monotonic() + self.reconcile_interval
            try:
                if resent := self.reconcile():
                    log.warning("reconciler dispatched %d lost workflow step(s) again", resent)
            except Exception as exc:
                log.warning("reconcile failed: %s: %s", type(exc).__name__, exc)
        if time.monotonic() >= getattr(self, "_next_chores", 0.0):
            self._next_chores = time.monotonic() + 60
            for chore in self.periodic_chores:
                try:
                    chore()
                except Exception as exc:
                    log.warning("periodic chore failed: %s: %s", type(exc).__name__, exc)
        self.sleep_for_interval(started, self.interval)

    def shutdown(self) -> None:
        _run_stop_hooks(self.huey)  # what the reconciler dispatched: its sent rows cleared before exit
        super().shutdown()


class GracefulProcesses(ProcessEnvironment):  # type: ignore[misc]
    """Worker processes that leave SIGINT and SIGTERM to their parent. A signal to the whole process group
    (systemd's default KillMode, Ctrl-C in a terminal, some supervisors) reaches every child too; Huey's
    children take SIGTERM as "interrupt the task now", so in-flight tasks died at once. Here only the
    parent decides: when its grace is over it interrupts the children with SIGUSR1, and kills one that
    still does not stop."""

    def __init__(self) -> None:
        super().__init__(signal.SIGINT, signal.SIGUSR1)

    def init_child(self, process: Any) -> None:
        super().init_child(process)  # SIGINT ignored, SIGUSR1 interrupts the running task, SIGHUP ignored
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def interrupt_workers(self, procs: list[Any]) -> None:
        super().interrupt_workers(procs)  # SIGUSR1, then up to a second for them to hand their task back
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(1)


class PlaneConsumer(Consumer):  # type: ignore[misc]
    worker_class = LeasedWorker

    def get_environment(self, worker_type: str) -> GracefulProcesses:
        return GracefulProcesses()

    def __init__(self, huey: PlaneHuey, *, concurrency: int, grace: timedelta, relay: Callable[[], int],
                 reconcile: Callable[[], int] = lambda: 0, reconcile_interval: timedelta = timedelta(seconds=15),
                 timers: Callable[[], int] = lambda: 0,
                 periodic_chores: tuple[Callable[[], Any], ...] = ()) -> None:
        self._relay = relay
        self._timers = timers
        self._reconcile = reconcile
        self._reconcile_interval = reconcile_interval.total_seconds()
        self._periodic_chores = periodic_chores
        blocking = huey.leased.blocking
        super().__init__(
            huey, workers=concurrency, worker_type="process", periodic=False,
            initial_delay=0.02 if not blocking else 0.1, backoff=1.5, max_delay=0.25,
            scheduler_interval=1, check_worker_health=True, health_check_interval=1,
            shutdown_timeout=grace.total_seconds(),
        )
        # SIGTERM (docker stop, Kubernetes, `flowplane up`) is as graceful as Ctrl-C: in-flight tasks get
        # the grace period, then they are interrupted and handed back to the queue.
        self._signal_actions[signal.SIGTERM] = (False, True)
        self._stop_requested_at: float | None = None

    def _handle_signal(self, signum: int, frame: Any) -> None:
        if signum not in (signal.SIGTERM, signal.SIGINT):
            super()._handle_signal(signum, frame)  # SIGHUP: Huey's graceful restart
            return
        now = time.monotonic()
        if self._stop_requested_at is None:
            self._stop_requested_at = now
            self._signum, (self._restart, self._graceful) = signum, self._signal_actions[signum]
        elif now - self._stop_requested_at > SAME_STOP_SECONDS:
            raise KeyboardInterrupt  # a second request, made on purpose: Huey interrupts the tasks at once
        # else the same stop delivered twice: a supervisor signals the worker and systemd the whole cgroup

    def _create_scheduler(self) -> Housekeeper:
        housekeeper = Housekeeper(self.huey, self.stop_flag, self.scheduler_interval, False)
        housekeeper.relay = self._relay
        housekeeper.timers = self._timers
        housekeeper.reconcile = self._reconcile
        housekeeper.reconcile_interval = self._reconcile_interval
        housekeeper.periodic_chores = self._periodic_chores
        return housekeeper
