"""Small helpers for talking to the accounts API in tests."""

import uuid
from typing import Any

from litestar.testing import TestClient

PASSWORD = "correct horse battery staple"


def new_user(**fields: str) -> dict[str, str]:
    unique = uuid.uuid4().hex[:12]
    return {"email": f"user-{unique}@example.com", "name": f"User {unique}", "password": PASSWORD, **fields}


def register(client: TestClient[Any], **fields: str) -> dict[str, Any]:
    response = client.post("/api/users", json=new_user(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login_as(client: TestClient[Any], container: Any, role: Any) -> dict[str, str]:
    """Create a user with ``role`` directly in the database and return its bearer header."""
    from sqlmodel import Session

    from app.auth.accounts import create_user

    email = f"{role.value}@example.com"
    with Session(container.engine) as session, session.begin():
        create_user(session, container.passwords, email=email, name=role.value, password=PASSWORD, role=role)
    token = client.post("/api/sessions", json={"email": email, "password": PASSWORD}).json()["access_token"]
    return bearer(token)
