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
