"""A parked run in Chromium: the page says what each wait waits for and marks it in the DAG; the admin's
"Wake now" (after the confirm dialog) cuts the timer short and the worker runs the step after it."""

from typing import Any

from sqlmodel import Session

from app.workflows.views import run_detail
from tests.browser.conftest import PHONE, Server, screenshot
from tests.e2e.processes import poll
from tests.integration.workflows.parked import MARKUP


def test_a_parked_run_shows_its_waits_and_the_admin_wakes_one(admin: Any, server: Server) -> None:
    with Session(server.container.engine, expire_on_commit=False) as db, db.begin():
        run_id = server.container.runner.start(db, "parked", {"user_id": MARKUP}).run_id
    admin.goto(f"/dashboard/runs/{run_id}")
    nap = admin.locator('tr[data-step="nap"]')
    assert "waits until" in nap.inner_text() and "(in 2 d 23 h)" in nap.inner_text()
    verified = admin.locator('tr[data-step="verified"] .waits').inner_text()
    assert verified.startswith('waits for user.created where user_id = "<b id=\\"x\\">ada</b> & \\"co\\""')
    assert admin.locator("#x").count() == 0  # the user's markup is text, not an element
    assert admin.locator("svg.dag g.step.parked").count() == 3
    fill = admin.locator('svg.dag g.step[data-step="nap"] rect').evaluate("rect => getComputedStyle(rect).fill")
    assert fill == "rgb(254, 243, 199)"  # the parked amber, not an unstarted step's white
    screenshot(admin, "run-parked-desktop")
    admin.set_viewport_size(PHONE)
    screenshot(admin, "run-parked-phone")
    assert admin.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0

    nap.locator('button[data-action="step.wake"]').click()  # the confirm dialog is accepted
    admin.wait_for_load_state()
    assert "done: step.wake" in admin.locator(".notice").inner_text()
    assert admin.locator('tr[data-step="nap"] button[data-action="step.wake"]').count() == 0

    def after_nap_ran() -> dict[str, Any] | None:
        detail = run_detail(server.container.engine, run_id)
        steps = {step["id"]: step for step in detail["steps"]} if detail else {}
        return steps if steps.get("after_nap", {}).get("status") == "succeeded" else None

    steps = poll(after_nap_ran, timeout=30, what="the step after the woken timer to run")
    assert steps["nap"]["output"]["woken"] is True and steps["verified"]["status"] == "waiting"
