"""/metrics under load and with sources that hang: scrapes read on resources of their own, bounded in size
and time, so the API's request paths keep their database connections while eight scrapers loop, and a broker
that accepts connections but never answers costs one read at a time."""

import dataclasses
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from app.api.app import create_app
from app.auth.accounts import create_user
from app.bootstrap import Container, build
from app.config import Settings, load_settings
from app.domain.users import Role
from app.metrics import FlowplaneCollector
from tests.e2e.processes import environment, poll, start, wait_until_serving
from tests.integration.accounts import PASSWORD, new_user
from tests.servers import POSTGRES_URL, closed_port


def sources_up(text: str) -> dict[str, float]:
    return {sample.labels["source"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "flowplane_metrics_source_up"}


class Scrapers:
    """Threads that scrape /metrics in a loop until stopped, keeping what each scrape answered."""

    def __init__(self, count: int, scrape: Callable[[], tuple[int, str]]) -> None:
        self.answers: list[tuple[int, dict[str, float]]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._scrape = scrape
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(count)]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                status, text = self._scrape()
                self.answers.append((status, sources_up(text) if status == 200 else {}))
            except Exception as error:  # a timed-out scrape is an outcome the test reports
                self.errors.append(error)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.fixture
def server_env(tmp_path: Path, database_url: str) -> Iterator[tuple[dict[str, str], Container]]:
    # A small API pool, as a busy deployment's would be: 2 connections (+2 overflow) for every request path
    env = environment(FLOWPLANE_DATABASE__URL=database_url, FLOWPLANE_DATABASE__POOL_SIZE="2",
                      FLOWPLANE_TASKS__SQLITE_PATH=str(tmp_path / "tasks.db"))
    container = build(load_settings(environ={key: value for key, value in env.items() if key.startswith("FLOWPLANE_")}))
    try:
        yield env, container
    finally:
        container.close()


def metrics_connections(pid: int) -> int:
    """Sessions the server's metrics engine holds (it names them after the process)."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        row = connection.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                 (f"flowplane-metrics/{pid}",)).fetchone()
    return int(row[0]) if row else 0


def lock_waits() -> int:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        row = connection.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND query ILIKE '%event_counts%'").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_eight_looping_scrapes_of_a_locked_table_leave_the_api_its_connections(
        tmp_path: Path, database_url: str, server_env: tuple[dict[str, str], Container]) -> None:
    env, container = server_env
    with Session(container.engine) as db, db.begin():
        create_user(db, container.passwords, email="admin@example.com", name="Admin", password=PASSWORD,
                    role=Role.ADMIN)
    base = f"http://127.0.0.1:{closed_port()}"
    api = start(["api", "--port", base.rsplit(":", 1)[1]], tmp_path, env, tmp_path / "api.log")
    locker = psycopg.connect(database_url)
    scrapers: Scrapers | None = None
    try:
        wait_until_serving(base, api, tmp_path / "api.log")
        admin = httpx.post(f"{base}/api/sessions", json={"email": "admin@example.com", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        # Given a table every scrape reads, locked by a long transaction (a migration, a VACUUM FULL)
        locker.execute("LOCK TABLE event_counts IN ACCESS EXCLUSIVE MODE")
        # When eight scrapers loop on /metrics, and their reads of it are stuck behind the lock
        scrapers = Scrapers(8, lambda: (lambda r: (r.status_code, r.text))(httpx.get(f"{base}/metrics", timeout=30)))
        poll(lambda: lock_waits() >= 1 or None, timeout=30, what="a scrape's read waiting on the lock")

        # Then registrations and an admin's event stats keep answering (within 20 s: an API whose pool the
        # scrapes hold answers after its 30 s pool timeout, if at all), while the scrapes go on
        registered, stats, held = [], [], []
        while len(registered) < 5 or len(scrapers.answers) < 16:
            assert len(registered) < 200, "the scrapers made no progress"
            registered.append(httpx.post(f"{base}/api/users", json=new_user(), timeout=20).status_code)
            stats.append(httpx.get(f"{base}/api/events/stats", headers=headers, timeout=20).status_code)
            held.append(metrics_connections(api.pid))
    finally:
        locker.rollback()
        locker.close()
        if scrapers is not None:
            scrapers.stop()
        api.terminate()
        api.wait(timeout=30)

    assert set(registered) == {201} and set(stats) == {200}
    assert max(held) == 1  # the metrics engine's one connection (named after the server), whatever the scrapers do
    assert not scrapers.errors and {status for status, _ in scrapers.answers} == {200}
    # the locked table's source is down, the others answered beside it
    assert all(up["event_records"] == 0 and up["workflows"] == 1 for _, up in scrapers.answers[:16])


class Blackhole:
    """A TCP server that accepts connections and never answers: a broker that hangs. Counts the connections
    held open at once."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._lock = threading.Lock()
        self.open = self.most = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.most = max(self.most, self.open)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        try:
            with connection:
                while connection.recv(4096):
                    pass  # whatever the client says, no answer
        except OSError:
            pass
        with self._lock:
            self.open -= 1

    def close(self) -> None:
        self._socket.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the broker is what matters here
def test_a_broker_that_never_answers_costs_one_read_at_a_time(make_settings: Callable[..., Settings]) -> None:
    blackhole = Blackhole()
    container = build(make_settings(FLOWPLANE_RABBITMQ__URL=f"amqp://guest:guest@127.0.0.1:{blackhole.port}//"))
    try:
        with TestClient(create_app(container)) as client:
            def scrape() -> tuple[int, str]:
                response = client.get("/metrics")
                return response.status_code, response.text

            scrapers = Scrapers(8, scrape)
            poll(lambda: len(scrapers.answers) >= 24 or None, timeout=60, what="24 scrapes")
            scrapers.stop()
    finally:
        container.close()
        blackhole.close()

    answers: list[tuple[int, dict[str, Any]]] = scrapers.answers
    assert not scrapers.errors and {status for status, _ in answers} == {200}
    assert all(up["event_broker"] == 0 and up["task_queue"] == 1 for _, up in answers)
    assert blackhole.most == 1  # eight scrapers, one read of the broker in flight


class HeldQueue:
    """The task queue, whose depths are read only once released: a source slow to answer."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self.released = threading.Event()
        self.reads = 0

    def counts(self) -> Any:
        self.reads += 1
        assert self.released.wait(timeout=60)
        return self.storage.counts()

    def totals(self) -> Any:
        return self.storage.totals()


class CountedCollector(FlowplaneCollector):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scrapes = 0

    def scrape(self) -> Any:
        self.scrapes += 1
        return super().scrape()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_scrapes_waiting_on_a_slow_source_hold_none_of_the_api_threads(container: Container) -> None:
    queue = HeldQueue(container.huey.leased)
    collector = CountedCollector(queue, container.metrics.engine, queue="default", timeout=60)
    with TestClient(create_app(dataclasses.replace(container, metrics=collector))) as client:
        # Given more scrapes waiting on a slow source than the API has threads for its request paths (32 at most)
        answers: list[int] = []
        scrapers = [threading.Thread(target=lambda: answers.append(client.get("/metrics").status_code))
                    for _ in range(40)]
        for scraper in scrapers:
            scraper.start()
        try:
            poll(lambda: collector.scrapes == 40 or None, timeout=30, what="forty scrapes waiting")
            # Then a registration still answers, and the forty share one read
            assert client.post("/api/users", json=new_user()).status_code == 201
            assert queue.reads == 1 and not answers
        finally:
            queue.released.set()
            for scraper in scrapers:
                scraper.join(timeout=30)
    assert answers == [200] * 40
