"""The workflows a process knows: read from their files, re-read when a file changes, and kept at their
last valid version when an edit is rejected. Older versions stay readable by their hash, so a run
always finishes on the definition it started with."""

import functools
import os
import threading
import weakref
from collections.abc import Callable, Collection
from pathlib import Path

from app.filewatch import Applied, Rejected, WatchedFiles
from app.workflows.changes import compare
from app.workflows.loader import WorkflowInvalid, load_text
from app.workflows.spec import Workflow

__all__ = ["Applied", "Rejected", "UnknownWorkflow", "WorkflowCatalogue"]


class UnknownWorkflow(KeyError):
    def __init__(self, name: str, known: Collection[str]) -> None:
        super().__init__(f"no workflow named {name!r}; known: {', '.join(sorted(known)) or 'none'}")
        self.name = name


class WorkflowCatalogue:
    def __init__(self, directory: Path, *, tasks: Callable[[], Collection[str]],
                 events: Callable[[], Collection[str]], reload_interval: float = 1.0,
                 runs_on: Callable[[str], list[tuple[str, int]]] | None = None) -> None:
        self.directory = directory
        self._runs_on = runs_on  # version -> where its runs in flight stand (the database's; None: not told)
        self._tasks = tasks
        self._events = events
        self._files = WatchedFiles(directory, self._load, WorkflowInvalid, kind="workflow",
                                   reload_interval=reload_interval,
                                   describe=self._describe_edit)
        self._versions: dict[str, Workflow] = {}
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=functools.partial(_forked, weakref.ref(self)))

    def _load(self, text: str, file: str) -> Workflow:
        workflow = load_text(text, file, tasks=self._tasks(), events=self._events())
        with self._lock:
            self._versions[workflow.version] = workflow
        return workflow

    def _describe_edit(self, old: Workflow, new: Workflow) -> list[str]:
        """What an applied edit changed, and where the runs it leaves on the old version stand."""
        lines = compare(old, new).lines()[1:]
        if self._runs_on is None:
            return lines
        try:
            groups = self._runs_on(old.version)
        except Exception as exc:  # the database is down: the edit applies, without this line
            return [*lines, f"  (the runs in flight on {old.version[:12]} could not be read: {type(exc).__name__})"]
        total = sum(count for _, count in groups)
        return [*lines, f"  {total} run(s) in flight on {old.version[:12]} finish on it"
                        + "".join(f"; {count} {where}" for where, count in groups)]

    def get(self, name: str) -> Workflow:
        current = self._files.current()
        if name not in current:
            raise UnknownWorkflow(name, current)
        return current[name]

    def all(self) -> list[Workflow]:
        return sorted(self._files.current().values(), key=lambda workflow: workflow.name)

    def names(self) -> list[str]:
        return sorted(self._files.current())

    def rejected(self) -> dict[str, Rejected]:
        """File -> the problems of its latest edit, for files whose latest edit was rejected."""
        return self._files.rejected()

    def applied(self) -> dict[str, Applied]:
        """File -> its latest edit that replaced a version this process served, with what it changed."""
        return self._files.applied()

    def watch(self) -> None:
        """Report edits (applied or rejected) as they happen, from a thread, not when next used."""
        self._files.watch()

    def stop_watching(self) -> None:
        self._files.stop_watching()

    def version(self, version: str, source: Callable[[], tuple[str, str]]) -> Workflow:
        """The definition with this hash; ``source`` gives (text, file) when this process has not seen it."""
        with self._lock:
            if version in self._versions:
                return self._versions[version]
        text, file = source()
        return self._load(text, file)


def _forked(catalogue: "weakref.ref[WorkflowCatalogue]") -> None:
    """In a forked child: the parent's watcher thread may have held the lock at the fork."""
    if (forked := catalogue()) is not None:
        forked._lock = threading.Lock()
