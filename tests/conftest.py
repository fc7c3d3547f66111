import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import Container, build
from app.config import Settings, load_settings
from tests.servers import POSTGRES_URL, RUN_ID, require

ROOT = Path(__file__).resolve().parents[1]
# Cheap hashing and generous limits, so tests measure behaviour rather than argon2's cost; the
# repository's workflow files, since each test runs in a directory of its own.
TEST_ENV = {
    "FLOWPLANE_WORKFLOWS__DIRECTORY": str(ROOT / "workflows"),
    "FLOWPLANE_AUTH__ARGON2_TIME_COST": "1",
    "FLOWPLANE_AUTH__ARGON2_MEMORY_KIB": "64",
    "FLOWPLANE_AUTH__ARGON2_PARALLELISM": "1",
    "FLOWPLANE_AUTH__REGISTER_RATE_LIMIT": "100000/minute",
    "FLOWPLANE_AUTH__LOGIN_RATE_LIMIT": "100000/minute",
    "FLOWPLANE_AUTH__VERIFY_RATE_LIMIT": "100000/minute",
}
_schema_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing a test does may touch the developer's var/ or read the repository's config.toml.
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("FLOWPLANE_") and not name.startswith("FLOWPLANE_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test gets an empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/flowplane.db"
        return
    require("postgresql")
    schema = f"t_{RUN_ID}_{next(_schema_numbers)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return load_settings(environ={"FLOWPLANE_DATABASE__URL": database_url, **TEST_ENV, **env})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build(settings)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(container)) as test_client:
        yield test_client
