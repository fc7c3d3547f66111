"""The dashboard in Chromium: log in, watch a registration run, retry a dead task, trigger a schedule,
and the refusals (operator role, missing CSRF token). Screenshots land in tests/artifacts/screenshots/."""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, func, select

from app.db.models import OperatorAction
from app.plane.tasks.inspect import TaskInspector
from app.workflows.views import run_detail
from tests.browser.conftest import ADMIN, DESKTOP, OPERATOR, PHONE, Server, logged_in, screenshot
from tests.e2e.processes import poll
from tests.integration.accounts import PASSWORD

PAGES = {"overview": "/dashboard", "tasks": "/dashboard/tasks?state=dead", "runs": "/dashboard/runs",
         "workflows": "/dashboard/workflows", "events": "/dashboard/events", "schedules": "/dashboard/schedules",
         "schedule": "/dashboard/schedules/session_cleanup"}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def _inspector(server: Server) -> TaskInspector:
    container = server.container
    return TaskInspector(container.huey, container.plane, container.engine)


def _actions_recorded(server: Server) -> int:
    with Session(server.container.engine) as db:
        return int(db.exec(select(func.count()).select_from(OperatorAction)).one())


def test_log_in_lands_on_the_overview(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=server.url)
    try:
        page = context.new_page()
        # A stranger is sent to the form; a wrong password is refused with no cookie
        page.goto("/dashboard/runs")
        assert page.url.startswith(f"{server.url}/dashboard/login")
        page.fill("input[name=email]", ADMIN)
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "wrong email or password" in page.locator(".error").inner_text()
        assert [cookie["name"] for cookie in context.cookies()] == ["flowplane_login"]  # the form's token only
        # The right one lands on the page asked for, with an HttpOnly, SameSite=Strict cookie
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/dashboard/runs")
        [cookie] = context.cookies()  # the session's; the form's token is dropped
        assert cookie["name"] == "flowplane_dashboard"
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
        page.click("header nav a[href='/dashboard']")
        assert page.locator("h1").inner_text() == "Overview"
        assert page.locator("svg.chart").count() == 1
        # Logging out goes back to the form, and the pages with it
        page.click("header button:has-text('Log out')")
        page.wait_for_url(f"{server.url}/dashboard/login")
        page.goto("/dashboard")
        assert page.url.startswith(f"{server.url}/dashboard/login")
    finally:
        context.close()


def test_a_finished_registration_run_is_drawn_with_its_dag(admin: Any, server: Server,
                                                            registration_run: str) -> None:
    # Given a user registered through the API, whose registration run the worker finished
    run_id = registration_run
    assert run_detail(server.container.engine, run_id)["status"] == "succeeded"  # type: ignore[index]
    # When the admin opens the run's page
    admin.goto(f"/dashboard/runs/{run_id}")
    # Then the DAG shows its nine steps, the verified path coloured succeeded, and the timeline lists them
    shown = {step["id"]: step["status"] for step in run_detail(server.container.engine, run_id)["steps"]}  # type: ignore[index]
    steps = admin.locator("svg.dag g.step")
    assert steps.count() == len(shown) == 9
    assert sorted(steps.nth(i).get_attribute("data-step") for i in range(9)) == sorted(shown)
    ran = [step_id for step_id, status in shown.items() if status == "succeeded"]
    assert sorted(ran) == ["announce", "announce_verified", "await_verification", "record_onboarding",
                           "welcome_email"]
    assert admin.locator('svg.dag g.step[data-status="succeeded"]').count() == len(ran)
    fill = admin.locator('svg.dag g.step[data-step="welcome_email"] rect').evaluate(
        "rect => getComputedStyle(rect).fill")
    assert fill == "rgb(187, 247, 208)"  # the succeeded green
    assert admin.locator("table.timeline tbody tr").count() >= len(ran)
    assert admin.locator("svg.timeline-chart g.lane").count() >= len(ran)


def test_retrying_a_dead_task_from_the_page_runs_it_again(admin: Any, server: Server) -> None:
    # Given a task that failed permanently and sits among the dead
    log = server.directory / "permanent.log"
    task_id = server.container.plane.enqueue("test.permanent", {"log": str(log), "tag": "browser"}).id
    inspector = _inspector(server)
    poll(lambda: (lambda v: v if v and v.state == "dead" else None)(inspector.get(task_id)), timeout=30,
         what="the task to die")
    Path(f"{log}.fixed").touch()  # its cause is fixed
    # When the admin clicks Retry on its row
    admin.goto("/dashboard/tasks?state=dead")
    admin.locator(f'tr[data-task="{task_id}"] button[data-action="task.retry"]').click()
    admin.wait_for_load_state()
    assert "done: task.retry" in admin.locator(".notice").inner_text()
    # Then the worker runs it once more, successfully, and it leaves the dead list
    poll(lambda: len(log.read_text().splitlines()) >= 2 and inspector.get(task_id) is None or None, timeout=30,
         what="the retried task to be processed")
    admin.goto("/dashboard/tasks?state=dead")
    assert admin.locator(f'tr[data-task="{task_id}"]').count() == 0


def test_triggering_a_schedule_grows_its_history(admin: Any, server: Server) -> None:
    from playwright.sync_api import expect

    admin.goto("/dashboard/schedules/session_cleanup")
    before = admin.locator("tr.fire").count()
    admin.locator('button[data-action="schedule.trigger"]').click()
    admin.wait_for_load_state()
    assert admin.locator("tr.fire").count() == before + 1
    assert "manual" in admin.locator("tr.fire").first.inner_text()
    # A fire from elsewhere shows up without a reload: the page refreshes its live part every 5 s
    container = server.container
    container.scheduling.fire(container.schedules.get("session_cleanup"), datetime.now(UTC), "cron")
    expect(admin.locator("tr.fire")).to_have_count(before + 2, timeout=12_000)


def test_an_operator_sees_no_buttons_and_is_refused_every_action(browser: Any, server: Server) -> None:
    from app.dashboard.actions import ACTIONS

    page = logged_in(browser, server, OPERATOR)
    try:
        for path in PAGES.values():
            page.goto(path)
            assert page.locator("button[data-action]").count() == 0, path
        token = CSRF.search(page.content())
        assert token is not None
        before = _actions_recorded(server)
        for action in ACTIONS:
            response = page.request.post(f"/dashboard/actions/{action}", max_redirects=0,
                                         form={"csrf": token.group(1), "target": "session_cleanup", "back": "/"})
            assert response.status == 403, action
        assert _actions_recorded(server) == before
        assert not server.container.huey.leased.counts().paused
    finally:
        page.context.close()


def test_an_action_without_the_csrf_token_is_refused(admin: Any, server: Server) -> None:
    before = _actions_recorded(server)
    response = admin.request.post("/dashboard/actions/queue.pause", form={"back": "/dashboard"}, max_redirects=0)
    assert response.status == 403
    assert _actions_recorded(server) == before and not server.container.huey.leased.counts().paused


def test_a_stranger_is_sent_to_the_login_form(server: Server) -> None:
    response = httpx.get(f"{server.url}/dashboard/runs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/login")
    forged = httpx.post(f"{server.url}/dashboard/login", data={"email": OPERATOR, "password": PASSWORD},
                        follow_redirects=False)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers  # no form token: no session


def test_every_page_at_desktop_and_phone_width(admin: Any, server: Server, registration_run: str) -> None:
    later = server.container.plane.enqueue("test.record", {"log": "/dev/null", "tag": "screenshot"},
                                           eta=datetime(2100, 1, 1, tzinfo=UTC)).id
    pages = {**PAGES, "run": f"/dashboard/runs/{registration_run}", "task": f"/dashboard/tasks/{later}"}
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        admin.set_viewport_size(size)
        for name, path in pages.items():
            admin.goto(path)
            screenshot(admin, f"{name}-{size_name}")
            # Usable: the page itself never scrolls sideways (wide tables scroll inside their box)
            overflow = admin.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} at {size_name} is {overflow}px too wide"
        if size_name == "phone":
            assert admin.locator("label.menu-button").is_visible()
            assert not admin.locator("header nav").is_visible()
            admin.locator("label.menu-button").click()
            assert admin.locator("header nav").is_visible()
            screenshot(admin, "menu-phone")
    admin.set_viewport_size(DESKTOP)
