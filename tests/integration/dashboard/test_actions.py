"""Actions: admin only, CSRF-checked, recorded with who did them."""

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app.bootstrap import Container
from app.dashboard.actions import ACTIONS, tasks
from app.db.models import OperatorAction, ScheduleFire
from app.domain.users import Role
from tests.integration.dashboard.conftest import Clients, csrf_of


def _actions(container: Container) -> list[OperatorAction]:
    with Session(container.engine) as db:
        return list(db.exec(select(OperatorAction)).all())


def _targets(container: Container) -> dict[str, str]:
    """A real target for each action, so a refusal is not a 'not found' in disguise."""
    task_id = container.plane.enqueue("sessions.cleanup", {}, eta=datetime(2100, 1, 1, tzinfo=UTC)).id
    consumer = next(iter(container.topology.consumers))
    return {"task.retry": task_id, "task.delete": task_id, "run.retry": "some-run", "step.wake": "some-run/nap",
            "consumer.requeue_dead": consumer, "consumer.purge_dead": consumer,
            "schedule.trigger": "session_cleanup", "schedule.pause": "session_cleanup",
            "schedule.resume": "session_cleanup"}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_operator_is_refused_every_action(container: Container, as_role: Clients, action: str) -> None:
    client = as_role(Role.OPERATOR)
    targets = _targets(container)
    target = targets.get(action, "")
    # When an operator posts the action with a valid CSRF token
    response = client.post(f"/dashboard/actions/{action}",
                           data={"csrf": csrf_of(client), "target": target, "back": "/dashboard"},
                           follow_redirects=False)
    # Then it is refused and nothing changed
    assert response.status_code == 403, response.text
    assert "admin role" in response.text
    assert _actions(container) == []
    assert not container.huey.leased.counts().paused
    assert not container.scheduling.paused("session_cleanup")
    with Session(container.engine) as db:
        assert db.exec(select(ScheduleFire)).all() == []
    view = tasks(container).get(targets["task.retry"])
    assert view is not None and view.state == "scheduled"


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("token", [None, "", "f" * 64])
def test_an_action_without_the_right_csrf_token_is_refused(container: Container, as_role: Clients, action: str,
                                                          token: str | None) -> None:
    client = as_role(Role.ADMIN)
    form = {"target": _targets(container).get(action, ""), "back": "/dashboard"}
    if token is not None:
        form["csrf"] = token
    response = client.post(f"/dashboard/actions/{action}", data=form, follow_redirects=False)
    assert response.status_code == 403 and "CSRF" in response.text
    assert _actions(container) == [] and not container.huey.leased.counts().paused


def test_an_action_is_done_and_recorded_with_the_admins_email(container: Container, as_role: Clients) -> None:
    client = as_role(Role.ADMIN)
    # When the admin pauses the queue from the tasks page
    response = client.post("/dashboard/actions/queue.pause",
                           data={"csrf": csrf_of(client), "back": "/dashboard/tasks?state=pending"},
                           follow_redirects=False)
    # Then it is paused, they go back where they were, and the action is on record with their email
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/tasks?state=pending"
    assert container.huey.leased.counts().paused
    [record] = _actions(container)
    assert (record.email, record.action, record.outcome) == ("admin@example.com", "queue.pause", "ok")
    page = client.get("/dashboard/tasks?state=pending").text
    assert "done: queue.pause" in page and 'data-action="queue.resume"' in page
    overview = client.get("/dashboard").text
    assert "admin@example.com" in overview and "queue.pause" in overview
    assert "done: queue.pause" not in overview  # the notice shows once


def test_a_failed_action_is_recorded_as_failed(container: Container, as_role: Clients) -> None:
    client = as_role(Role.ADMIN)
    client.post("/dashboard/actions/run.retry", data={"csrf": csrf_of(client), "target": "no-such-run"})
    [record] = _actions(container)
    assert (record.outcome, record.target, record.detail) == ("failed", "no-such-run", "no run no-such-run")


def test_triggering_a_schedule_adds_to_its_history(container: Container, as_role: Clients) -> None:
    client = as_role(Role.ADMIN)
    for _ in range(2):
        client.post("/dashboard/actions/schedule.trigger",
                    data={"csrf": csrf_of(client), "target": "session_cleanup",
                          "back": "/dashboard/schedules/session_cleanup"})
    page = client.get("/dashboard/schedules/session_cleanup").text
    assert page.count('<tr class="fire">') == 2
    assert [a.outcome for a in _actions(container)] == ["ok", "ok"]


def test_an_unknown_action_is_404(as_role: Clients) -> None:
    client = as_role(Role.ADMIN)
    assert client.post("/dashboard/actions/nope", data={"csrf": csrf_of(client)}).status_code == 404


def test_dead_tasks_can_be_retried_and_purged_in_bulk(container: Container, as_role: Clients) -> None:
    client = as_role(Role.ADMIN)
    client.post("/dashboard/actions/tasks.purge_dead", data={"csrf": csrf_of(client)})
    client.post("/dashboard/actions/tasks.retry_dead", data={"csrf": csrf_of(client)})
    assert [(a.action, a.outcome, a.detail) for a in _actions(container)] == [
        ("tasks.purge_dead", "ok", "0 dead task(s) deleted"),
        ("tasks.retry_dead", "ok", "0 dead task(s) enqueued again")]


def test_a_consumers_dead_letters_can_be_purged_and_requeued(container: Container, as_role: Clients) -> None:
    client = as_role(Role.ADMIN)
    consumer = next(iter(container.topology.consumers))
    for action in ("consumer.purge_dead", "consumer.requeue_dead"):
        client.post(f"/dashboard/actions/{action}", data={"csrf": csrf_of(client), "target": consumer})
    assert [(a.action, a.outcome, a.detail) for a in _actions(container)] == [
        ("consumer.purge_dead", "ok", "0 dead letter(s) purged"),
        ("consumer.requeue_dead", "ok", "0 dead letter(s) requeued")]
