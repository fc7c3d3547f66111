"""A run's page shows its parked waits (table, DAG, timeline) with the time left by the container's clock, and
gives admins, only them, a button that wakes one: CSRF-checked and recorded in the operator audit log."""

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from markupsafe import escape
from sqlmodel import Session, select

from app.bootstrap import Container
from app.config import Settings
from app.db.models import OperatorAction
from app.domain.users import Role
from app.workflows.views import run_detail
from tests.conftest import ROOT
from tests.integration.dashboard.conftest import Clients, csrf_of
from tests.integration.workflows.conftest import start
from tests.integration.workflows.parked import MARKUP, MovingClock, parked_container

WAKE = re.compile(r'name="target" value="([^"]+)">\s*<input type="hidden" name="back" value="[^"]*">\s*'
                  r'<button type="submit" class="act" data-action="step.wake"')


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def container(tmp_path: Path, make_settings: Callable[..., Settings], clock: MovingClock) -> Iterator[Container]:
    built = parked_container(tmp_path, make_settings, clock, FLOWPLANE_SCHEDULER__DIRECTORY=str(ROOT / "schedules"))
    yield built
    built.close()


def statuses(container: Container, run_id: str) -> dict[str, str]:
    detail = run_detail(container.engine, run_id)
    assert detail is not None
    return {step["id"]: step["status"] for step in detail["steps"]}


def test_the_run_page_shows_each_wait_and_admins_a_button_to_wake_it(container: Container, as_role: Clients,
                                                                     clock: MovingClock) -> None:
    run_id = start(container, "parked", {"user_id": MARKUP})
    # When an admin opens the run's page
    page = as_role(Role.ADMIN).get(f"/dashboard/runs/{run_id}").text
    # Then each parked step says what it waits for and how long is left, the user's text escaped
    assert re.search(r"waits until \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC \(in 2 d 23 h\)", page)
    assert "(in 59 min" in page  # trial: until "1h"
    escaped = escape('user_id = "' + MARKUP.replace('"', '\\"') + '"')  # as Jinja escapes it
    assert f"waits for user.created where {escaped}, until " in page
    assert MARKUP not in page and '<b id="x">' not in page
    # the DAG and the timeline mark them, and there is a wake button for each, none for the unparked step
    assert page.count('class="step s-waiting parked"') == 3 and page.count('<rect class="parked"') == 3
    assert sorted(WAKE.findall(page)) == sorted(f"{run_id}/{step}" for step in ("nap", "trial", "verified"))

    # When a day goes by, the time left is counted on the container's clock
    clock.advance(timedelta(days=1))
    assert "(in 1 d 23 h)" in as_role(Role.ADMIN).get(f"/dashboard/runs/{run_id}").text

    # An operator sees the waits and no button
    seen = as_role(Role.OPERATOR).get(f"/dashboard/runs/{run_id}").text
    assert "waits for user.created where" in seen and 'data-action="step.wake"' not in seen


def test_an_admin_wakes_a_wait_from_the_page_and_it_is_recorded(container: Container, as_role: Clients) -> None:
    run_id = start(container, "parked", {"user_id": "u1"})
    client = as_role(Role.ADMIN)
    back = f"/dashboard/runs/{run_id}"
    # When the admin presses wake on the timer
    response = client.post("/dashboard/actions/step.wake",
                           data={"csrf": csrf_of(client), "target": f"{run_id}/nap", "back": back},
                           follow_redirects=False)
    # Then they are back on the run's page, the timer is over and the run went on
    assert response.status_code == 303 and response.headers["location"] == back
    assert statuses(container, run_id) == {"nap": "succeeded", "trial": "waiting", "verified": "waiting",
                                           "after_nap": "ready"}
    page = client.get(back).text
    assert "done: step.wake" in page and f"{run_id}/nap" not in WAKE.findall(page)
    # A second press fails (it is not waiting any more); both are in the audit log with the admin's email
    client.post("/dashboard/actions/step.wake", data={"csrf": csrf_of(client), "target": f"{run_id}/nap"})
    client.post("/dashboard/actions/step.wake", data={"csrf": csrf_of(client), "target": "no-slash"})
    client.post("/dashboard/actions/step.wake", data={"csrf": csrf_of(client), "target": "a\x00b/nap"})
    with Session(container.engine) as db:
        rows = db.exec(select(OperatorAction)).all()
    assert [(row.email, row.action, row.target, row.outcome) for row in rows] == [
        ("admin@example.com", "step.wake", f"{run_id}/nap", "ok"),
        ("admin@example.com", "step.wake", f"{run_id}/nap", "failed"),
        ("admin@example.com", "step.wake", "no-slash", "failed"),
        ("admin@example.com", "step.wake", "a\\x00b/nap", "failed")]  # PostgreSQL text holds no NUL
    assert rows[0].detail is not None and rows[0].detail.startswith('woken: {"due_at": ')
    assert rows[1].detail is not None and "is not waiting" in rows[1].detail


def test_an_operator_cannot_wake_a_wait(container: Container, as_role: Clients) -> None:
    run_id = start(container, "parked", {"user_id": "u1"})
    client = as_role(Role.OPERATOR)
    response = client.post("/dashboard/actions/step.wake",
                           data={"csrf": csrf_of(client), "target": f"{run_id}/nap"}, follow_redirects=False)
    assert response.status_code == 403
    assert statuses(container, run_id)["nap"] == "waiting"
    with Session(container.engine) as db:
        assert db.exec(select(OperatorAction)).all() == []
