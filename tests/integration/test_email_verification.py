"""Email verification through the API, on SQLite and PostgreSQL: a link verifies once and publishes once; a
tampered, malformed, unknown or expired one is a 4xx that changes nothing; the page, the rate limit, and the
login rules for unverified and deactivated accounts."""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.api.app import create_app
from app.auth import verification
from app.bootstrap import Container, build
from app.clock import FileOffsetClock
from app.config import Settings
from app.db.models import EmailVerification, OutboxMessage, User
from app.domain import verification as tokens
from app.domain.errors import UnknownToken
from app.handlers.verification_links import issue
from app.plane.envelope import Envelope
from tests.integration.accounts import PASSWORD, bearer, register
from tests.servers import closed_port

Client = TestClient[Any]
VALID_FOR = timedelta(hours=48)
PAGE_GUARDS = {"referrer-policy": "no-referrer", "cache-control": "no-store", "x-content-type-options": "nosniff",
               "x-frame-options": "DENY"}


@pytest.fixture
def clock(tmp_path: Path) -> FileOffsetClock:
    return FileOffsetClock(tmp_path / "clock")


@pytest.fixture
def make_api(make_settings: Callable[..., Settings], clock: FileOffsetClock) -> Iterator[Callable[..., Container]]:
    """Containers whose events stay in the outbox (the broker is a closed port), where a test counts them."""
    built: list[Container] = []

    def make(**env: str) -> Container:
        down = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
        built.append(build(make_settings(FLOWPLANE_RABBITMQ__URL=down, **env), clock=clock))
        return built[-1]

    yield make
    for container in built:
        container.close()


@pytest.fixture
def container(make_api: Callable[..., Container]) -> Container:
    return make_api()


@pytest.fixture
def client(container: Container) -> Iterator[Client]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


def _link(container: Container, user_id: str, valid_for: timedelta = VALID_FOR) -> str:
    with Session(container.engine) as db, db.begin():
        return issue(db, uuid.UUID(user_id), container.clock.now(), valid_for)


def _verified_events(container: Container) -> list[dict[str, Any]]:
    with Session(container.engine) as db:
        envelopes = [Envelope.from_json(row.envelope) for row in db.exec(select(OutboxMessage)).all()]
    return [envelope.payload for envelope in envelopes if envelope.type == "user.email_verified"]


def _unchanged(container: Container, user_id: str) -> bool:
    with Session(container.engine) as db:
        user = db.get(User, uuid.UUID(user_id))
        used = db.exec(select(EmailVerification.used_at).where(col(EmailVerification.used_at).is_not(None))).all()
    assert user is not None
    return user.email_verified_at is None and used == [] and _verified_events(container) == []


def _tampered(token: str) -> str:
    position = len(token) // 2  # one character of the random part, swapped for another of the alphabet
    return token[:position] + ("B" if token[position] == "A" else "A") + token[position + 1:]


def test_a_link_verifies_once_and_publishes_one_event(client: Client, container: Container) -> None:
    # Given a new user with a verification link
    registered = register(client)
    user, login = registered["user"], bearer(registered["access_token"])
    token = _link(container, user["id"])
    assert client.get("/api/users/me", headers=login).json()["email_verified_at"] is None
    # When they open it
    first = client.post("/api/users/verify", json={"token": token})
    # Then they are verified, and user.email_verified waits in the outbox with the same time
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"user_id", "email", "email_verified_at"}
    assert (body["user_id"], body["email"]) == (user["id"], user["email"])
    assert client.get("/api/users/me", headers=login).json()["email_verified_at"] == body["email_verified_at"]
    [event] = _verified_events(container)
    assert event.keys() == {"user_id", "email", "verified_at"} and token not in str(event)
    assert (event["user_id"], event["email"]) == (user["id"], user["email"])
    assert datetime.fromisoformat(event["verified_at"]) == datetime.fromisoformat(body["email_verified_at"])
    # And a second click, by either door, answers the same and publishes nothing more
    again = client.post("/api/users/verify", json={"token": token})
    assert (again.status_code, again.json()) == (200, body)
    page = client.get("/api/users/verify", params={"token": token})
    assert page.status_code == 200 and "Already verified" in page.text
    assert len(_verified_events(container)) == 1


@pytest.mark.parametrize(("kind", "status"), [("tampered", 404), ("malformed", 422), ("unknown", 404),
                                              ("expired", 410)])
def test_a_bad_link_is_refused_and_changes_nothing(client: Client, container: Container, clock: FileOffsetClock,
                                                   kind: str, status: int) -> None:
    # Given a user with a link, and a bad variant of it
    user = register(client)["user"]
    token = _link(container, user["id"])
    bad = {"tampered": _tampered(token), "malformed": token[:-1] + "=", "unknown": tokens.new_token(),
           "expired": token}[kind]
    if kind == "expired":
        clock.advance(VALID_FOR + timedelta(seconds=1))
    # When it is used through the API and through the page
    answer = client.post("/api/users/verify", json={"token": bad})
    page = client.get("/api/users/verify", params={"token": bad})
    # Then both refuse it with the documented status, and nothing changed: no event, not verified, not used
    assert answer.status_code == page.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert page.headers["content-type"].startswith("text/html")
    if kind == "malformed":
        assert answer.json()["errors"] == [{"field": "token", "message": answer.json()["errors"][0]["message"]}]
    assert _unchanged(container, user["id"])
    if kind == "tampered":  # the real link still works
        assert client.post("/api/users/verify", json={"token": token}).status_code == 200


def test_the_page_says_each_outcome_with_its_status_and_keeps_the_token_to_itself(client: Client,
                                                                                  container: Container) -> None:
    # An address with a quote in it, which the page must escape
    user = register(client, email=f"o'brien-{uuid.uuid4().hex[:8]}@example.com")["user"]
    token = _link(container, user["id"])
    answers = {
        "verified": client.get("/api/users/verify", params={"token": token}),
        "already": client.get("/api/users/verify", params={"token": token}),
        "unknown": client.get("/api/users/verify", params={"token": tokens.new_token()}),
        "malformed": client.get("/api/users/verify", params={"token": "<script>alert(1)</script>"}),
        "missing": client.get("/api/users/verify"),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {"verified": 200, "already": 200, "unknown": 404, "malformed": 422, "missing": 422}
    assert "Email address verified" in answers["verified"].text and "Already verified" in answers["already"].text
    assert "o&#x27;brien" in answers["verified"].text and "o'brien" not in answers["verified"].text
    for name, response in answers.items():
        assert response.headers["content-type"] == "text/html; charset=utf-8", name
        assert PAGE_GUARDS.items() <= response.headers.items(), name
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, name
        assert "<script" not in response.text and "http" not in response.text.split("</head>")[1], name
        assert token not in response.text, name


def test_verifying_is_rate_limited_per_client_like_login(make_api: Callable[..., Container]) -> None:
    # Given a limit of 3 an hour (an hour: the fixed window must not roll over mid-test)
    container = make_api(FLOWPLANE_AUTH__VERIFY_RATE_LIMIT="3/hour")
    with TestClient(create_app(container)) as client:
        # When one client tries a fourth time within the hour, through either door
        statuses = [client.post("/api/users/verify", json={"token": tokens.new_token()}).status_code,
                    client.get("/api/users/verify", params={"token": tokens.new_token()}).status_code,
                    client.post("/api/users/verify", json={"token": tokens.new_token()}).status_code]
        refused_json = client.post("/api/users/verify", json={"token": tokens.new_token()})
        refused_page = client.get("/api/users/verify", params={"token": tokens.new_token()})
        # Then it is refused with a usable Retry-After: problem JSON for the API, a page for the browser
        assert statuses == [404, 404, 404]
        assert refused_json.status_code == refused_page.status_code == 429
        assert refused_json.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused_page.headers["retry-after"]) <= 3600
        assert "Too many attempts" in refused_page.text and PAGE_GUARDS.items() <= refused_page.headers.items()
        # And logging in keeps its own allowance
        assert client.post("/api/sessions", json={"email": "x@example.com", "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("required", [True, False])
def test_whether_an_unverified_user_may_log_in_is_a_setting(make_api: Callable[..., Container],
                                                           required: bool) -> None:
    container = make_api(FLOWPLANE_AUTH__REQUIRE_VERIFIED_EMAIL=str(required).lower())
    with TestClient(create_app(container)) as client:
        user = register(client)["user"]
        credentials = {"email": user["email"], "password": PASSWORD}
        # A wrong password is the same 401 as ever: the verification is told only to who knows the password
        assert client.post("/api/sessions", json={**credentials, "password": "wrong password!"}).status_code == 401
        unverified = client.post("/api/sessions", json=credentials)
        if required:
            assert unverified.status_code == 403
            assert unverified.headers["content-type"].startswith("application/problem+json")
            assert "verify your email address" in unverified.json()["detail"]
        else:
            assert unverified.status_code == 201
        client.post("/api/users/verify", json={"token": _link(container, user["id"])})
        assert client.post("/api/sessions", json=credentials).status_code == 201


def test_a_deactivated_account_cannot_log_in_verify_or_use_its_sessions(client: Client,
                                                                         container: Container) -> None:
    # Given a user with a live session and an unused link, whose account is then deactivated
    registered = register(client)
    user = registered["user"]
    token = _link(container, user["id"])
    with Session(container.engine) as db, db.begin():
        db.execute(update(User).where(col(User.id) == uuid.UUID(user["id"]))
                   .values(deactivated_at=container.clock.now()))
    credentials = {"email": user["email"], "password": PASSWORD}
    # Then the right password gets a 403 saying why, a wrong one the usual 401
    refused = client.post("/api/sessions", json=credentials)
    assert refused.status_code == 403 and "deactivated" in refused.json()["detail"]
    assert client.post("/api/sessions", json={**credentials, "password": "wrong password!"}).status_code == 401
    # And the old session stops working, and the link cannot verify the account
    assert client.get("/api/users/me", headers=bearer(registered["access_token"])).status_code == 401
    assert client.post("/api/users/verify", json={"token": token}).status_code == 403
    assert client.get("/api/users/verify", params={"token": token}).status_code == 403
    assert _unchanged(container, user["id"])


def test_a_second_link_after_verifying_answers_success_and_publishes_nothing(client: Client,
                                                                              container: Container) -> None:
    # Given a user who got two links (a resent mail) and verified with the first
    user = register(client)["user"]
    first, second = _link(container, user["id"]), _link(container, user["id"])
    verified_at = client.post("/api/users/verify", json={"token": first}).json()["email_verified_at"]
    # When they open the second
    answer = client.post("/api/users/verify", json={"token": second})
    # Then it answers the same success, is used up, and no second event is published
    assert answer.status_code == 200 and answer.json()["email_verified_at"] == verified_at
    assert len(_verified_events(container)) == 1
    with Session(container.engine) as db:
        assert all(row.used_at is not None for row in db.exec(select(EmailVerification)).all())


def test_two_clicks_at_once_publish_one_event(client: Client, container: Container) -> None:
    user = register(client)["user"]
    token = _link(container, user["id"])
    start, answers = threading.Barrier(2), []

    def click() -> None:
        start.wait(timeout=10)
        with Session(container.engine) as db, db.begin():
            answers.append(verification.verify(db, token, container.clock.now(), container.plane))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answer.already for answer in answers) == [False, True]
    assert answers[0].email_verified_at == answers[1].email_verified_at
    assert len(_verified_events(container)) == 1


def test_an_expired_link_is_refused_by_the_moved_clock_alone(container: Container, clock: FileOffsetClock,
                                                             client: Client) -> None:
    user = register(client)["user"]
    token = _link(container, user["id"], valid_for=timedelta(hours=1))
    clock.advance(timedelta(minutes=59))
    with Session(container.engine) as db:
        assert verification.verify(db, token, container.clock.now(), container.plane).already is False
        db.rollback()  # a dry run: nothing kept
    clock.advance(timedelta(minutes=2))
    assert client.post("/api/users/verify", json={"token": token}).status_code == 410
    with Session(container.engine) as db, pytest.raises(UnknownToken):
        verification.verify(db, _tampered(token), container.clock.now(), container.plane)
