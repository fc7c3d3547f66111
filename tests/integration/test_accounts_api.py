"""Registration, login, logout and /me through the real app, on SQLite and PostgreSQL."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import update
from sqlmodel import select

from app.auth import tokens
from app.bootstrap import Container
from app.db.models import AuthSession, StepRun, User, WorkflowRun
from tests.integration.accounts import PASSWORD, bearer, new_user, register

Client = TestClient[Any]


def test_registration_returns_a_login_and_commits_user_and_session(client: Client, container: Container) -> None:
    # Given a new address in mixed case
    fields = new_user(email="Ada.Lovelace@Example.COM", name="  Ada Lovelace ")
    # When it registers
    response = client.post("/api/users", json=fields)
    # Then it gets the reference design's login response, with the email stored normalised
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "access_token", "token_type", "expires_at", "workflow_run_id"}
    assert set(body["user"]) == {"id", "email", "name", "created_at"}
    assert body["user"]["email"] == "ada.lovelace@example.com"
    assert body["user"]["name"] == "Ada Lovelace"
    assert body["token_type"] == "bearer"
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=11, minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=12)
    assert "password" not in response.text and "hash" not in response.text
    # And the user row (role user, argon2 hash) and its session are in the database
    with container.new_session() as db:
        user = db.exec(select(User).where(User.email == "ada.lovelace@example.com")).one()
        assert user.role == "user"
        assert user.password_hash.startswith("$argon2id$")
        session = db.exec(select(AuthSession).where(AuthSession.user_id == user.id)).one()
        assert session.token_digest == tokens.digest(body["access_token"])
        # And the registration workflow's run, its steps and their outbox rows committed with them
        run = db.get(WorkflowRun, body["workflow_run_id"])
        assert run is not None and run.workflow == "user_registration"
        assert json.loads(run.input) == {"user_id": str(user.id), "email": user.email, "name": user.name}
        steps = {row.step_id: row.status for row in db.exec(select(StepRun).where(StepRun.run_id == run.id))}
        assert steps == {"announce": "succeeded", "welcome_email": "ready",
                         **dict.fromkeys(("await_verification", "remind", "await_after_reminder", "expire",
                                          "announce_expired", "announce_verified", "record_onboarding"), "waiting")}


def test_the_registration_token_works_for_me(client: Client) -> None:
    body = register(client)
    response = client.get("/api/users/me", headers=bearer(body["access_token"]))
    assert response.status_code == 200
    assert response.json() == {**body["user"], "role": "user", "email_verified_at": None}  # until the mail's link


@pytest.mark.parametrize("variant", ["same", "upper", "mixed", "padded"])
def test_duplicate_email_conflicts_whatever_its_case(client: Client, container: Container, variant: str) -> None:
    first = register(client)["user"]["email"]
    again = {"same": first, "upper": first.upper(), "mixed": first.title(), "padded": f"  {first}  "}[variant]
    response = client.post("/api/users", json=new_user(email=again))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [{"field": "email", "message": "is already registered"}]
    with container.new_session() as db:
        assert len(db.exec(select(User)).all()) == 1


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("email", "not-an-address", "valid email"),
        ("email", "", "valid email"),
        ("email", 42, "valid string"),
        ("email", "a" * 250 + "@x.io", "at most 254"),
        ("name", "", "must not be empty"),
        ("name", "   ", "must not be empty"),
        ("name", "x" * 201, "at most 200"),
        ("name", "bell\x07", "control characters"),
        ("name", "Ada\u2028Lovelace", "line breaks"),
        ("name", "Ada\u2029Lovelace", "line breaks"),
        ("name", "Ada\x85Lovelace", "control characters"),
        ("name", "=?utf-8?q?=0D=0AReply-To:_attacker@evil.example?=", "encoded"),
        ("email", "=?utf-8?q?eve=40evil.example_?=@example.com", "encoded"),
        ("name", None, "valid string"),
        ("password", "short", "at least 10"),
        ("password", "p" * 129, "at most 128"),
        ("password", ["a list"], "valid string"),
    ],
)
def test_each_invalid_field_is_named(client: Client, container: Container, field: str, value: Any,
                                     fragment: str) -> None:
    response = client.post("/api/users", json={**new_user(), field: value})
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert [error["field"] for error in body["errors"]] == [field]
    assert fragment in body["errors"][0]["message"]
    with container.new_session() as db:
        assert db.exec(select(User)).all() == []


def test_every_bad_field_is_named_at_once(client: Client) -> None:
    response = client.post("/api/users", json={"email": "nope", "name": "", "password": "x", "extra": 1})
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"email", "name", "password", "extra"}


def test_missing_fields_are_named(client: Client) -> None:
    response = client.post("/api/users", json={})
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"email", "name", "password"}


def test_password_equal_to_the_email_is_refused(client: Client) -> None:
    email = f"{'longenough'}@example.com"
    for password in (email, email.upper(), "longenough"):
        response = client.post("/api/users", json=new_user(email=email, password=password))
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "password", "message": "must not be the email address"}]


def test_malformed_json_and_oversized_bodies_get_problems(client: Client) -> None:
    malformed = client.post("/api/users", content=b'{"email": ', headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["title"] == "Bad Request"
    huge = client.post("/api/users", json=new_user(name="n" * 70_000))
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("application/problem+json")


def test_login_succeeds_with_any_case_of_the_email(client: Client) -> None:
    user = register(client)["user"]
    response = client.post("/api/sessions", json={"email": user["email"].upper(), "password": PASSWORD})
    assert response.status_code == 201
    token = response.json()["access_token"]
    assert client.get("/api/users/me", headers=bearer(token)).json()["id"] == user["id"]


def test_login_failures_look_the_same_whether_or_not_the_email_exists(client: Client) -> None:
    user = register(client)["user"]
    wrong_password = client.post("/api/sessions", json={"email": user["email"], "password": "not the password"})
    unknown_email = client.post("/api/sessions", json={"email": "nobody@example.com", "password": PASSWORD})
    not_an_email = client.post("/api/sessions", json={"email": "nobody", "password": PASSWORD})
    for response in (wrong_password, unknown_email, not_an_email):
        assert response.status_code == 401
        assert response.content == wrong_password.content
        assert response.headers["www-authenticate"] == wrong_password.headers["www-authenticate"]


def test_logout_revokes_the_token_at_once(client: Client) -> None:
    user = register(client)["user"]
    kept = client.post("/api/sessions", json={"email": user["email"], "password": PASSWORD}).json()
    dropped = client.post("/api/sessions", json={"email": user["email"], "password": PASSWORD}).json()

    assert client.delete("/api/sessions/current", headers=bearer(dropped["access_token"])).status_code == 204

    assert client.get("/api/users/me", headers=bearer(dropped["access_token"])).status_code == 401
    assert client.delete("/api/sessions/current", headers=bearer(dropped["access_token"])).status_code == 401
    assert client.get("/api/users/me", headers=bearer(kept["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}, bearer("fp_not-a-real-token"),
     {"Authorization": "Bearer \u00e9t\u00e9".encode()}],
)
def test_me_without_a_valid_token_is_401(client: Client, headers: dict[str, Any]) -> None:
    response = client.get("/api/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_an_expired_session_is_rejected(client: Client, container: Container) -> None:
    body = register(client)
    with container.new_session() as db, db.begin():
        db.exec(update(AuthSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))  # type: ignore[call-overload]
    assert client.get("/api/users/me", headers=bearer(body["access_token"])).status_code == 401


def test_openapi_describes_the_api(client: Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert {"/api/users", "/api/users/me", "/api/sessions", "/api/sessions/current", "/health", "/ready"} <= set(
        schema["paths"]
    )
    assert set(schema["components"]["schemas"]["RegisterRequest"]["required"]) == {"email", "name", "password"}
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_openapi_names_the_headers_a_refusal_carries(client: Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    login = paths["/api/sessions"]["post"]["responses"]
    assert login["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert login["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "Retry-After" in paths["/api/users"]["post"]["responses"]["503"]["headers"]
    assert "headers" not in paths["/ready"]["get"]["responses"]["503"]  # its readiness JSON, not a refusal
    # the served 401 carries what the document says
    assert client.get("/api/users/me").headers["WWW-Authenticate"].startswith("Bearer")
