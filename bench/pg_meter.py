"""PostgreSQL commits and round trips per workflow: what a workflow costs the database, independent of how fast
this machine happens to be.

`PgMeter` is a TCP proxy in front of PostgreSQL that counts round trips; `commits` reads the database's committed
transactions from pg_stat_database. `report` shows both for the Celery durable side (bench/celery_durable.py):

    python -m bench.pg_meter
"""

import socket
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.workflows import POSTGRES_URL, stop

PGSTAT_IDLE_INTERVAL = 10.0  # seconds an idle backend may keep its counts to itself (src/include/pgstat.h)


class _Link:
    """One client connection's forwarding state: whether the server spoke since the client last sent."""

    __slots__ = ("server_spoke", "sockets")

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.server_spoke = True  # so the client's first send counts
        self.sockets = (client, server)

    def close(self) -> None:
        for sock in self.sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv
            sock.close()


class PgMeter:
    """A TCP proxy on 127.0.0.1:<free port> to PostgreSQL that counts round trips: a client's send after the
    server last spoke on that connection (and its first send) is one. A pipelined client is counted per burst,
    which is what costs latency. Two threads per connection, each a blocking recv/sendall loop: cheap, and a
    full buffer in one direction cannot stall the other."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # the accept loop looks at _closing this often
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._round_trips = 0
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    @property
    def round_trips(self) -> int:
        return self._round_trips

    def reset(self) -> None:
        with self._lock:
            self._round_trips = 0

    def url(self, base_url: str) -> str:
        """``base_url`` (postgresql://user@host:port/db?...) with its host and port this proxy's."""
        parts = urlsplit(base_url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}127.0.0.1:{self.port}"))

    def __enter__(self) -> "PgMeter":
        self._spawn(self._accept)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            client.settimeout(None)
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on small messages
            link = _Link(client, server)
            with self._lock:
                self._links.add(link)
            self._spawn(self._pump, link, True)
            self._spawn(self._pump, link, False)

    def _pump(self, link: _Link, from_client: bool) -> None:
        source, sink = link.sockets if from_client else link.sockets[::-1]
        try:
            while data := source.recv(65536):
                if not from_client:
                    link.server_spoke = True  # before forwarding: the client's answer to it must see it
                elif link.server_spoke:
                    link.server_spoke = False
                    with self._lock:
                        self._round_trips += 1
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._links.discard(link)
            link.close()


def commits(url: str, quiet: float = PGSTAT_IDLE_INTERVAL + 1, timeout: float = 60.0, via: str = "postgres") -> int:
    """Transactions committed in ``url``'s database (pg_stat_database.xact_commit), once the count is settled.

    Since PostgreSQL 15 backends keep their counts in local memory and add them to shared memory at most once a
    second: when a transaction ends at least 1 s after their last flush, else when idle, 10 s later at the latest
    (PGSTAT_IDLE_INTERVAL), and when they exit. pg_stat_force_next_flush() only speaks for the calling backend.
    So this polls until the count has not moved for ``quiet`` seconds: 11 s by default, enough for connections
    left open; 1-2 s will do once every connection of interest is closed. The count is the database's: measure in
    a database of your own, or everyone's commits in it are counted too.

    The reading must not count itself. Merely connecting commits a transaction (the backend's start-up reads the
    catalogue), so the count is read from a connection to another database (``via``), in one transaction that is
    rolled back, with stats_fetch_consistency = none so each read sees shared memory as it is now rather than the
    transaction's first snapshot (what pg_stat_clear_snapshot() is otherwise for)."""
    parts = urlsplit(url)
    if (target := parts.path.lstrip("/")) == via:
        raise ValueError(f"read {target}'s commits via another database")
    with psycopg.connect(urlunsplit(parts._replace(path=f"/{via}"))) as db:
        db.execute("SET LOCAL stats_fetch_consistency = none")
        deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
        try:
            while time.monotonic() < deadline:
                row = db.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (target,)).fetchone()
                assert row is not None, f"no database {target}"
                if row[0] != last:
                    last, since = row[0], time.monotonic()
                elif time.monotonic() - since >= quiet:
                    return int(last)
                time.sleep(0.1)
        finally:
            db.rollback()
    raise SystemExit(f"bench: pg_stat_database.xact_commit kept moving for {timeout:.0f} s")


def _selects(url: str, count: int) -> None:
    """The known pattern. Unprepared: psycopg prepares a statement on its 6th use, one more round trip (a Parse
    of its own) and, outside a transaction, one more commit."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as db:
        for _ in range(count):
            db.execute("SELECT 1")


def report(count: int = 200) -> None:
    """Round trips and commits per workflow of the Celery durable side, in a database of its own (so nobody
    else's commits count), producer and worker connected through the meter. Timings here mean nothing: the
    proxy shares this process with the producer."""
    from bench.celery_durable import celery_durable_side, uninterrupted

    database = f"bench_meter_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    url = urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{database}"))
    try:
        with PgMeter() as meter:
            checks = []
            for selects in (0, 10):  # the known pattern, and the connection's own cost
                meter.reset()
                before = commits(url, quiet=1.5)
                _selects(meter.url(url), selects)
                committed = commits(url, quiet=1.5) - before  # by then the proxy has passed the client's goodbye on
                checks.append((selects, meter.round_trips, committed))
            with tempfile.TemporaryDirectory() as directory, \
                    celery_durable_side(Path(directory), meter.url(url), url) as side:
                worker = side.worker()  # warmed: its connections made, 20 runs done
                try:
                    before = commits(url)
                    meter.reset()
                    side.throughput(count)
                    committed = commits(url) - before
                    trips = meter.round_trips  # read after the wait: the producer's goodbye is counted by then
                finally:
                    stop(worker)
    finally:
        with uninterrupted(), psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print("\nPostgreSQL per workflow, Celery durable: 3 transactions, the start's (BEGIN, 2 INSERTs, COMMIT), "
          "`first`'s (BEGIN, UPDATE, COMMIT)\n  and `second`'s (BEGIN, 2 UPDATEs, COMMIT): 3 commits, 11 statements")
    for selects, round_trips, committed_check in checks:
        print(f"  check: connect, {selects:2} x SELECT 1 in autocommit, close: {round_trips:2} round trips, "
              f"{committed_check:2} commits")
    print(f"  {count} workflows, 1 producer thread (its connect and close included):")
    print(f"    commits per workflow     {committed / count:6.2f}")
    print(f"    round trips per workflow {trips / count:6.2f}")


if __name__ == "__main__":
    report()
