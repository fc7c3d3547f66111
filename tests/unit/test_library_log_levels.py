"""Library chatter stays at WARNING unless debug is asked for; our own info lines and their warnings still show."""

import logging
from collections.abc import Iterator

import pytest

from app import logs


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in ("apscheduler", "huey.consumer", "kombu", "alembic")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, previous in libraries.items():
        logging.getLogger(name).setLevel(previous)


def test_at_info_libraries_speak_only_of_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", json_lines=True)
    logging.getLogger("apscheduler.executors.default").info('Running job "SchedulerProcess.sync"')
    logging.getLogger("huey.consumer").info("Shutting down gracefully...")  # a worker's life stays too
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("kombu.mixins").warning("Connection to broker lost")
    logging.getLogger("app.scheduling.scheduler").info("scheduler started")
    logging.getLogger("huey").info("Executing flowplane.email.welcome")  # the record of a task run stays
    err = capsys.readouterr().err
    assert "Running job" not in err and "Context impl" not in err
    assert "Connection to broker lost" in err and "scheduler started" in err and "Executing" in err
    assert "Shutting down gracefully" in err


def test_debug_lets_the_libraries_speak(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("debug", json_lines=True)
    logging.getLogger("apscheduler.executors.default").info('Running job "SchedulerProcess.sync"')
    logging.getLogger("kombu.connection").debug("dequeued")
    err = capsys.readouterr().err
    assert "Running job" in err and "dequeued" in err
