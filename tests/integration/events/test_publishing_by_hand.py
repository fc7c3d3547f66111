"""An operator publishes an event by hand, by CLI or API (admin only): validated against the catalogue, written
through the outbox, recorded in the operator audit log. On SQLite and PostgreSQL."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from app.api.app import create_app
from app.bootstrap import Container, build
from app.config import Settings
from app.db.models import OperatorAction, OutboxMessage
from app.domain.users import Role
from app.plane.envelope import Envelope
from tests.cli import invoke
from tests.conftest import TEST_ENV
from tests.integration.accounts import login_as
from tests.servers import closed_port

VERIFIED = {"user_id": "u-1", "email": "ada@example.com", "verified_at": "2026-12-02T10:00:00+00:00"}


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    """Settings whose events stay in the outbox (the broker is a closed port), where a test can read them."""
    return {**TEST_ENV, "FLOWPLANE_DATABASE__URL": database_url,
            "FLOWPLANE_RABBITMQ__URL": f"amqp://guest:guest@127.0.0.1:{closed_port()}//"}


@pytest.fixture
def container(env: dict[str, str], make_settings: Callable[..., Settings]) -> Iterator[Container]:
    built = build(make_settings(**{key: value for key, value in env.items() if key != "FLOWPLANE_DATABASE__URL"}))
    yield built
    built.close()


def _outbox(container: Container) -> list[Envelope]:
    with Session(container.engine) as db:
        return [Envelope.from_json(row.envelope) for row in db.exec(select(OutboxMessage)).all()
                if row.kind == "event"]


def test_the_cli_publishes_a_valid_event_through_the_outbox(container: Container, env: dict[str, str],
                                                            tmp_path: Path) -> None:
    ran = invoke(["events", "publish", "user.email_verified", json.dumps(VERIFIED)], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    [event] = _outbox(container)
    assert ran.stdout.strip() == event.id
    assert event.type == "user.email_verified" and event.payload["user_id"] == "u-1"


@pytest.mark.parametrize(("args", "says"), [
    (["user.emailverified", json.dumps(VERIFIED)], ["unknown event type 'user.emailverified'", "user.verified"]),
    (["user.email_verified", json.dumps({"user_id": "u-1", "verified_at": "yesterday"})],
     ["payload.email: Field required", "payload.verified_at: Input should be a valid datetime"]),
    (["user.verified", json.dumps({**VERIFIED, "name": "Ada"})], ["payload.verified_at: Extra inputs",
                                                                  "payload.name: Extra inputs"]),
    (["user.verified", "{not json"], ["not valid JSON"]),
    (["user.verified", "[1, 2]"], ["must be a JSON object"]),
])
def test_the_cli_refuses_bad_input_naming_each_bad_field(container: Container, env: dict[str, str], tmp_path: Path,
                                                         args: list[str], says: list[str]) -> None:
    ran = invoke(["events", "publish", *args], env, tmp_path)
    assert ran.returncode == 1
    assert all(text in ran.stderr for text in says), ran.stderr
    assert _outbox(container) == []


def test_the_api_publishes_for_admins_only_and_records_who(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        user, operator, admin = (login_as(client, container, role) for role in (Role.USER, Role.OPERATOR, Role.ADMIN))
        body = {"type": "user.verified", "payload": {"user_id": "u-2", "email": "bob@example.com"}}
        assert client.post("/api/events", json=body).status_code == 401
        assert client.post("/api/events", json=body, headers=user).status_code == 403
        assert client.post("/api/events", json=body, headers=operator).status_code == 403
        assert _outbox(container) == []
        created = client.post("/api/events", json=body, headers=admin)
    assert created.status_code == 201, created.text
    [event] = _outbox(container)
    assert created.json() == {"message_id": event.id}
    assert (event.type, event.payload) == ("user.verified", body["payload"])
    with Session(container.engine) as db:
        [action] = db.exec(select(OperatorAction)).all()
    assert (action.action, action.target, action.outcome, action.email) == (
        "event.publish", "user.verified", "ok", "admin@example.com")
    assert event.id in (action.detail or "")


@pytest.mark.parametrize(("body", "fields"), [
    ({"type": "user.nothing", "payload": {}}, ["type"]),
    ({"type": "user.email_verified", "payload": {"user_id": "", "email": "x", "verified_at": "2026-12-02T10:00"}},
     ["payload.user_id", "payload.email", "payload.verified_at"]),
    ({"type": "user.verified", "payload": "not an object"}, ["payload"]),
    ({"payload": {}}, ["type"]),
])
def test_the_api_names_each_bad_field(container: Container, body: dict[str, Any], fields: list[str]) -> None:
    with TestClient(create_app(container)) as client:
        admin = login_as(client, container, Role.ADMIN)
        refused = client.post("/api/events", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert sorted(error["field"] for error in refused.json()["errors"]) == sorted(fields)
    assert _outbox(container) == []


def test_with_events_off_no_consumer_gets_it_and_the_operator_is_told(
        make_settings: Callable[..., Settings], env: dict[str, str], tmp_path: Path) -> None:
    payload = {"user_id": "u", "email": "u@example.com"}
    off = {**env, "FLOWPLANE_EVENTS__ENABLED": "false"}
    ran = invoke(["events", "publish", "user.verified", json.dumps(payload)], off, tmp_path)
    assert ran.returncode == 0 and ran.stdout == "" and "events are off" in ran.stderr
    bad = invoke(["events", "publish", "user.verified", json.dumps({"user_id": "u"})], off, tmp_path)
    assert bad.returncode == 1 and "payload.email" in bad.stderr  # checked all the same
    container = build(make_settings(FLOWPLANE_EVENTS__ENABLED="false"))
    try:
        with TestClient(create_app(container)) as client:
            admin = login_as(client, container, Role.ADMIN)
            answer = client.post("/api/events", json={"type": "user.verified", "payload": payload}, headers=admin)
        assert (answer.status_code, answer.json()) == (201, {"message_id": None})
        assert _outbox(container) == []
    finally:
        container.close()
