"""`flowplane workflows diff`: what an edit changes, field by field, and where the runs pinned to the old version
stand; the old side a file or a stored version's hash."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from app.bootstrap import build
from app.config import Settings
from app.plane.envelope import Envelope
from app.workflows.changes import compare
from app.workflows.loader import load_text
from tests.cli import invoke
from tests.integration.workflows.conftest import start

ROOT = Path(__file__).resolve().parents[3]
TASKS = ["email.welcome", "email.verification_reminder", "users.expire", "users.record_onboarding"]
EVENTS = {"user.created": frozenset({"user_id", "email", "name"}), "user.email_verified": frozenset({"user_id"}),
          "user.verified": frozenset({"user_id", "email"}), "user.expired": frozenset({"user_id", "email"})}


def test_compare_names_steps_and_edges_added_removed_and_fields_changed() -> None:
    text = (ROOT / "workflows" / "user_registration.toml").read_text()
    edited = (text.replace('valid_for = "48h"', 'valid_for = "72h"')
              .replace('retry = { attempts = 8, backoff = "exponential", first = "2s", max = "10m", jitter = "full" }\n'
                       'payload = { user_id = "{{ input.user_id }}", email = "{{ input.email }}", name = "{{ input.'
                       'name }}", valid_for = "5d" }',
                       'retry = { attempts = 3 }\npayload = { user_id = "{{ input.user_id }}", email = "{{ input.email'
                       ' }}", name = "{{ input.name }}", valid_for = "5d" }')
              .replace('after = ["announce_verified"]', 'after = ["announce_verified", "announce"]'))
    edited = edited[:edited.index('[[steps]]\nid = "announce_expired"')] + edited[
        edited.index('[[steps]]\nid = "announce_verified"'):]
    old = load_text(text, "old.toml", tasks=TASKS, events=EVENTS)
    new = load_text(edited, "new.toml", tasks=TASKS, events=EVENTS)
    changes = compare(old, new)
    assert changes.removed == ("announce_expired",) and changes.added == ()
    assert changes.changed["welcome_email"] == (("payload.valid_for", "48h", "72h"),)
    assert ("retry.attempts", 8, 3) in changes.changed["remind"] and ("retry.max", "10m", None) in \
        changes.changed["remind"]
    assert changes.edges_added == (("announce", "record_onboarding"),)
    assert changes.edges_removed == (("expire", "announce_expired"),)
    assert compare(old, load_text(text + "\n# a comment\n", "same.toml", tasks=TASKS, events=EVENTS)).empty


@pytest.mark.parametrize("database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_diff_says_where_the_runs_in_flight_on_the_old_version_stand(
        make_settings: Callable[..., Settings], tmp_path: Path, database_url: str) -> None:
    directory = tmp_path / "workflows"
    directory.mkdir()
    shutil.copy(ROOT / "workflows" / "user_registration.toml", directory)
    container = build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory)))
    try:
        version = container.workflows.get("user_registration").version
        runs = [start(container, "user_registration", {"user_id": f"00000000-0000-4000-8000-00000000000{index}",
                                                       "email": f"u{index}@example.com", "name": "U"})
                for index in range(3)]
        for run_id in runs[:2]:  # their welcome mails went out: parked, waiting for the verification
            container.runner.step_succeeded(Envelope(kind="task", type="email.welcome", payload={}, run_id=run_id,
                                                     step_id="welcome_email"), {"message_id": "<m@example.com>"})
    finally:
        container.close()
    edited = tmp_path / "edited.toml"
    edited.write_text((directory / "user_registration.toml").read_text().replace('timeout = "48h"', 'timeout = "72h"'))
    env = {"FLOWPLANE_DATABASE__URL": database_url, "FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory)}
    for old in (str(directory / "user_registration.toml"), version[:10]):
        ran = invoke(["workflows", "diff", old, str(edited)], env, tmp_path)
        assert ran.returncode == 0, ran.stderr
        assert '  ~ step await_verification: timeout "48h" -> "72h"' in ran.stdout
        assert f"3 run(s) in flight on {version[:12]}; each finishes on it" in ran.stdout
        assert "       2  parked at await_verification (waiting for user.email_verified)" in ran.stdout
        assert "       1  at welcome_email (ready)" in ran.stdout
    as_json = json.loads(invoke(["workflows", "diff", "--json", version[:10], str(edited)], env, tmp_path).stdout)
    assert as_json["changed"] == {"await_verification": [{"field": "timeout", "old": "48h", "new": "72h"}]}
    unknown = invoke(["workflows", "diff", "abcdef", str(edited)], env, tmp_path)
    assert unknown.returncode == 1 and "neither a file nor the hash of one stored version" in unknown.stderr
