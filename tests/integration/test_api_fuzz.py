"""Whatever a client sends to the public endpoints: never a 5xx, never a traceback, always problem JSON."""

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

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
