"""The workflows a process knows: read from their files, re-read when a file changes, and kept at their
last valid version when an edit is rejected. Older versions stay readable by their hash, so a run
always finishes on the definition it started with."""

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from app.workflows.loader import Problem, WorkflowInvalid, load_text
from app.workflows.spec import Workflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejected:
    """An edit that did not validate: the last valid version of that file keeps serving."""

    file: str
    problems: tuple[Problem, ...]
    at: float


class UnknownWorkflow(KeyError):
    def __init__(self, name: str, known: Collection[str]) -> None:
        super().__init__(f"no workflow named {name!r}; known: {', '.join(sorted(known)) or 'none'}")
        self.name = name


class WorkflowCatalogue:
    def __init__(self, directory: Path, *, tasks: Callable[[], Collection[str]],
                 events: Callable[[], Collection[str]], reload_interval: float = 1.0) -> None:
        self.directory = directory
        self._tasks = tasks
        self._events = events
        self._interval = reload_interval
        self._lock = threading.Lock()
        self._stamps: dict[Path, tuple[int, int]] = {}  # file -> (mtime_ns, size) last read
        self._by_file: dict[Path, Workflow] = {}
        self._versions: dict[str, Workflow] = {}
        self._rejected: dict[str, Rejected] = {}
        self._checked = float("-inf")

    # -- current versions ----------------------------------------------------------------------
    def get(self, name: str) -> Workflow:
        current = self._current()
        if name not in current:
            raise UnknownWorkflow(name, current)
        return current[name]

    def all(self) -> list[Workflow]:
        return sorted(self._current().values(), key=lambda workflow: workflow.name)

    def rejected(self) -> dict[str, Rejected]:
        """File -> the problems of its latest edit, for files whose latest edit was rejected."""
        self._current()
        return dict(self._rejected)

    def _current(self) -> dict[str, Workflow]:
        with self._lock:
            now = time.monotonic()
            if self._checked == float("-inf") or 0 < self._interval <= now - self._checked:
                self._checked = now
                self._rescan()
            return {workflow.name: workflow for workflow in self._by_file.values()}

    def _rescan(self) -> None:
        files = sorted(self.directory.glob("*.toml")) if self.directory.is_dir() else []
        for gone in set(self._by_file) - set(files):
            log.warning("workflow file %s was removed; %s no longer starts", gone, self._by_file[gone].name)
            del self._by_file[gone]
        for path in files:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            workflow = load_text(path.read_text(encoding="utf-8"), str(path), tasks=self._tasks(),
                                 events=self._events())
        except (OSError, UnicodeDecodeError) as exc:
            log.error("%s: cannot read: %s", path, exc)
            return
        except WorkflowInvalid as invalid:
            self._rejected[str(path)] = Rejected(str(path), tuple(invalid.problems), time.time())
            kept = self._by_file.get(path)
            log.error("%s: edit rejected (%d problem(s)); %s\n%s", path, len(invalid.problems),
                      f"version {kept.version[:12]} keeps serving" if kept else "nothing to serve",
                      "\n".join(str(problem) for problem in invalid.problems))
            return
        clash = next((other for other_path, other in self._by_file.items()
                      if other.name == workflow.name and other_path != path), None)
        if clash is not None:
            log.error("%s: workflow %r is already defined in %s; ignored", path, workflow.name, clash.path)
            return
        self._rejected.pop(str(path), None)
        previous = self._by_file.get(path)
        self._by_file[path] = workflow
        self._versions[workflow.version] = workflow
        if previous is None:
            log.info("workflow %s loaded from %s (version %s)", workflow.name, path, workflow.version[:12])
        elif previous.version != workflow.version:
            log.info("workflow %s reloaded: version %s -> %s for new runs", workflow.name, previous.version[:12],
                     workflow.version[:12])

    # -- pinned versions -----------------------------------------------------------------------
    def version(self, version: str, source: Callable[[], tuple[str, str]]) -> Workflow:
        """The definition with this hash; ``source`` gives (text, file) when this process has not seen it."""
        with self._lock:
            if version in self._versions:
                return self._versions[version]
        text, file = source()
        workflow = load_text(text, file, tasks=self._tasks(), events=self._events())
        with self._lock:
            self._versions[version] = workflow
        return workflow
