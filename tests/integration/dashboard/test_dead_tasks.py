"""Dead tasks from the dashboard: the detail page, retry, delete and purge, each recorded."""

import logging

import pytest
from sqlmodel import Session, select

from app.bootstrap import Container
from app.dashboard.auth import COOKIE
from app.db.models import OperatorAction
from app.domain.users import Role
from app.plane.envelope import Envelope
from app.plane.tasks import dead
from app.plane.tasks.handling import Failure
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions
from tests.integration.accounts import PASSWORD
from tests.integration.dashboard.conftest import Clients, csrf_of


def _dead_letter(container: Container, tag: str) -> str:
    envelope = Envelope(kind="task", type="sessions.cleanup", payload={"tag": tag})
    options = TaskOptions(queue=container.plane.queue, priority=Priority.LOW, retry=RetryPolicy(attempts=1),
                          timeout=None)
    dead.record(container.engine, Failure(envelope, options, "RuntimeError: boom <b>", "Traceback: line 1", 1))
    return envelope.id


def test_a_dead_tasks_page_shows_its_failure(container: Container, as_role: Clients) -> None:
    task_id = _dead_letter(container, "shown")
    client = as_role(Role.OPERATOR)
    listing = client.get("/dashboard/tasks?state=dead&task=sessions.cleanup").text
    assert f'data-task="{task_id}"' in listing
    assert f'data-task="{task_id}"' not in client.get("/dashboard/tasks?state=dead&task=other").text
    page = client.get(f"/dashboard/tasks/{task_id}").text
    assert "RuntimeError: boom &lt;b&gt;" in page and "Traceback: line 1" in page and "shown" in page


def test_retry_delete_and_purge(container: Container, as_role: Clients) -> None:
    retried, deleted, purged = (_dead_letter(container, tag) for tag in ("retried", "deleted", "purged"))
    client = as_role(Role.ADMIN)
    for action, target in (("task.retry", retried), ("task.delete", deleted), ("tasks.purge_dead", "")):
        response = client.post(f"/dashboard/actions/{action}", follow_redirects=False,
                               data={"csrf": csrf_of(client), "target": target, "back": "/dashboard/tasks?state=dead"})
        assert response.status_code == 303
    assert dead.get(container.engine, purged) is None
    view = client.get(f"/dashboard/tasks/{retried}")
    assert view.status_code == 200 and "pending" in view.text  # back in the queue, no longer dead
    assert client.get(f"/dashboard/tasks/{deleted}").status_code == 404
    with Session(container.engine) as db:
        done = [(row.action, row.target, row.outcome, row.email) for row in db.exec(select(OperatorAction)).all()]
    admin = "admin@example.com"
    assert done == [("task.retry", retried, "ok", admin), ("task.delete", deleted, "ok", admin),
                    ("tasks.purge_dead", "", "ok", admin)]


def test_no_password_or_token_reaches_the_logs_or_pages(container: Container, as_role: Clients,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = as_role(Role.ADMIN)
    token = client.cookies[COOKIE]
    pages = [client.get(path).text for path in ("/dashboard", "/dashboard/tasks", "/dashboard/schedules")]
    client.post("/dashboard/actions/queue.pause", data={"csrf": csrf_of(client)})
    for text in (caplog.text, *pages):
        assert PASSWORD not in text and token not in text


def test_retry_all_dead_puts_every_dead_task_back(container: Container, as_role: Clients) -> None:
    ids = [_dead_letter(container, tag) for tag in ("one", "two")]
    client = as_role(Role.ADMIN)
    client.post("/dashboard/actions/tasks.retry_dead", data={"csrf": csrf_of(client)})
    assert all(dead.get(container.engine, task_id) is None for task_id in ids)
    assert "2 dead task(s) enqueued again" in client.get("/dashboard").text
