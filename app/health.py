"""Readiness: can this process reach the database and whichever servers its settings use?

Every check runs at once and the answer comes within ``BUDGET_SECONDS`` whatever the servers do: a
server that blackholes the check (open and silent) reads as ``timeout``, and the check's thread ends
on its own timeout afterwards instead of being waited for."""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from kombu.connection import Connection
from redis import Redis
from sqlalchemy import Engine, text

from app.availability import Availability
from app.config import Settings
from app.db.engine import availability_of

BUDGET_SECONDS = 1.5  # the answer's budget: under the 2 s a balancer's probe usually allows


def _database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _redis(url: str, timeout: float) -> None:
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _rabbitmq(url: str, timeout: float) -> None:
    options = {"read_timeout": timeout, "write_timeout": timeout}
    with Connection(url, connect_timeout=timeout, transport_options=options) as connection:
        connection.ensure_connection(max_retries=0, timeout=timeout)  # one try: kombu waits 2 s before a retry


def _unless_down(availability: Availability | None, check: Callable[[], None]) -> Callable[[], None]:
    """A server that failed moments ago is reported as such at once, not tried again by every probe."""

    def checked() -> None:
        if availability is not None:
            availability.check()
        check()

    return checked


def dependencies(settings: Settings, engine: Engine, *, redis: Availability | None = None,
                 rabbitmq: Availability | None = None) -> dict[str, Callable[[], None]]:
    """The checks that apply: Redis and RabbitMQ only when the settings point at them."""
    timeout = BUDGET_SECONDS
    checks: dict[str, Callable[[], None]] = {"database": _unless_down(availability_of(engine),
                                                                      lambda: _database(engine))}
    if settings.redis.url:
        checks["redis"] = _unless_down(redis, lambda: _redis(settings.redis.url, timeout))
    if settings.rabbitmq.url and settings.events.enabled:
        checks["rabbitmq"] = _unless_down(rabbitmq, lambda: _rabbitmq(settings.rabbitmq.url, timeout))
    return checks


def check_all(checks: dict[str, Callable[[], None]], budget: float = BUDGET_SECONDS) -> dict[str, str]:
    """Run every check at once; each answers ``ok``, ``unreachable (<reason>)`` or ``timeout`` within ``budget``."""

    def run(check: Callable[[], None]) -> str:
        try:
            check()
        except Exception as exc:  # any failure means "not ready", and its class says enough
            return f"unreachable ({type(exc).__name__})"
        return "ok"

    deadline = time.monotonic() + budget
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readiness")
    futures = {name: pool.submit(run, check) for name, check in checks.items()}
    pool.shutdown(wait=False)  # a silent server's check ends on its own timeout, after the answer
    results = {}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = f"timeout (no answer within {budget:g} s)"
    return results
