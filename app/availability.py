"""Remembering, per process, that a server failed moments ago.

A server that refuses connections fails fast by itself; one that stops answering (a partition, a
blackhole) costs each caller a whole timeout. After a timeout or a refused connection the server is
skipped for a short backoff, so the next thousand requests fail at once — work bound for it stays in
the outbox — rather than each waiting out the same timeout. The first call after the backoff tries
again: its success ends the outage, its failure starts another backoff."""

import threading
import time
from collections.abc import Callable


class Unavailable(RuntimeError):
    """``service`` failed moments ago; calls skip it until ``retry_after`` seconds have passed."""

    def __init__(self, service: str, retry_after: float, reason: str = "") -> None:
        self.service = service
        self.retry_after = retry_after
        super().__init__(f"{service} is unavailable{f' ({reason})' if reason else ''}; "
                         f"retrying in {retry_after:.1f} s")


class Availability:
    def __init__(self, service: str, backoff: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.backoff = backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._reason = ""

    def check(self) -> None:
        """Raise :class:`Unavailable` while the backoff after a failure runs."""
        remaining = self._down_until - self._clock()
        if remaining > 0:
            raise Unavailable(self.service, remaining, self._reason)

    @property
    def down(self) -> bool:
        return self._down_until > self._clock()

    def failed(self, reason: str = "") -> None:
        with self._lock:
            self._down_until = self._clock() + self.backoff
            self._reason = reason

    def succeeded(self) -> None:
        if self._down_until:
            with self._lock:
                self._down_until, self._reason = 0.0, ""
