"""The OpenAPI document is the API: schemathesis sends every operation what its document allows and what it does
not, anonymously and as an admin, to the app served as `flowplane api` serves it, and holds every answer to the
document with each of its checks: no server error, a declared status, media type, body and headers, data the
document allows accepted and data it refuses refused, 405 and the right Allow for an undeclared method, auth not
ignored. The run is schemathesis' own (examples, coverage, fuzzing and stateful phases), bounded in examples and
deterministic, on each test's own database."""

import base64
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import Status, events, from_schema

from app.bootstrap import Container
from app.domain.users import Role
from tests.integration.accounts import PASSWORD
from tests.integration.dashboard.conftest import add_user
from tests.integration.served import serving

# The page cursor of GET /api/runs is opaque to clients, one the API returned: the document names its format, and
# this teaches it (a run's creation time and id, as app.workflows.views.encode_cursor writes them)
schemathesis.openapi.format("cursor", st.builds(
    lambda moment, run_id: base64.urlsafe_b64encode(json.dumps([moment.isoformat(), run_id.hex]).encode()).decode(),
    st.datetimes(timezones=st.just(UTC)), st.uuids()))

SETTINGS: dict[str, Any] = {
    "checks": {"enabled": True},  # every check schemathesis has
    "generation": {"max-examples": 5, "deterministic": True},
    "workers": 1,
    "auth": {"auto-signup": False},
    "operations": [{
        # A run's input is the workflow's own (GET /api/workflows/{name}), which no one schema of the body can say
        # for every name: a body the document allows may be refused, naming the fields.
        "include-name": "POST /api/workflows/{name}/runs",
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "422"]}},
    }],
}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def served(container: Container) -> Iterator[str]:
    with serving(container) as url:
        yield url


def document(served: str) -> Any:
    config = schemathesis.Config.from_dict(SETTINGS)
    return schemathesis.openapi.from_url(f"{served}/schema/openapi.json", config=config)


def log_in(served: str, email: str) -> str:
    answer = httpx.post(f"{served}/api/sessions", json={"email": email, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["access_token"])


def run(schema: Any) -> dict[str, set[int]]:
    """Run every phase over every operation and fail naming each failure as the CLI reports it; else the statuses
    each operation answered."""
    found: list[str] = []
    answered: dict[str, set[int]] = defaultdict(set)
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                if interaction.response is not None and case_id in recorder.cases:
                    answered[recorder.cases[case_id].value.operation.label].add(interaction.response.status_code)
            if event.status in (Status.FAILURE, Status.ERROR):
                found.extend(f"{event.label}: {check.failure_info.failure.title}\n{check.failure_info.failure.message}"
                             f"\n{check.failure_info.code_sample}"
                             for checks in recorder.checks.values() for check in checks
                             if check.failure_info is not None)
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    assert not found, f"{len(found)} failures:\n\n" + "\n\n".join(found)
    return answered


def operations(schema: Any, *, secured: bool = False) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items()
            for method, operation in item.items() if method in METHODS and (operation.get("security") or not secured)}


# Anonymous requests are refused before any query, but for registration and log-in: one database is enough for them,
# the admin's run holds each database to the document.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_answer_to_anyone_is_the_documented_one(served: str) -> None:
    schema = document(served)
    answered = run(schema)
    assert set(answered) == operations(schema), "operations never answered"


def test_every_answer_to_an_admin_is_the_documented_one(served: str, container: Container) -> None:
    schema = document(served)
    email = add_user(container, Role.ADMIN)
    admin = log_in(served, email)

    @schema.auth(refresh_interval=None)
    class Admin:
        """An admin's token on every request; logging out revokes the token it bears, so it gets one of its own."""

        def get(self, case: Any, ctx: Any) -> str:
            return log_in(served, email) if case.path == "/api/sessions/current" else admin

        def set(self, case: Any, token: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    answered = run(schema)
    assert set(answered) == operations(schema), "operations never answered"
    refused = {label for label in operations(schema, secured=True) if answered[label] <= {401, 403}}
    assert not refused, "operations that never let the admin in"
