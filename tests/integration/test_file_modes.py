"""What Flowplane keeps under var/ (password hashes, emails, queued payloads, mail) is for its own user only:
directories 0700, files 0600, SQLite's WAL and shared-memory files included."""

import stat
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import build
from app.config import load_settings
from tests.conftest import TEST_ENV
from tests.integration.accounts import register


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_var_is_private_after_build(tmp_path: Path) -> None:
    # Given the embedded defaults (everything under ./var) in a directory where nothing exists yet
    assert not (tmp_path / "var").exists()
    container = build(load_settings(environ=TEST_ENV))
    try:
        # When the API has written something (a user, their session and a run)
        with TestClient(create_app(container)) as client:
            register(client)
            var = tmp_path / "var"
            # Then every directory is 0700 and every file 0600
            for name in ("flowplane.db", "tasks.db", "events.db", "crm.db"):
                assert (var / name).is_file(), name
            assert (var / "flowplane.db-wal").is_file()  # WAL mode: its side files must not be readable either
            for path in [var, *var.rglob("*")]:
                expected = 0o700 if path.is_dir() else 0o600
                assert _mode(path) == expected, f"{path.relative_to(tmp_path)}: {oct(_mode(path))}"
            assert {path.name for path in var.iterdir() if path.is_dir()} >= {"mail", "reports"}
    finally:
        container.close()


def test_a_directory_that_exists_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    env: dict[str, Any] = {**TEST_ENV, "FLOWPLANE_DATABASE__URL": f"sqlite:///{shared}/flowplane.db"}
    build(load_settings(environ=env)).close()
    assert _mode(shared) == 0o755 and _mode(shared / "flowplane.db") == 0o600
