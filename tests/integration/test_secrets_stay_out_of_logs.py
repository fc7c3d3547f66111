"""No password, password hash or token may reach a log line, even with SQL echo and debug logging on."""

import logging
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from app.api.app import create_app
from app.bootstrap import build
from app.config import Settings
from app.db.models import AuthSession, User
from tests.integration.accounts import bearer, new_user


def test_passwords_hashes_and_tokens_never_reach_the_logs(make_settings: Callable[..., Settings],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    # Given the chattiest configuration: debug everywhere and SQL echo on
    caplog.set_level(logging.DEBUG)
    container = build(make_settings(FLOWPLANE_DATABASE__ECHO="true", FLOWPLANE_API__LOG_LEVEL="debug"))
    password, wrong_password = "s3cret-Pa55word-AAA", "wr0ng-Pa55word-BBB"
    fields = new_user(password=password)
    # When a user registers, logs in, fails to log in, uses and revokes tokens, and sends bad input
    with TestClient(create_app(container)) as client:
        registered = client.post("/api/users", json=fields).json()
        login = client.post("/api/sessions", json={"email": fields["email"], "password": password}).json()
        client.post("/api/sessions", json={"email": fields["email"], "password": wrong_password})
        client.post("/api/users", json={**fields, "password": "tiny-pw"})
        client.post("/api/users", json=fields)  # duplicate
        client.get("/api/users/me", headers=bearer(login["access_token"]))
        client.delete("/api/sessions/current", headers=bearer(login["access_token"]))
        client.get("/api/users/me", headers=bearer(login["access_token"]))
    with container.new_session() as db:
        password_hash = db.exec(select(User.password_hash)).one()
        digests = list(db.exec(select(AuthSession.token_digest)).all())
    container.close()

    # Then the log saw the traffic, but none of the secrets
    logged = "\n".join(_everything(record) for record in caplog.records)
    assert "INSERT INTO users" in logged  # SQL echo really was on
    secrets = [password, wrong_password, "tiny-pw", password_hash, registered["access_token"],
               login["access_token"], *digests]
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == []


def _everything(record: logging.LogRecord) -> str:
    parts: list[Any] = [record.getMessage(), record.exc_text or "", repr(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return " ".join(str(part) for part in parts)
