"""Dashboard tests over Litestar's TestClient: one client per role, logged in through the login form."""

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from app.api.app import create_app
from app.auth.accounts import create_user
from app.bootstrap import Container
from app.config import Settings
from app.domain.users import Role
from tests.conftest import ROOT
from tests.integration.accounts import PASSWORD

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
LOGIN_CSRF = re.compile(r'name="csrf" value="([A-Za-z0-9_-]{43})"')
Clients = Callable[[Role], TestClient[Any]]


def add_user(container: Container, role: Role) -> str:
    email = f"{role.value}@example.com"
    with Session(container.engine) as session, session.begin():
        create_user(session, container.passwords, email=email, name=role.value, password=PASSWORD, role=role)
    return email


def login_form(client: TestClient[Any], email: str, password: str = PASSWORD, **fields: str) -> dict[str, str]:
    """The login form as a browser sends it: opening it first sets the cookie its token must match."""
    found = LOGIN_CSRF.search(client.get("/dashboard/login").text)
    assert found, "no CSRF token on the login form"
    return {"email": email, "password": password, "csrf": found.group(1), **fields}


def log_in(client: TestClient[Any], email: str) -> None:
    response = client.post("/dashboard/login", data=login_form(client, email), follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient[Any]) -> str:
    found = CSRF.search(client.get("/dashboard/schedules").text)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(FLOWPLANE_SCHEDULER__DIRECTORY=str(ROOT / "schedules"))


@pytest.fixture
def as_role(container: Container) -> Iterator[Clients]:
    """A logged-in dashboard client for a role (its user is created on first use)."""
    clients: dict[Role, TestClient[Any]] = {}

    def get(role: Role) -> TestClient[Any]:
        if role not in clients:
            client = TestClient(create_app(container))
            client.__enter__()
            log_in(client, add_user(container, role))
            clients[role] = client
        return clients[role]

    yield get
    for client in clients.values():
        client.__exit__(None, None, None)
