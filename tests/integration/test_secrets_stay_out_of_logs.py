"""No password, password hash or token may reach a log line, even with SQL echo and debug logging on."""

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlmodel import select

from app import logs
from app.api.app import create_app
from app.bootstrap import Container, build
from app.config import Settings
from app.db.models import AuthSession, User
from tests.integration.accounts import bearer, new_user
from tests.integration.served import serving


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


@pytest.fixture
def logging_as_served() -> Iterator[io.StringIO]:
    """Logging as `flowplane api` sets it up (JSON lines), into a buffer; the test's own setup comes back after."""
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger.handlers[:], logger.filters[:], logger.propagate, logger.level) for logger in loggers]
    logs.configure("info", json_lines=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    for logger, (handlers, filters, propagate, level) in zip(loggers, saved, strict=True):
        logger.handlers[:], logger.filters[:], logger.propagate = handlers, filters, propagate
        logger.setLevel(level)


def test_the_access_log_masks_credentials_in_query_strings(container: Container,
                                                           logging_as_served: io.StringIO) -> None:
    # When requests carry credentials in their query strings, as some clients and links do
    with serving(container) as url, httpx.Client(base_url=url) as http:
        assert http.get("/health", params={"access_token": "t0ken-AAA", "page": "2"}).status_code == 200
        http.get("/api/users/me", params={"Password": "pa55-BBB", "API_KEY": "k3y-CCC"})
        http.get("/dashboard/login", params={"next": "/dashboard", "Secret": "t0ken-DDD"})
    # Then the access log has each request, with the values of those parameters masked
    lines = [json.loads(line) for line in logging_as_served.getvalue().splitlines()]
    served = [line for line in lines if not line["logger"].startswith(("httpx", "httpcore"))]  # not the client's
    access = [line["message"] for line in served if line["logger"] == "uvicorn.access"]
    assert any("/health?access_token=***&page=2" in message for message in access), access
    assert len(access) == 3
    logged = json.dumps(served)
    leaked = [secret for secret in ("t0ken-AAA", "pa55-BBB", "k3y-CCC", "t0ken-DDD") if secret in logged]
    assert leaked == []


def _verification_link(container: Container) -> tuple[str, str]:
    """A registered user's verification token, and its digest."""
    from datetime import timedelta

    from app.domain.verification import digest
    from app.handlers.verification_links import issue

    with TestClient(create_app(container)) as client:
        user_id = client.post("/api/users", json=new_user()).json()["user"]["id"]
    with container.new_session() as db, db.begin():
        token = issue(db, uuid.UUID(user_id), container.clock.now(), timedelta(hours=1))
    return token, digest(token)


def test_verification_tokens_never_reach_the_logs(make_settings: Callable[..., Settings],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # Given debug logging and SQL echo, a token verified through both doors, and a bad one
    caplog.set_level(logging.DEBUG)
    container = build(make_settings(FLOWPLANE_DATABASE__ECHO="true", FLOWPLANE_API__LOG_LEVEL="debug"))
    token, token_digest = _verification_link(container)
    with TestClient(create_app(container)) as client:
        assert client.post("/api/users/verify", json={"token": token}).status_code == 200
        assert client.get("/api/users/verify", params={"token": token}).status_code == 200
        assert client.post("/api/users/verify", json={"token": token[:-1] + "!"}).status_code == 422
    container.close()
    ours = [record for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]  # the client's
    logged = "\n".join(_everything(record) for record in ours)
    assert "UPDATE email_verifications" in logged  # SQL echo really was on
    assert [secret for secret in (token, token[:-1], token_digest) if secret in logged] == []


def test_the_access_log_masks_the_verification_link(container: Container, logging_as_served: io.StringIO) -> None:
    token, _ = _verification_link(container)
    with serving(container) as url, httpx.Client(base_url=url) as http:
        assert http.get("/api/users/verify", params={"token": token}).status_code == 200
    lines = [json.loads(line) for line in logging_as_served.getvalue().splitlines()]
    served = [line for line in lines if not line["logger"].startswith(("httpx", "httpcore"))]
    access = [line["message"] for line in served if line["logger"] == "uvicorn.access"]
    assert any("/api/users/verify?token=*** " in message for message in access), access
    assert token not in json.dumps(served)
