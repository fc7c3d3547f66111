"""`just bench`: the plane measured against raw Huey, raw Kombu and Celery on the same servers, in one run."""

import time
from collections.abc import Callable


def wait(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.002) -> float:
    """perf_counter() at the first check that holds; exits the bench when none does in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.perf_counter()
        time.sleep(step)
    raise SystemExit(f"bench: timed out waiting for {what}")
