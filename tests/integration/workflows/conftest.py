"""Workflow tests run real worker processes: the task-plane tests' world, on Redis and on SQLite."""

import json
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app.bootstrap import Container
from app.workflows.views import run_detail
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import backend, world  # noqa: F401  (fixtures)

# The two setups people run, for the slow tests with real workers: Redis + PostgreSQL (production) and
# SQLite for both (the embedded default). As ("backend", "database_url") with indirect=True.
PRODUCTION_AND_EMBEDDED = [("redis", "postgresql"), ("sqlite", "sqlite")]


def finished_run(container: Container, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """The run once it has succeeded or failed."""
    def done() -> dict[str, Any] | None:
        detail = run_detail(container.engine, run_id)
        return detail if detail and detail["status"] != "running" else None

    return poll(done, timeout=timeout, what=f"run {run_id} to finish")


def step_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def start(container: Container, name: str, data: dict[str, Any]) -> str:
    with Session(container.engine, expire_on_commit=False) as db, db.begin():
        return container.runner.start(db, name, data).run_id


def write_workflow(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(body)
    return path
