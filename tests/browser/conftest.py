"""One real server (`flowplane api` + a worker) and one logged-in Chromium context, shared by the browser tests."""

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from app.auth.accounts import create_user
from app.bootstrap import Container, build
from app.config import load_settings
from app.domain.users import Role
from app.workflows.views import run_detail
from tests.conftest import ROOT
from tests.e2e.processes import environment, poll, start, wait_until_serving
from tests.integration.accounts import PASSWORD, new_user
from tests.integration.workflows.parked import PARKED

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
ADMIN, OPERATOR = "admin@example.com", "operator@example.com"


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    directory: Path
    container: Container
    processes: list[subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    directory = tmp_path_factory.mktemp("dashboard")
    flows = directory / "workflows"  # the repository's workflows, and one whose runs park at once
    flows.mkdir()
    for definition in (ROOT / "workflows").glob("*.toml"):
        shutil.copy(definition, flows)
    (flows / "parked.toml").write_text(PARKED)
    port = free_port()
    env = environment(
        PYTHONPATH=str(ROOT),
        FLOWPLANE_DATABASE__URL=f"sqlite:///{directory}/flowplane.db",
        FLOWPLANE_TASKS__MODULES="tests.plane_tasks",
        FLOWPLANE_TASKS__SQLITE_PATH=f"{directory}/tasks.db",
        FLOWPLANE_TASKS__LEASE="2s",
        FLOWPLANE_RABBITMQ__EMBEDDED_PATH=f"{directory}/events.db",
        FLOWPLANE_EVENTS__CRM_FAKE_PATH=f"{directory}/crm.db",
        FLOWPLANE_EMAIL__MAIL_DIR=f"{directory}/mail",
        FLOWPLANE_SCHEDULER__REPORTS_DIR=f"{directory}/reports",
        FLOWPLANE_SCHEDULER__DIRECTORY=str(ROOT / "schedules"),
        FLOWPLANE_WORKFLOWS__DIRECTORY=str(flows),
        FLOWPLANE_API__PORT=str(port),
    )
    container = build(load_settings(environ={k: v for k, v in env.items() if k.startswith("FLOWPLANE_")}))
    with Session(container.engine) as db, db.begin():
        for email, role in ((ADMIN, Role.ADMIN), (OPERATOR, Role.OPERATOR)):
            create_user(db, container.passwords, email=email, name=role.value, password=PASSWORD, role=role)
    api = start(["api"], directory, env, directory / "api.log")
    worker = start(["worker", "--concurrency", "2"], directory, env, directory / "worker.log")
    served = Server(f"http://127.0.0.1:{port}", directory, container, [api, worker])
    try:
        wait_until_serving(served.url, api, directory / "api.log")
        poll(lambda: "worker started" in (directory / "worker.log").read_text() or None, timeout=30,
             what="the worker to start")
        yield served
    finally:
        for process in served.processes:
            process.terminate()
        for process in served.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        container.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    # Per test, not per session: Playwright's sync API keeps an event loop running in this thread while
    # it is open, and under xdist other modules' tests (asyncio.run) share the thread between these.
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        yield launched
        launched.close()


def only_the_app(server: Server, refused: list[str]) -> Any:
    """A route handler that lets requests to the app through and refuses (and notes) any other origin's."""
    def route(handled: Any) -> None:
        if handled.request.url.startswith(f"{server.url}/"):
            handled.continue_()
        else:
            refused.append(handled.request.url)
            handled.abort()

    return route


def logged_in(browser: Any, server: Server, email: str) -> Any:
    context = browser.new_context(viewport=DESKTOP, base_url=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/dashboard")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/dashboard")
    return page


@pytest.fixture
def admin(browser: Any, server: Server) -> Iterator[Any]:
    """A page logged in as the admin; tests navigate it where they need."""
    page = logged_in(browser, server, ADMIN)
    yield page
    page.context.close()


@pytest.fixture(scope="session")
def registration_run(server: Server) -> str:
    """A user registered through the API and verified; the id of their registration run, once it finished."""
    response = httpx.post(f"{server.url}/api/users", json=new_user(name="Grace Hopper"), timeout=10)
    assert response.status_code == 201, response.text
    run_id = str(response.json()["workflow_run_id"])
    user = response.json()["user"]
    server.container.plane.publish("user.email_verified", {"user_id": user["id"], "email": user["email"],
                                                           "verified_at": "2026-12-02T12:00:00+00:00"})
    poll(lambda: (lambda d: d if d and d["status"] != "running" else None)(run_detail(server.container.engine, run_id)),
         timeout=30, what="the registration run to finish")
    return run_id


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
