"""The no-op step the workflow benchmark chains (FLOWPLANE_TASKS__MODULES=bench.workflow_tasks).

With BENCH_PROFILE_DIR set, each worker process profiles itself from its first step on and writes its
statistics there every few hundred steps: Huey's worker processes end by os._exit, so no exit hook runs."""

import cProfile
import os
from pathlib import Path
from typing import Any

from app.plane.tasks.policy import RetryPolicy
from app.plane.tasks.registry import TaskContext, TaskSpec

DUMP_EVERY = 50
_profile: cProfile.Profile | None = None
_steps = 0


def noop(context: TaskContext, payload: dict[str, Any]) -> None:
    global _profile, _steps
    directory = os.environ.get("BENCH_PROFILE_DIR")
    if not directory:
        return
    if _profile is None:
        _profile = cProfile.Profile()
        _profile.enable()  # the worker's own thread: it also runs the take, the step records and the ack
    _steps += 1
    if _steps % DUMP_EVERY == 0:
        _profile.disable()
        _profile.dump_stats(Path(directory) / f"worker-{os.getpid()}.prof")
        _profile.enable()


# One attempt: a failure shows as a failed run in the figures instead of hiding behind a retry.
TASKS = [TaskSpec("bench.wf_noop", noop, retry=RetryPolicy(attempts=1), timeout=None)]
