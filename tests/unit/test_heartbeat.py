"""The lease heartbeat keeps beating at its pace through the shutdown grace, and stops with the task."""

import threading
import time
from types import SimpleNamespace

from app.plane.tasks.worker import LeasedWorker


def test_beats_stay_paced_after_the_stop_flag_is_set() -> None:
    beats: list[float] = []
    worker = LeasedWorker.__new__(LeasedWorker)
    worker.stop_flag = threading.Event()
    held = ["lease"]
    worker.huey = SimpleNamespace(held_leases=lambda: list(held), current_task=None,
                                  leased=SimpleNamespace(extend=beats.append, lease_seconds=1.0))
    # Given a shutdown in progress while a task still runs
    worker.stop_flag.set()
    beating = threading.Thread(target=worker._heartbeat, args=(0.05,), daemon=True)
    beating.start()
    time.sleep(0.3)
    # When the task finishes, the heartbeat ends
    held.clear()
    beating.join(timeout=2)
    assert not beating.is_alive()
    # Then it renewed the lease a few times, not in a tight loop
    assert 2 <= len(beats) <= 10, len(beats)
