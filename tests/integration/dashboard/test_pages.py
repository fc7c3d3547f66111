"""Every page renders for admins and operators; operators see no action buttons; user data is escaped."""

import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kombu import Connection
from litestar.testing import TestClient
from sqlmodel import Session

from app.api.app import create_app
from app.bootstrap import Container, build
from app.config import Settings
from app.db.models import ScheduleFire
from app.domain.users import Role
from tests.conftest import ROOT
from tests.integration.dashboard.conftest import Clients, add_user, log_in
from tests.servers import RABBITMQ_URL, RUN_ID, closed_port, require

PAGES = ["/dashboard", "/dashboard/tasks", "/dashboard/tasks?state=pending", "/dashboard/tasks?state=dead",
         "/dashboard/runs", "/dashboard/runs?workflow=user_registration&status=running&since=1h",
         "/dashboard/workflows", "/dashboard/events", "/dashboard/schedules", "/dashboard/schedules/session_cleanup"]

ACTIONABLE = {"/dashboard/tasks", "/dashboard/tasks?state=pending", "/dashboard/events", "/dashboard/schedules",
              "/dashboard/schedules/session_cleanup"}


def _run(container: Container) -> str:
    with Session(container.engine) as db, db.begin():
        return container.runner.start(db, "user_registration", {
            "user_id": "6f1c2f43-58b6-4d8b-9a43-2a1b9f0f6a11", "email": "ada@example.com", "name": "Ada"}).run_id


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR])
def test_every_page_renders(container: Container, as_role: Clients, role: Role) -> None:
    client = as_role(role)
    run_id = _run(container)
    task_id = container.plane.enqueue("sessions.cleanup", {}).id
    for path in [*PAGES, f"/dashboard/runs/{run_id}", f"/dashboard/tasks/{task_id}"]:
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        if role is Role.OPERATOR:
            assert 'data-action="' not in response.text, f"{path} shows an operator an action button"
        elif path in ACTIONABLE:
            assert 'data-action="' in response.text, f"{path} shows an admin no action button"


def test_a_run_page_draws_its_dag(container: Container, as_role: Clients) -> None:
    run_id = _run(container)
    page = as_role(Role.OPERATOR).get(f"/dashboard/runs/{run_id}").text
    for step in ("announce", "welcome_email", "record_onboarding"):
        assert f'data-step="{step}"' in page
    assert '<svg class="dag"' in page and "<line" in page  # record_onboarding waits for welcome_email
    # An event step has no attempts of its own (the outbox delivers it): a dash, not "0"
    announce = page[page.index('<tr data-step="announce"'):]
    announce = announce[:announce.index("</tr>")]
    assert '<td class="num">–</td>' in announce and '<td class="num">0</td>' not in announce


def test_unknown_things_are_404_pages(as_role: Clients) -> None:
    client = as_role(Role.OPERATOR)
    for path in ("/dashboard/runs/nope", "/dashboard/tasks/nope", "/dashboard/schedules/nope",
                 "/dashboard/tasks?state=nope"):
        response = client.get(path)
        assert response.status_code == 404 and "text/html" in response.headers["content-type"], path


def test_user_data_is_escaped(container: Container, as_role: Clients) -> None:
    task_id = container.plane.enqueue("sessions.cleanup", {"note": "<script>alert(1)</script>"}).id
    page = as_role(Role.ADMIN).get(f"/dashboard/tasks/{task_id}").text
    assert "<script>alert(1)</script>" not in page
    assert "\\u003cscript\\u003e" in page or "&lt;script&gt;" in page


def test_the_events_page_renders_with_a_notice_when_the_broker_is_down(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(FLOWPLANE_RABBITMQ__URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}//",
                             FLOWPLANE_RABBITMQ__MANAGEMENT_URL=f"http://127.0.0.1:{closed_port()}")
    container = build(settings)
    try:
        with TestClient(create_app(container)) as client:
            log_in(client, add_user(container, Role.OPERATOR))
            for path in ("/dashboard/events", "/dashboard"):
                page = client.get(path)
                assert page.status_code == 200, path
                assert "the event broker did not answer" in page.text, path
    finally:
        container.close()


@pytest.fixture
def editable(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[tuple[Container, Path]]:
    """A container serving a copy of the workflows, re-read at each use: (it, the copy's directory)."""
    directory = tmp_path / "workflows"
    shutil.copytree(ROOT / "workflows", directory)
    container = build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory),
                                    FLOWPLANE_WORKFLOWS__RELOAD_INTERVAL="1ms"))
    yield container, directory
    container.close()


def test_a_rejected_workflow_edit_is_shown(editable: tuple[Container, Path]) -> None:
    container, directory = editable
    with TestClient(create_app(container)) as client:
        log_in(client, add_user(container, Role.OPERATOR))
        assert "was rejected" not in client.get("/dashboard/workflows").text
        # When an edit breaks the file (a step waiting for one that does not exist)
        path = directory / "user_registration.toml"
        path.write_text(path.read_text().replace('after = ["welcome_email"]', 'after = ["nowhere"]'))
        page = client.get("/dashboard/workflows").text
    # Then the page says so, with the problem, and still draws the version that serves
    assert "The last edit was rejected" in page and "nowhere" in page
    assert page.count('<svg class="dag"') == len(container.workflows.all())


def test_an_applied_workflow_edit_is_shown_with_what_it_changed_and_the_runs_left_on_the_old_version(
        editable: tuple[Container, Path], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.filewatch")
    container, directory = editable
    old = container.workflows.get("user_registration").version
    _run(container)  # in flight on the old version: its welcome mail is ready
    with TestClient(create_app(container)) as client:
        log_in(client, add_user(container, Role.OPERATOR))
        assert "Last edit applied" not in client.get("/dashboard/workflows").text
        path = directory / "user_registration.toml"
        path.write_text(path.read_text().replace('valid_for = "48h"', 'valid_for = "72h"'))
        page = client.get("/dashboard/workflows").text
    assert "Last edit applied" in page and old[:12] in page
    assert "~ step welcome_email: payload.valid_for &#34;48h&#34; -&gt; &#34;72h&#34;" in page
    assert "1 &middot; at welcome_email (ready)" in page
    reloaded = [record.getMessage() for record in caplog.records if "reloaded: version" in record.getMessage()]
    assert reloaded and 'step welcome_email: payload.valid_for "48h" -> "72h"' in reloaded[0]
    assert f"1 run(s) in flight on {old[:12]} finish on it; 1 at welcome_email (ready)" in reloaded[0]


def test_a_failing_schedule_is_on_the_overview(container: Container, as_role: Clients) -> None:
    with Session(container.engine) as db, db.begin():
        db.add(ScheduleFire(schedule="session_cleanup", scheduled_at=datetime.now(UTC), fired_at=datetime.now(UTC),
                            replica="test", trigger="cron", outcome="failed", detail="OperationalError: <gone>",
                            target_kind="task"))
    page = as_role(Role.OPERATOR).get("/dashboard").text
    assert 'href="/dashboard/schedules/session_cleanup"' in page and "OperationalError: &lt;gone&gt;" in page


@pytest.mark.rabbitmq
def test_the_events_page_says_when_only_the_management_api_is_down(make_settings: Callable[..., Settings]) -> None:
    require("rabbitmq")
    settings = make_settings(FLOWPLANE_RABBITMQ__URL=RABBITMQ_URL,
                             FLOWPLANE_RABBITMQ__PREFIX=f"t{RUN_ID}{uuid.uuid4().hex[:6]}-",
                             FLOWPLANE_RABBITMQ__MANAGEMENT_URL=f"http://127.0.0.1:{closed_port()}")
    container = build(settings)
    try:
        with TestClient(create_app(container)) as client:
            log_in(client, add_user(container, Role.OPERATOR))
            page = client.get("/dashboard/events")
        assert page.status_code == 200
        assert "management API did not answer" in page.text and "figures from passive declare" in page.text
    finally:
        with Connection(RABBITMQ_URL) as connection:  # the queues the page's inspection declared
            container.topology.delete(connection.channel())
        container.close()
