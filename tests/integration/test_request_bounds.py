"""Bad input is a 4xx, always: deep JSON, foreign media types, odd cursors and huge integers are refused at the
edge with problem details naming what is wrong, before any code that could fail on them sees them."""

import base64
import json
from typing import Any

import pytest
from litestar.testing import TestClient

from app.bootstrap import Container
from app.domain.users import Role
from tests.integration.accounts import login_as, new_user

JSON_ENDPOINTS = ["/api/users", "/api/sessions", "/api/workflows/user_registration/runs"]
RUN_INPUT = {"user_id": "6f1c2f43-58b6-4d8b-9a43-2a1b9f0f6a11", "email": "ada@example.com", "name": "Ada"}


@pytest.fixture
def admin(client: TestClient[Any], container: Container) -> dict[str, str]:
    return login_as(client, container, Role.ADMIN)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def _fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors", [])}


def _nested(depth: int, opener: str, closer: str) -> bytes:
    return (opener * depth + "1" + closer * depth).encode()


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a":', "}")])
def test_json_nested_a_thousand_levels_deep_is_refused(client: TestClient[Any], admin: dict[str, str], path: str,
                                                       opener: str, closer: str) -> None:
    # When a body nests 1,000 levels deep
    response = client.post(path, content=_nested(1000, opener, closer),
                           headers={"content-type": "application/json", **admin})
    # Then it is refused as bad input, saying why
    body = _problem(response, 400)
    assert "nested deeper than" in body["detail"]


def test_nesting_within_the_limit_reaches_validation(client: TestClient[Any], admin: dict[str, str]) -> None:
    # Brackets inside strings do not count, and a run input 30 levels deep is an ordinary value
    tricky = {**new_user(), "name": "[[[[{{{{" * 20}
    assert client.post("/api/users", json=tricky).status_code == 201
    deep_value: Any = 1
    for _ in range(30):
        deep_value = [deep_value]
    response = client.post("/api/workflows/user_registration/runs", json={**RUN_INPUT, "extra": deep_value},
                           headers=admin)
    assert response.status_code in (201, 422), response.text


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                        "application/jsonp", "", "application/json; charset=latin-1"])
def test_json_endpoints_refuse_other_media_types(client: TestClient[Any], admin: dict[str, str], path: str,
                                                 media_type: str) -> None:
    headers = {**admin, "content-type": media_type} if media_type else admin
    body = _problem(client.post(path, content=b"{}", headers=headers), 415)
    assert "application/json" in body["detail"]


@pytest.mark.parametrize("media_type", ["application/json", "application/json; charset=utf-8",
                                        "Application/JSON;Charset=UTF-8", "application/merge-patch+json"])
def test_json_media_types_are_accepted(client: TestClient[Any], media_type: str) -> None:
    response = client.post("/api/users", content=json.dumps(new_user()).encode(),
                           headers={"content-type": media_type})
    assert response.status_code == 201, response.text


def _cursor(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode()


@pytest.mark.parametrize("cursor", [
    _cursor(json.dumps(["2024-01-01T00:00:00", "x"]).encode()),  # a naive datetime
    _cursor(b"[" * 3000 + b"]" * 3000),
    _cursor(json.dumps(["2024-01-01T00:00:00+00:00", ["x"]]).encode()),
    _cursor(json.dumps({"a": 1, "b": 2}).encode()),
    _cursor(json.dumps(["2024-01-01T00:00:00+00:00", "ab\u0000cd"]).encode()),  # PostgreSQL text refuses NUL
    _cursor(b"\xff\xfe"),
    "not base64 at all!",
    "x" * 5000,
])
def test_a_bad_run_cursor_is_refused_naming_the_cursor(client: TestClient[Any], admin: dict[str, str],
                                                       cursor: str) -> None:
    body = _problem(client.get("/api/runs", params={"cursor": cursor}, headers=admin), 422)
    assert _fields(body) == {"cursor"}


def test_a_cursor_the_api_returned_still_works(client: TestClient[Any], container: Container,
                                               admin: dict[str, str]) -> None:
    for _ in range(3):
        assert client.post("/api/workflows/user_registration/runs", json=RUN_INPUT, headers=admin).status_code == 201
    first = client.get("/api/runs", params={"limit": 2}, headers=admin).json()
    second = client.get("/api/runs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    assert second.status_code == 200, second.text
    assert len(first["items"]) == 2 and len(second.json()["items"]) == 1


@pytest.mark.parametrize(("path", "field", "value"), [
    ("/api/tasks?state=dead", "offset", str(2**63)),
    ("/api/tasks?state=pending", "offset", str(2**63)),
    ("/api/tasks?state=dead", "offset", str(2**63 - 1)),
    ("/api/reports", "offset", str(2**63)),
    ("/api/reports", "offset", "9" * 5000),
    ("/api/reports", "offset", "-1"),
    ("/api/tasks?state=dead", "limit", str(2**64)),
    ("/api/runs", "limit", str(2**64)),
    ("/api/schedules/session_cleanup/history", "limit", str(2**64)),
])
def test_integers_out_of_range_are_422_naming_the_field(client: TestClient[Any], admin: dict[str, str], path: str,
                                                         field: str, value: str) -> None:
    separator = "&" if "?" in path else "?"
    body = _problem(client.get(f"{path}{separator}{field}={value}", headers=admin), 422)
    assert _fields(body) == {field}


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/runs/a%00b"), ("post", "/api/runs/a%00b/retry"), ("post", "/api/runs/r/steps/a%00b/wake"),
    ("get", "/api/tasks/a%00b"), ("get", "/api/runs?workflow=%00"), ("get", "/api/tasks?state=dead&task=a%00")])
def test_a_nul_character_in_the_path_or_query_is_refused(client: TestClient[Any], admin: dict[str, str], method: str,
                                                         path: str) -> None:
    # PostgreSQL text cannot hold a NUL: without this check, the queries these lead to failed as 500s there
    body = _problem(client.request(method.upper(), path, headers=admin), 400)
    assert "NUL" in body["detail"]
