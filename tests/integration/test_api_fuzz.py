"""Whatever a client sends to the public endpoints: never a 5xx, never a traceback, always problem JSON."""

import base64
import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from app.bootstrap import Container
from app.domain.users import Role
from tests.integration.accounts import login_as
from tests.integration.dashboard.conftest import add_user, log_in

# Any JSON value, with arbitrary unicode (lone surrogates included) in every string.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
texts = st.text(max_size=300)
register_bodies = st.fixed_dictionaries(
    {}, optional={"email": texts | json_values, "name": texts | json_values, "password": texts | json_values}
) | json_values
login_bodies = st.fixed_dictionaries({}, optional={"email": texts, "password": texts | json_values}) | json_values


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _assert_clean(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in response.text
        assert response.json()["status"] == response.status_code


def _post(client: TestClient[Any], path: str, body: Any) -> Any:

    # ensure_ascii keeps lone surrogates as \\ud800 escapes: valid JSON text the server must cope with
    return client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


@FUZZ
@given(body=register_bodies)
def test_registration_never_fails_on_arbitrary_json(client: TestClient[Any], body: Any) -> None:
    _assert_clean(_post(client, "/api/users", body))


@FUZZ
@given(body=login_bodies)
def test_login_never_fails_on_arbitrary_json(client: TestClient[Any], body: Any) -> None:
    _assert_clean(_post(client, "/api/sessions", body))


@FUZZ
@given(email=st.emails(), name=st.text(min_size=1, max_size=50), password=st.text(min_size=10, max_size=40))
def test_plausible_registrations_succeed_or_name_the_field(client: TestClient[Any], email: str, name: str,
                                                          password: str) -> None:
    response = _post(client, "/api/users", {"email": email, "name": name, "password": password})
    _assert_clean(response)
    if response.status_code == 422:
        assert {error["field"] for error in response.json()["errors"]} <= {"email", "name", "password"}


@FUZZ
@given(body=st.fixed_dictionaries({}, optional={"token": texts | json_values}) | json_values)
def test_verification_never_fails_on_arbitrary_json(client: TestClient[Any], body: Any) -> None:
    response = _post(client, "/api/users/verify", body)
    _assert_clean(response)
    assert response.status_code in (400, 404, 415, 422)


@FUZZ
@given(token=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_the_verification_page_answers_any_token_with_a_page(client: TestClient[Any], token: str) -> None:
    response = client.get("/api/users/verify", params={"token": token})
    assert response.status_code in (400, 404, 422), response.text  # 400: a NUL, refused at the edge
    assert response.headers["content-type"] == "text/html; charset=utf-8" and "Traceback" not in response.text


JSON_ENDPOINTS = ["/api/users", "/api/sessions", "/api/users/verify", "/api/events",
                  "/api/workflows/user_registration/runs"]
SHAPES = [("[", "]"), ('{"a":', "}"), ('[{"": ', "}]"), ('{"a": [1, "]", ', "]}")]


@st.composite
def nested_bodies(draw: st.DrawFn, max_depth: int = 3000) -> bytes:
    """A JSON value wrapped 0 to ``max_depth`` levels deep, sometimes left unclosed."""
    opener, closer = draw(st.sampled_from(SHAPES))
    depth = draw(st.integers(0, max_depth))
    closed = draw(st.integers(0, depth)) if draw(st.booleans()) else depth
    return (opener * depth + json.dumps(draw(json_values)) + closer * closed).encode()


# What a client may put in a query parameter: any integer, numbers beyond 64 bits, any text, encoded JSON.
numbers = st.integers() | st.integers(2**62, 2**80).map(str) | st.text("0123456789-+e.", max_size=5000)
# Nested no deeper than a URL can carry (httpx refuses a query over 64 KiB; the widest shape takes 15 bytes a level)
cursors = st.text(max_size=600) | st.builds(lambda body: base64.urlsafe_b64encode(body).decode(),
                                            nested_bodies(max_depth=2000)
                                            | json_values.map(lambda value: json.dumps(value).encode()))
media_types = st.sampled_from(["application/json", "text/plain", "application/problem+json", "", "*/*",
                               "application/json; charset=utf-16", "multipart/form-data; boundary=x"]) | st.text(
    st.characters(min_codepoint=32, max_codepoint=126), max_size=60)  # what a header can carry


@pytest.fixture
def admin(client: TestClient[Any], container: Container) -> dict[str, str]:
    return login_as(client, container, Role.ADMIN)


@FUZZ
@given(path=st.sampled_from(JSON_ENDPOINTS), body=nested_bodies(), media_type=media_types)
def test_json_endpoints_never_fail_on_deep_bodies_or_any_media_type(client: TestClient[Any], admin: dict[str, str],
                                                                   path: str, body: bytes, media_type: str) -> None:
    headers = {**admin, "content-type": media_type} if media_type else admin
    _assert_clean(client.post(path, content=body, headers=headers))


@FUZZ
@given(offset=numbers, limit=numbers, cursor=cursors)
def test_paged_endpoints_never_fail_on_any_query(client: TestClient[Any], admin: dict[str, str], offset: Any,
                                                 limit: Any, cursor: str) -> None:
    for path in ("/api/tasks?state=dead", "/api/tasks?state=pending", "/api/reports", "/api/runs",
                 "/api/schedules/session_cleanup/history"):
        _assert_clean(client.get(path, params={"offset": offset, "limit": limit, "cursor": cursor}, headers=admin))


@FUZZ
@given(offset=numbers, state=st.sampled_from(["dead", "pending"]) | st.text(max_size=20), since=st.text(max_size=20))
def test_dashboard_pages_never_fail_on_any_query(client: TestClient[Any], container: Container, offset: Any,
                                                 state: str, since: str) -> None:
    if "flowplane_dashboard" not in client.cookies:
        log_in(client, add_user(container, Role.OPERATOR))
    for path, params in (("/dashboard/tasks", {"state": state}), ("/dashboard/runs", {"since": since})):
        response = client.get(path, params={**params, "offset": offset})
        assert response.status_code < 500, response.text
        assert "text/html" in response.headers["content-type"]


path_texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)  # a URL carries no lone surrogate


@FUZZ
@given(run_id=path_texts, step_id=path_texts)
def test_waking_any_step_of_any_run_never_fails(client: TestClient[Any], admin: dict[str, str], run_id: str,
                                                step_id: str) -> None:
    path = f"/api/runs/{urllib.parse.quote(run_id, safe='')}/steps/{urllib.parse.quote(step_id, safe='')}/wake"
    response = client.post(path, headers=admin)
    _assert_clean(response)
    assert response.status_code in (400, 404, 405)  # 400: a NUL; 405: an empty id leaves another route's path
