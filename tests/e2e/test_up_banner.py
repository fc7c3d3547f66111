"""`flowplane up` tells a newcomer where everything is, and how to get into the dashboard while nobody can."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.processes import FLOWPLANE, environment, poll, start
from tests.servers import closed_port

ROOT = Path(__file__).resolve().parents[2]
JUST = str(Path(sys.executable).with_name("just"))


def _up_until_banner(directory: Path, port: int, log: Path, *, through_just: bool = False) -> str:
    env = environment(FLOWPLANE_API__PORT=str(port))
    if through_just:  # as a newcomer runs it, in a process group of its own that Ctrl-C signals as a whole
        with log.open("wb") as sink:
            process = subprocess.Popen([JUST, "--justfile", str(ROOT / "justfile"), "--working-directory",
                                        str(directory), "up"], cwd=directory, env=env, stdout=sink,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    else:
        process = start(["up"], directory, env, log)
    try:
        def banner() -> str | None:
            if process.poll() is not None:
                raise AssertionError(f"up exited with {process.returncode}:\n{log.read_text()}")
            text = log.read_text()
            return text if "Ctrl-C stops every process." in text else None

        return poll(banner, timeout=60, what="the banner of flowplane up")
    finally:
        if through_just:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)  # just passes on the signal's 130
        else:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0, log.read_text()


def test_up_prints_the_urls_and_the_admin_hint_until_an_admin_exists(tmp_path: Path) -> None:
    port = closed_port()
    base = f"http://127.0.0.1:{port}"
    # Given a bare directory: no admin yet
    first = _up_until_banner(tmp_path, port, tmp_path / "first.log")
    assert "Flowplane is up." in first
    for line in (f"API        {base}/api", f"API docs   {base}/schema", f"{base}/schema/swagger",
                 f"Dashboard  {base}/dashboard"):
        assert line in first
    assert "No admin account exists yet" in first
    assert "just admin EMAIL" in first and "flowplane users create EMAIL --role admin" in first

    # When the command it names creates one
    created = subprocess.run([FLOWPLANE, "users", "create", "boss@example.com", "--role", "admin"], cwd=tmp_path,
                             input="a long enough password\n", capture_output=True, text=True, timeout=60,
                             env=environment(FLOWPLANE_API__PORT=str(port)))
    assert created.returncode == 0, created.stderr
    assert "created admin boss@example.com" in created.stdout

    # Then the next `just up` still shows where things are, without the hint, and Ctrl-C stops it without an error
    second = _up_until_banner(tmp_path, port, tmp_path / "second.log", through_just=True)
    assert f"Dashboard  {base}/dashboard" in second
    assert "admin account" not in second and "just admin" not in second
    assert "a long enough password" not in second
    stopped = (tmp_path / "second.log").read_text()
    assert "consumers stopped" in stopped and '"level": "error"' not in stopped, stopped
    assert "error: recipe" not in stopped, stopped  # just's own complaint about the signal


def test_the_banner_says_when_the_api_did_not_answer_and_shows_a_wildcard_bind_as_the_loopback() -> None:
    # A wildcard bind is shown as the loopback a browser here can reach; an unknown admin state hedges
    from app.cli import banner
    from app.config import Settings

    settings = Settings.model_validate({"api": {"host": "0.0.0.0", "port": closed_port()}})  # noqa: S104
    text = banner.banner(settings, has_admin=None, serving=False)
    assert f"http://127.0.0.1:{settings.api.port}/dashboard" in text
    assert "did not answer" in text and "If no admin account exists yet" in text
