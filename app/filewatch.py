"""Definitions read from a directory of files and re-read when one changes. An edit that does not load
is rejected and the last version that did keeps serving; workflows and schedules both work this way."""

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Located(Protocol):
    """A problem with a position: prints as ``file:line:col: field: message``."""

    file: str


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


T = TypeVar("T", bound=Named)


class Invalid(Protocol):
    problems: Sequence[Located]


@dataclass(frozen=True)
class Applied:
    """The latest edit of a file that loaded: from which version to which, and what it changed."""

    file: str
    old: str
    new: str
    summary: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class Rejected:
    """An edit that did not load: the last valid version of that file keeps serving."""

    file: str
    problems: tuple[Located, ...]
    at: float


class WatchedFiles(Generic[T]):
    def __init__(self, directory: Path, load: Callable[[str, str], T], invalid: type[Exception], *,
                 kind: str, reload_interval: float = 1.0, on_change: Callable[[], None] = lambda: None,
                 describe: Callable[[T, T], Sequence[str]] = lambda old, new: ()) -> None:
        self.directory = directory
        self._load_text = load  # (text, file) -> definition, or raises ``invalid``
        self._invalid = invalid
        self._kind = kind
        self._interval = reload_interval
        self._on_change = on_change
        self._describe = describe  # (previous, edited) -> what the edit changed, a line each
        self._lock = threading.RLock()
        self._stamps: dict[Path, tuple[int, int]] = {}  # file -> (mtime_ns, size) last read
        self._by_file: dict[Path, T] = {}
        self._rejected: dict[str, Rejected] = {}
        self._applied: dict[str, Applied] = {}
        self._edits: list[tuple[Path, T, T]] = []  # applied, not yet told: (file, previous, edited)
        self._checked = float("-inf")
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()
        self._announce = True  # False in a child forked from a watching process: the parent tells of edits

    def watch(self) -> None:
        """Re-read the directory every interval in a thread of its own, so that an edit is reported (applied
        or rejected) within about the interval even when nothing uses the definitions."""
        with self._lock:
            if self._watcher is not None or self._interval <= 0:
                return
            self._stop_watching.clear()
            self._watcher = threading.Thread(target=self._watch, name=f"{self._kind}-files", daemon=True)
            this = weakref.ref(self)
            os.register_at_fork(before=functools.partial(_before_fork, this),
                                after_in_parent=functools.partial(_after_fork_in_parent, this),
                                after_in_child=functools.partial(_after_fork, this))
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop_watching.set()
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop_watching.is_set():
            try:
                self.current()
            except Exception:  # a bug in a loader must not end the watch: the next edit is read again
                log.exception("re-reading the %s files failed", self._kind)
            self._stop_watching.wait(self._interval)

    def _forked(self) -> None:
        """A forked child has no watcher thread; the lock the fork took is the parent's to release."""
        self._lock = threading.RLock()
        self._stop_watching = threading.Event()
        self._watcher = None
        self._announce = False

    def current(self) -> dict[str, T]:
        """Name -> definition, re-reading changed files when the interval has passed."""
        with self._lock:
            now = time.monotonic()
            if self._checked == float("-inf") or 0 < self._interval <= now - self._checked:
                self._checked = now
                if self._rescan():
                    self._on_change()
            served = {item.name: item for item in self._by_file.values()}
            edits, self._edits = self._edits, []
        for path, previous, item in edits:  # outside the lock: telling what changed may read the database
            self._tell_edit(path, previous, item)
        return served

    def rejected(self) -> dict[str, Rejected]:
        self.current()
        with self._lock:
            return dict(self._rejected)

    def applied(self) -> dict[str, Applied]:
        """File -> its latest edit that loaded over an earlier version (what this process saw)."""
        self.current()
        with self._lock:
            return dict(self._applied)

    def _rescan(self) -> bool:
        files = sorted(self.directory.glob("*.toml")) if self.directory.is_dir() else []
        changed = False
        for gone in set(self._by_file) - set(files):
            log.log(self._level(logging.WARNING), "%s file %s was removed; %s is no longer served", self._kind, gone,
                    self._by_file[gone].name)
            del self._by_file[gone]
            changed = True
        for path in set(self._stamps) - set(files):
            del self._stamps[path]
            self._rejected.pop(str(path), None)
            self._applied.pop(str(path), None)
        for path in files:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._stamps.get(path) != stamp:
                self._stamps[path] = stamp
                changed = self._read(path) or changed
        return changed

    def _level(self, level: int) -> int:
        """A forked child tells of files at DEBUG: its parent, which forked it, tells everyone once."""
        return level if self._announce else logging.DEBUG

    def _read(self, path: Path) -> bool:
        try:
            item = self._load_text(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            log.log(self._level(logging.ERROR), "%s: cannot read: %s", path, exc)
            return False
        except self._invalid as invalid:
            problems = tuple(getattr(invalid, "problems", ()))
            self._rejected[str(path)] = Rejected(str(path), problems, time.time())
            kept = self._by_file.get(path)
            log.log(self._level(logging.ERROR),
                    "%s: edit rejected (%d problem(s)); %s\n%s", path, len(problems),
                      f"version {kept.version[:12]} keeps serving" if kept else "nothing to serve",
                      "\n".join(str(problem) for problem in problems))
            return False
        clash = next((other_path for other_path, other in self._by_file.items()
                      if other.name == item.name and other_path != path), None)
        if clash is not None:
            log.log(self._level(logging.ERROR), "%s: %s %r is already defined in %s; ignored", path, self._kind,
                    item.name, clash)
            return False
        self._rejected.pop(str(path), None)
        previous = self._by_file.get(path)
        self._by_file[path] = item
        level = self._level(logging.INFO)
        if previous is None:
            log.log(level, "%s %s loaded from %s (version %s)", self._kind, item.name, path, item.version[:12])
        elif previous.version != item.version:
            self._edits.append((path, previous, item))
        return previous is None or previous.version != item.version

    def _tell_edit(self, path: Path, previous: T, item: T) -> None:
        try:  # in a forked child, not at all: its parent tells of the edit (and owns the connections it reads)
            summary = tuple(self._describe(previous, item)) if self._announce else ()
        except Exception:  # what changed is a courtesy: the edit applies regardless
            log.warning("could not tell what the edit of %s changed", path, exc_info=True)
            summary = ()
        with self._lock:
            self._applied[str(path)] = Applied(str(path), previous.version, item.version, summary, time.time())
        log.log(self._level(logging.INFO), "%s %s reloaded: version %s -> %s%s", self._kind, item.name,
                previous.version[:12], item.version[:12], "".join(f"\n{line}" for line in summary))


# The fork waits for a re-read under way: a child never starts with a stamp recorded and its file not yet read.
def _before_fork(files: "weakref.ref[WatchedFiles[Any]]") -> None:
    if (watched := files()) is not None:
        watched._lock.acquire()


def _after_fork_in_parent(files: "weakref.ref[WatchedFiles[Any]]") -> None:
    if (watched := files()) is not None:
        watched._lock.release()


def _after_fork(files: "weakref.ref[WatchedFiles[Any]]") -> None:
    if (watched := files()) is not None:
        watched._forked()
