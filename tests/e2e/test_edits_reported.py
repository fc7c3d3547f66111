"""An edit of a workflow file is reported by every process that serves workflows within a second or so,
with nothing else happening: no request, no task, no tick needs to touch the workflow first."""

import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.processes import FLOWPLANE, environment, poll, start, wait_until_serving
from tests.servers import closed_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_rejected_then_a_fixed_workflow_edit_is_logged_by_the_api_and_the_worker_within_3_s(
        tmp_path: Path) -> None:
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    shutil.copytree(ROOT / "schedules", tmp_path / "schedules")
    port = closed_port()
    env = environment(FLOWPLANE_API__PORT=str(port), FLOWPLANE_WORKFLOWS__DIRECTORY=str(tmp_path / "workflows"))
    subprocess.run([FLOWPLANE, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    api = start(["api"], tmp_path, env, api_log)
    worker = start(["worker", "--concurrency", "1"], tmp_path, env, worker_log)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", api, api_log)
        poll(lambda: "worker started" in worker_log.read_text() or None, timeout=30, what="the worker to start")
        poll(lambda: all("workflow user_registration loaded" in log.read_text() for log in (api_log, worker_log))
             or None, timeout=10, what="both processes to load the workflows")
        definition = tmp_path / "workflows" / "user_registration.toml"
        original = definition.read_text()

        # When a developer saves an edit that does not load, and nothing else happens
        definition.write_text(original.replace('name = "user_registration"', 'name = "user registration"', 1))
        edited = time.monotonic()
        for log in (api_log, worker_log):
            poll(lambda log=log: "edit rejected" in log.read_text() or None, timeout=3,  # type: ignore[misc]
                 what=f"the rejection in {log.name}")
        assert time.monotonic() - edited < 3
        rejected = api_log.read_text()
        assert "user_registration.toml:" in rejected and "keeps serving" in rejected

        # Then fixing it is reported too, once per process
        definition.write_text(original.replace("[[steps]]", "# a comment changes the version\n[[steps]]", 1))
        for log in (api_log, worker_log):
            poll(lambda log=log: "workflow user_registration reloaded" in log.read_text() or None,  # type: ignore[misc]
                 timeout=3, what=f"the applied edit in {log.name}")
        for log in (api_log, worker_log):
            assert log.read_text().count("edit rejected") == 1, log.read_text()
    finally:
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        for process in (api, worker):
            process.wait(timeout=30)
