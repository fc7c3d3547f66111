"""/health says the process lives; /ready names every server the settings use that does not answer, and a
missing registration workflow."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import build
from app.config import Settings, load_settings
from tests.conftest import ROOT
from tests.servers import RABBITMQ_URL, REDIS_URL, closed_port, require


def _get(settings: Settings, path: str) -> Any:
    container = build(settings)
    try:
        with TestClient(create_app(container)) as client:
            return client.get(path)
    finally:
        container.close()


def test_health_is_always_ok(settings: Settings) -> None:
    assert _get(settings, "/health").json() == {"status": "ok"}


def test_embedded_default_is_ready_with_only_the_database(settings: Settings) -> None:
    response = _get(settings, "/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "registration_workflow": "ok"}}


def test_ready_with_every_server_up(make_settings: Callable[..., Settings]) -> None:
    require("redis")
    require("rabbitmq")
    response = _get(make_settings(FLOWPLANE_REDIS__URL=REDIS_URL, FLOWPLANE_RABBITMQ__URL=RABBITMQ_URL), "/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "rabbitmq": "ok",
                                         "registration_workflow": "ok"}


@pytest.mark.parametrize("stopped", ["redis", "rabbitmq"])
def test_a_stopped_server_makes_ready_503_and_is_named(make_settings: Callable[..., Settings],
                                                       stopped: str) -> None:
    require("redis")
    require("rabbitmq")
    urls = {"redis": REDIS_URL, "rabbitmq": RABBITMQ_URL}
    urls[stopped] = {"redis": "redis://127.0.0.1:{}/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:{}//"}[
        stopped].format(closed_port())
    settings = make_settings(FLOWPLANE_REDIS__URL=urls["redis"], FLOWPLANE_RABBITMQ__URL=urls["rabbitmq"])
    response = _get(settings, "/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks[stopped].startswith("unreachable")
    assert [name for name, result in checks.items() if result != "ok"] == [stopped]
    assert response.json()["status"] == "unavailable"


def test_rabbitmq_is_not_checked_when_events_are_off(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(FLOWPLANE_RABBITMQ__URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}//",
                             FLOWPLANE_EVENTS__ENABLED="false")
    assert _get(settings, "/ready").status_code == 200


def test_without_the_registration_workflow_ready_is_503_and_says_why(make_settings: Callable[..., Settings],
                                                                    tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "user_registration.toml").write_text('name = "user_registration"\nsteps = 3\n')  # invalid
    response = _get(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(tmp_path / "flows")), "/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["registration_workflow"].startswith("missing (no valid user_registration in ")


def test_a_stopped_database_makes_ready_503() -> None:
    settings = load_settings(environ={
        "FLOWPLANE_DATABASE__URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/test",
        "FLOWPLANE_WORKFLOWS__DIRECTORY": str(ROOT / "workflows"),
    })
    container = build(settings, migrate_database=False)
    try:
        with TestClient(create_app(container)) as client:
            response = client.get("/ready")
    finally:
        container.close()
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"
