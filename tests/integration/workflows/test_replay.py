"""Replay and export-scenario on recorded runs: 500 registration runs recorded by the runner itself (the code the
workers run: outcomes, published events waking waits, time-outs fired by the sweep under a moved clock), replayed
against the unchanged file (all identical) and against an edited condition (each affected run named, at its step);
a recorded run exported as a scenario passes `flowplane workflows test`."""

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from app.bootstrap import Container, build
from app.config import Settings
from app.db.models import StepRun
from app.plane.envelope import Envelope
from tests.cli import invoke
from tests.integration.workflows.conftest import start
from tests.integration.workflows.test_waits import MovingClock

ROOT = Path(__file__).resolve().parents[3]
RUNS = 500
KINDS = ("verified", "reminded", "expired", "retried")  # run i is KINDS[i % 4]


@pytest.fixture
def recorded(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[tuple[Container, dict[str, str]]]:
    directory = tmp_path / "workflows"
    directory.mkdir()
    shutil.copy(ROOT / "workflows" / "user_registration.toml", directory)
    clock = MovingClock()
    container = build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory)), clock=clock)
    kinds: dict[str, str] = {}
    try:
        for index in range(RUNS):
            user = f"00000000-0000-4000-8000-{index:012d}"
            run_id = start(container, "user_registration", {"user_id": user, "email": f"u{index}@example.com",
                                                            "name": f"User {index}"})
            kinds[run_id] = KINDS[index % 4]
        _work(container, kinds)  # the welcome mails
        clock.advance(timedelta(hours=30))
        _verify(container, [run for run, kind in kinds.items() if kind in ("verified", "retried")])
        _work(container, kinds)  # record_onboarding
        clock.advance(timedelta(hours=19))
        container.waits.fire_due(batch=1000, budget=60)  # 48 h are over: the others are reminded
        _work(container, kinds)
        clock.advance(timedelta(hours=11))
        _verify(container, [run for run, kind in kinds.items() if kind == "reminded"])
        _work(container, kinds)
        clock.advance(timedelta(days=5))
        container.waits.fire_due(batch=1000, budget=60)  # the week is over: the rest expire
        _work(container, kinds)
        yield container, kinds
    finally:
        container.close()


def _work(container: Container, kinds: dict[str, str]) -> None:
    """What workers would do with every task step ready now: the `retried` runs' welcome mail fails twice."""
    with Session(container.engine) as db:
        ready = db.exec(select(StepRun).where(col(StepRun.status) == "ready", col(StepRun.kind) == "task")).all()
    for row in ready:
        attempts = 3 if kinds[row.run_id] == "retried" and row.step_id == "welcome_email" else 1
        for attempt in range(1, attempts + 1):
            envelope = Envelope(kind="task", type=row.target, payload={}, run_id=row.run_id, step_id=row.step_id,
                                attempt=attempt)
            if attempt < attempts:
                container.runner.step_retrying(envelope, "SMTPServerDisconnected: try again")
                continue
            output = {"email.welcome": {"message_id": f"<{row.run_id}@example.com>"},
                      "users.expire": {"expired": True}}.get(row.target)
            container.runner.step_succeeded(envelope, output)


def _verify(container: Container, run_ids: list[str]) -> None:
    for run_id in run_ids:
        run_input = json.loads(_input(container, run_id))
        with Session(container.engine, expire_on_commit=False) as db, db.begin():
            container.plane.publish("user.email_verified", {"user_id": run_input["user_id"],
                                                            "email": run_input["email"],
                                                            "verified_at": container.clock.now().isoformat()},
                                    session=db)


def _input(container: Container, run_id: str) -> str:
    from app.db.models import WorkflowRun

    with Session(container.engine) as db:
        run = db.get(WorkflowRun, run_id)
        assert run is not None
        return run.input


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replay_of_500_runs_is_identical_unchanged_names_each_run_an_edit_changes_and_export_makes_tests(
        recorded: tuple[Container, dict[str, str]], tmp_path: Path, database_url: str) -> None:
    container, kinds = recorded
    statuses = {detail["status"] for detail in (_detail(container, run) for run in kinds)}
    assert statuses == {"succeeded"}  # every kind came to its end
    env = {"FLOWPLANE_DATABASE__URL": database_url, "FLOWPLANE_WORKFLOWS__DIRECTORY": str(tmp_path / "workflows")}
    unchanged = tmp_path / "workflows" / "user_registration.toml"

    same = invoke(["workflows", "replay", "--against", str(unchanged), "--runs", str(RUNS)], env, tmp_path)
    assert same.returncode == 0, same.stderr
    assert same.stdout.splitlines()[-1].endswith(f": {RUNS} identical, 0 diverge"), same.stdout

    edited = tmp_path / "edited.toml"
    edited.write_text(unchanged.read_text().replace('when = "steps.expire.output.expired == true"',
                                                    'when = "steps.expire.output.expired == false"'))
    changed = invoke(["workflows", "replay", "--against", str(edited), "--runs", str(RUNS)], env, tmp_path)
    assert changed.returncode == 0, changed.stderr
    expired = {run for run, kind in kinds.items() if kind == "expired"}
    lines = [line for line in changed.stdout.splitlines() if "diverges at" in line]
    assert {line.split()[0] for line in lines} == expired
    assert all("diverges at step announce_expired: its condition (steps.expire.output.expired == false) "
               "succeeded → skipped" in line for line in lines), lines[:3]
    assert changed.stdout.splitlines()[-1].endswith(
        f": {RUNS - len(expired)} identical, {len(expired)} diverge (announce_expired: {len(expired)})")

    payload = tmp_path / "payload.toml"
    payload.write_text(unchanged.read_text().replace('valid_for = "48h"', 'valid_for = "72h"'))
    one = next(iter(kinds))
    rendered = invoke(["workflows", "replay", "--against", str(payload), one], env, tmp_path)
    assert f'{one}  diverges at step welcome_email: its payload renders differently: valid_for "48h" → "72h"' in \
        rendered.stdout, rendered.stdout

    # Each kind of run, exported, is a scenario that passes against the file it ran (a regression test).
    for kind in KINDS:
        run_id = next(run for run, each in kinds.items() if each == kind)
        exported = invoke(["workflows", "export-scenario", run_id], env, tmp_path)
        assert exported.returncode == 0, exported.stderr
        assert exported.stderr == ""  # the simulation ends every step as recorded
    tested = invoke(["workflows", "test"], env, tmp_path)
    assert tested.returncode == 0, tested.stdout
    assert "4 scenario(s), 0 failed" in tested.stdout
    retried = next(run for run, each in kinds.items() if each == "retried")
    text = (tmp_path / "workflows" / "tests" / f"user_registration_{retried[:8]}.toml").read_text()
    assert "[steps.welcome_email]\nfail = 2\n" in text and 'attempts = { "welcome_email" = 3 }' in text


def _detail(container: Container, run_id: str) -> dict[str, object]:
    from app.workflows.views import run_detail

    detail = run_detail(container.engine, run_id)
    assert detail is not None
    return detail
