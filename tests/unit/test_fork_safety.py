"""A child forked while the parent's clearer or watcher held its lock can still use its own copy."""

import os
import threading
from pathlib import Path

from sqlalchemy import create_engine

from app.filewatch import WatchedFiles
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


def test_watched_files_work_in_a_child_forked_while_the_watcher_held_its_lock(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("name = 'a'\n")
    files = WatchedFiles(tmp_path, lambda text, file: _Named(text), ValueError, kind="thing", reload_interval=0.05)
    files.watch()
    try:
        with files._lock:  # as if the watcher thread held it at the fork
            assert _in_a_child(lambda: files.current()["a"]) == 0
    finally:
        files.stop_watching()


class _Named:
    def __init__(self, text: str) -> None:
        self.name, self.version = text.split("'")[1], text
