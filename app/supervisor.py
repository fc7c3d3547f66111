"""``flowplane up``: run several Flowplane processes as children, restart the ones that crash,
and stop them all gracefully on Ctrl-C or SIGTERM."""

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 15.0
STABLE_AFTER_SECONDS = 60.0
MAX_RESTART_DELAY_SECONDS = 30.0


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_delay: float = 1.0
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)

    def start(self, env: Mapping[str, str]) -> None:
        # Own process group: Ctrl-C reaches only the supervisor, which stops children once, gracefully.
        self.process = subprocess.Popen(list(self.argv), env=dict(env), process_group=0)  # noqa: S603
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d)", self.name, self.process.pid)


def flowplane_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def run(children: Sequence[Child], env: Mapping[str, str] | None = None) -> int:
    """Supervise ``children`` until a stop signal; returns the exit status for ``up``."""
    env = dict(os.environ if env is None else env)
    stopping: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.start(env)
        while not stopping:
            for child in children:
                _tend(child, env)
            time.sleep(0.2)
        log.info("stopping %s", ", ".join(child.name for child in children))
        return _stop_all(children)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _tend(child: Child, env: Mapping[str, str]) -> None:
    now = time.monotonic()
    if child.process is None:
        if child.restart_at is not None and now >= child.restart_at:
            child.start(env)
        return
    code = child.process.poll()
    if code is None:
        if now - child.started_at > STABLE_AFTER_SECONDS:
            child.restart_delay = 1.0
        return
    child.exits.append(code)
    child.process = None
    child.restart_at = now + child.restart_delay
    log.error("%s exited with status %d; restarting in %.0f s", child.name, code, child.restart_delay)
    child.restart_delay = min(child.restart_delay * 2, MAX_RESTART_DELAY_SECONDS)


def _stop_all(children: Sequence[Child]) -> int:
    running = [child for child in children if child.process is not None]
    for child in running:
        assert child.process is not None
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    status = 0
    for child in running:
        assert child.process is not None
        try:
            code = child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %.0f s; killing it", child.name, STOP_GRACE_SECONDS)
            child.process.kill()
            code = child.process.wait()
            status = 1
        if code in (0, -signal.SIGTERM):  # uvicorn re-raises the signal once it has shut down cleanly
            log.info("%s stopped", child.name)
        else:
            log.error("%s stopped with status %d", child.name, code)
            status = 1
    return status
