"""A child forked while the parent's clearer or watcher held its lock can still use its own copy."""

import os
import threading

from sqlalchemy import create_engine

from app.plane.sent import SentRows
from app.plane.tasks.starts import StartMarks


def _in_a_child(use: object) -> int:
    """Fork and run ``use`` in the child (it must finish within 5 s); the child's exit status."""
    pid = os.fork()
    if pid == 0:  # the child: a thread of its own checks that ``use`` returns, since a hung lock never would
        done = threading.Event()
        threading.Thread(target=lambda: (use(), done.set()), daemon=True).start()  # type: ignore[operator]
        os._exit(0 if done.wait(5) else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_sent_rows_and_start_marks_work_in_a_child_forked_under_their_lock() -> None:
    sent = SentRows(create_engine("sqlite://"))
    marks = StartMarks(lambda envelope, began: None)
    with sent._changed, marks._lock:  # as if their threads held them at the fork
        assert _in_a_child(lambda: (sent.unsettled(), marks.end())) == 0
