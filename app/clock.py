"""What time it is, for everything that waits: a workflow's timers and their sweep, event waits' time-outs,
verification links' expiry. Production reads the system clock. Tests move time instead of sleeping through a
48-hour wait: with ``FLOWPLANE_TEST_CLOCK`` naming a file, every process reads the system clock plus the
seconds that file holds (a test writes it; like Temporal's time-skipping test server). Never set it in
production: each process that reads it says so in its log."""

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
TEST_CLOCK = "FLOWPLANE_TEST_CLOCK"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileOffsetClock:
    """The system clock plus an offset kept in a file, shared by every process of a test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, float] = (-1, 0.0)  # the file's mtime (ns) and the offset read then

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset())

    def advance(self, by: timedelta) -> None:
        """Move every process's clock forward by ``by`` (a test's step; time never goes back)."""
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(repr(self._offset() + by.total_seconds()))
        os.replace(temporary, self.path)

    def _offset(self) -> float:
        try:
            changed = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0.0
        if changed != self._seen[0]:
            self._seen = (changed, float(self.path.read_text() or 0))
        return self._seen[1]


def clock_from(environ: Mapping[str, str]) -> Clock:
    path = environ.get(TEST_CLOCK)
    if not path:
        return SystemClock()
    log.warning("time here is moved by the test clock %s: for tests only, never in production", path)
    return FileOffsetClock(Path(path))
