"""The Quickstart's promise, with real processes: `flowplane up` on a bare directory serves the API."""

import signal
import subprocess
from pathlib import Path

import httpx

from tests.e2e.processes import FLOWPLANE, environment, poll, start, wait_until_serving
from tests.servers import closed_port


def test_up_serves_the_api_on_the_embedded_default_and_stops_cleanly(tmp_path: Path) -> None:
    # Given an empty directory, no config file and no servers in the settings
    port = closed_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "up.log"
    process = start(["up"], tmp_path, environment(FLOWPLANE_API__PORT=str(port)), log)
    try:
        # When it comes up
        wait_until_serving(base, process, log)
        # Then a client registers, reads itself, logs out; the data lands in var/ on SQLite
        user = {"email": "first@example.com", "name": "First", "password": "a long enough password"}
        registered = httpx.post(f"{base}/api/users", json=user, timeout=10)
        assert registered.status_code == 201, registered.text
        token = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        assert httpx.get(f"{base}/api/users/me", headers=token).json()["email"] == "first@example.com"
        assert httpx.get(f"{base}/ready").json() == {"status": "ready", "checks": {"database": "ok",
                                                                               "registration_workflow": "ok"}}
        assert httpx.delete(f"{base}/api/sessions/current", headers=token).status_code == 204
        assert httpx.get(f"{base}/api/users/me", headers=token).status_code == 401
        assert (tmp_path / "var" / "flowplane.db").exists()
        # And the worker `up` started delivers the welcome mail to var/mail/
        mails = poll(lambda: list((tmp_path / "var" / "mail").glob("*.eml")) or None, timeout=30,
                     what="the welcome mail in var/mail")
        assert "To: first@example.com" in mails[0].read_text()
        # And the consumers `up` started apply user.created on the embedded transport
        audit = tmp_path / "var" / "flowplane.db"
        poll(lambda: _audited(audit) or None, timeout=30, what="the audit consumer")
        # And `just demo` walks a registration through all of it
        demo = subprocess.run([FLOWPLANE, "demo", "--url", base], cwd=tmp_path, capture_output=True, text=True,
                              env=environment(FLOWPLANE_API__PORT=str(port)), timeout=120)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "user.created applied by: analytics, audit, crm" in demo.stdout
        assert "user_registration succeeded" in demo.stdout and "stopped what the demo started" not in demo.stdout
    finally:
        # And Ctrl-C stops the supervisor and its children gracefully
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=30)
    assert status == 0, log.read_text()
    output = log.read_text()
    assert "api stopped" in output and "worker stopped" in output and "consumers stopped" in output
    assert "scheduler stopped" in output and "scheduler started" in output
    assert "stopped with status" not in output
    assert "a long enough password" not in output and registered.json()["access_token"] not in output


def test_demo_starts_what_it_needs_shows_the_run_and_stops_it(tmp_path: Path) -> None:
    port = closed_port()
    demo = subprocess.run([FLOWPLANE, "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env=environment(FLOWPLANE_API__PORT=str(port)))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert any(line.startswith("run ") and "user_registration succeeded in" in line for line in lines)
    timeline = next(index for index, line in enumerate(lines) if line.startswith("run "))
    assert lines[timeline + 1].split()[3:] == ["ready", "at", "queued", "took", "status"]
    steps: dict[str, str] = {}
    for line in lines[timeline + 2:]:
        if not line.startswith("  ") or line.startswith("  ok "):
            break
        steps[line.split()[0]] = line
    assert "(attempts: 1)" in steps["welcome_email"] and "attempts" not in steps["announce"]
    verified_path = {"announce", "welcome_email", "await_verification", "announce_verified", "record_onboarding"}
    assert set(steps) == verified_path | {"remind", "await_after_reminder", "expire", "announce_expired"}
    assert all(("succeeded" if step in verified_path else "skipped") in line for step, line in steps.items())
    assert "ok   verification link: in the mail to" in demo.stdout and "/api/users/verify: demo-" in demo.stdout
    assert f"read it in {tmp_path.resolve()}/var/mail/" in demo.stdout
    assert "stopped what the demo started" in demo.stdout
    assert "Finished server process" in (tmp_path / "var" / "demo-up.log").read_text()
    with httpx.Client() as client:  # nothing is left serving
        try:
            client.get(f"http://127.0.0.1:{port}/health", timeout=1)
            raise AssertionError("the API the demo started is still serving")
        except httpx.ConnectError:
            pass


def test_an_admin_made_on_the_command_line_can_log_in(tmp_path: Path) -> None:
    port = closed_port()
    env = environment(FLOWPLANE_API__PORT=str(port), FLOWPLANE_API__FORWARDED_ALLOW_IPS="*",
                      FLOWPLANE_AUTH__LOGIN_RATE_LIMIT="2/hour")
    created = subprocess.run([FLOWPLANE, "users", "create", "Root@Example.com", "--role", "admin"], cwd=tmp_path,
                             env=env, input="an admin password\n", capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    assert "created admin root@example.com" in created.stdout
    again = subprocess.run([FLOWPLANE, "users", "create", "root@example.com"], cwd=tmp_path, env=env,
                           input="an admin password\n", capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert "already exists" in again.stderr

    log = tmp_path / "api.log"
    process = start(["api"], tmp_path, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log)
        login = {"email": "root@example.com", "password": "an admin password"}
        session = httpx.post(f"{base}/api/sessions", json=login)
        assert session.status_code == 201
        me = httpx.get(f"{base}/api/users/me", headers={"Authorization": f"Bearer {session.json()['access_token']}"})
        assert me.json()["role"] == "admin"
        # Rate limits follow the client address a trusted proxy reports
        assert httpx.post(f"{base}/api/sessions", json=login).status_code == 201
        assert httpx.post(f"{base}/api/sessions", json=login).status_code == 429
        other = httpx.post(f"{base}/api/sessions", json=login, headers={"X-Forwarded-For": "198.51.100.20"})
        assert other.status_code == 201
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit says why it stopped
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()


def test_a_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run([FLOWPLANE, "api"], cwd=tmp_path, env=environment(FLOWPLANE_API__PORT="http"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "flowplane: invalid setting api.port (from FLOWPLANE_API__PORT): "
        "Input should be a valid integer, unable to parse string as an integer, got 'http'"
    ]


def _audited(database: Path) -> bool:
    import sqlite3

    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from audit_log").fetchone()[0] == 1
