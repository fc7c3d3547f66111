"""The workflow playground in Chromium, offline (every other origin blocked): an edit shows a located error as it is
typed, fixing it clears it and redraws the DAG, a scenario run colours the DAG by its simulated outcome, and the
edited files can be downloaded. The files on disk are never touched."""

from typing import Any

from tests.browser.conftest import OPERATOR, Server, logged_in, only_the_app, screenshot

EXPIRED = """input = { user_id = "7f3c6a4e-8d2b-4c1a-9e5f-0a1b2c3d4e5f", email = "ada@example.com", name = "Ada" }

[steps.expire]
output = { expired = true }
"""


def test_edit_see_a_located_error_fix_it_run_a_scenario_and_see_the_dag_coloured(browser: Any, server: Server) -> None:
    on_disk = (server.directory / "workflows" / "user_registration.toml").read_text()
    page = logged_in(browser, server, OPERATOR)  # operators may use it: it changes nothing
    elsewhere: list[str] = []
    page.route("**/*", only_the_app(server, elsewhere))
    try:
        page.goto("/dashboard/playground?workflow=user_registration")
        page.wait_for_selector("#dag svg.dag")
        source = page.locator("#source")
        broken = source.input_value().replace('after = ["welcome_email"]', 'after = ["nowhere"]')
        source.fill(broken)
        problem = page.locator("#problems li.problem").first
        problem.wait_for()
        assert "user_registration.toml:" in problem.inner_text() and "steps.await_verification.after" in \
            problem.inner_text() and "nowhere" in problem.inner_text()
        screenshot(page, "playground-error")

        source.fill(broken.replace('after = ["nowhere"]', 'after = ["welcome_email"]'))
        page.wait_for_selector("#problems li.muted")  # 'none'
        assert page.locator("#dag g.step").count() == 9

        page.locator("#scenario").fill(EXPIRED)
        page.click("#run")
        page.wait_for_selector("#dag[data-state=done]", timeout=30_000)
        statuses = {node.get_attribute("data-step"): node.get_attribute("data-status")
                    for node in page.locator("#dag g.step").all()}
        assert statuses["expire"] == "succeeded" and statuses["announce_expired"] == "succeeded"
        assert statuses["announce_verified"] == "skipped" and statuses["record_onboarding"] == "skipped"
        assert page.locator("#outcome").inner_text() == "run succeeded"
        assert "timed out" in page.locator("#timeline").inner_text()
        assert "s-skipped" in (page.locator('#dag g.step[data-step="record_onboarding"]').get_attribute("class") or "")
        screenshot(page, "playground-run")

        with page.expect_download() as download:
            page.click("#download-workflow")
        assert download.value.suggested_filename == "user_registration.toml"
        assert elsewhere == []
    finally:
        page.context.close()
    assert (server.directory / "workflows" / "user_registration.toml").read_text() == on_disk
