"""The schedules a scheduler knows: read from their files and re-read when one changes; a file whose
edit is rejected keeps its last valid version, and the other schedules keep running either way."""

from collections.abc import Callable, Collection
from pathlib import Path

from app.filewatch import Rejected, WatchedFiles
from app.scheduling.loader import load_text
from app.scheduling.spec import Schedule
from app.workflows.problems import WorkflowInvalid

__all__ = ["Rejected", "ScheduleCatalogue", "UnknownSchedule"]


class UnknownSchedule(KeyError):
    def __init__(self, name: str, known: Collection[str]) -> None:
        super().__init__(f"no schedule named {name!r}; known: {', '.join(sorted(known)) or 'none'}")
        self.name = name


class ScheduleCatalogue:
    def __init__(self, directory: Path, *, tasks: Callable[[], Collection[str]],
                 workflows: Callable[[], Collection[str]], default_timezone: str,
                 reload_interval: float = 1.0) -> None:
        self.directory = directory
        self._tasks = tasks
        self._workflows = workflows
        self._timezone = default_timezone
        self._files = WatchedFiles(directory, self._load, WorkflowInvalid, kind="schedule",
                                   reload_interval=reload_interval)

    def _load(self, text: str, file: str) -> Schedule:
        return load_text(text, file, tasks=self._tasks(), workflows=self._workflows(),
                         default_timezone=self._timezone)

    def current(self) -> dict[str, Schedule]:
        return self._files.current()

    def get(self, name: str) -> Schedule:
        current = self._files.current()
        if name not in current:
            raise UnknownSchedule(name, current)
        return current[name]

    def all(self) -> list[Schedule]:
        return sorted(self._files.current().values(), key=lambda schedule: schedule.name)

    def rejected(self) -> dict[str, Rejected]:
        return self._files.rejected()

    def watch(self) -> None:
        """Report edits (applied or rejected) as they happen, from a thread, not when next used."""
        self._files.watch()

    def stop_watching(self) -> None:
        self._files.stop_watching()
