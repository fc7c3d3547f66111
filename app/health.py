"""Readiness: can this process reach the database and whichever servers its settings use?"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kombu.connection import Connection
from redis import Redis
from sqlalchemy import Engine, text

from app.config import Settings

CHECK_TIMEOUT_SECONDS = 2.0


def _database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _redis(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                            socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.ping()
    finally:
        client.close()


def _rabbitmq(url: str) -> None:
    with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


def dependencies(settings: Settings, engine: Engine) -> dict[str, Callable[[], None]]:
    """The checks that apply: Redis and RabbitMQ only when the settings point at them."""
    checks: dict[str, Callable[[], None]] = {"database": lambda: _database(engine)}
    if settings.redis.url:
        checks["redis"] = lambda: _redis(settings.redis.url)
    if settings.rabbitmq.url and settings.events.enabled:
        checks["rabbitmq"] = lambda: _rabbitmq(settings.rabbitmq.url)
    return checks


def check_all(checks: dict[str, Callable[[], None]]) -> dict[str, str]:
    """Run every check at once; each answers ``ok`` or ``unreachable (<reason>)``."""

    def run(check: Callable[[], None]) -> str:
        try:
            check()
        except Exception as exc:  # any failure means "not ready", and its class says enough
            return f"unreachable ({type(exc).__name__})"
        return "ok"

    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(run, check) for name, check in checks.items()}
        return {name: future.result() for name, future in futures.items()}
